import { createHash, generateKeyPairSync } from 'node:crypto';
import { parseCidr } from './cidr';
import type { AzurePlacement, Profile } from './membership';

/**
 * The pure side of provisioning a bank: what is built, in which order, under which names. The names are
 * derived from ids only, so a retried or replayed step addresses the same resources instead of copies.
 */

/** The steps a request's status lists, in the order they start. */
export const PROVISIONING_STEPS = [
  'access',
  'network',
  'gateway',
  'vault',
  'certificate',
  'node',
  'peering',
  'activate',
] as const;
export type ProvisioningStep = (typeof PROVISIONING_STEPS)[number];

/** The templates in bicep/compiled/, one per deployment the platform runs. */
export type TemplateName =
  'member-network' | 'member-gateway' | 'member-vault' | 'member-node' | 'vpn-connection';

/** VM count and monitoring per cost profile (the scaling issue makes these configurable). */
export const PROFILE_SHAPE: Record<Profile, { capacity: number; monitoring: boolean }> = {
  Small: { capacity: 2, monitoring: false },
  Medium: { capacity: 7, monitoring: true },
  Large: { capacity: 15, monitoring: true },
};

export class PlanError extends Error {
  constructor(
    readonly code: 'PLAN.TOO_MANY_MEMBERS' | 'PLAN.ADDRESS_SPACE',
    message: string,
  ) {
    super(message);
    this.name = 'PlanError';
  }
}

/** The gateway SKUs the platform creates: both generation 2, so one resizes in place into the other. */
export const SMALL_GATEWAY_SKU = 'VpnGw2AZ';
export const LARGE_GATEWAY_SKU = 'VpnGw4AZ';
export type PlatformGatewaySku = typeof SMALL_GATEWAY_SKU | typeof LARGE_GATEWAY_SKU;

/**
 * Site-to-site tunnels a gateway SKU holds (DESIGN.md): VpnGw1–3 (AZ or not) 30, VpnGw4–5 100. Unknown
 * SKUs (Basic, legacy) count as 0, so anything that compares against them asks for a resize.
 */
export function tunnelLimit(sku: string): number {
  const m = /^VpnGw([1-5])(AZ)?$/.exec(sku);
  if (!m) return 0;
  return Number(m[1]) <= 3 ? 30 : 100;
}

/**
 * A full mesh needs N−1 tunnels per gateway. Every gateway the platform creates is generation 2
 * (VpnGw2AZ, 30 tunnels; VpnGw4AZ, 100), because Azure resizes a gateway in place only within its
 * generation: a Gen1 VpnGw1AZ could never grow into a VpnGw4AZ without being deleted and rebuilt.
 * Beyond 101 members the mesh must become hub and spoke, which this platform does not build, so the
 * plan refuses rather than deploying a gateway that cannot hold its tunnels.
 */
export function gatewaySkuFor(memberCountAfterJoin: number): PlatformGatewaySku {
  const tunnels = memberCountAfterJoin - 1;
  if (tunnels <= tunnelLimit(SMALL_GATEWAY_SKU)) return SMALL_GATEWAY_SKU;
  if (tunnels <= tunnelLimit(LARGE_GATEWAY_SKU)) return LARGE_GATEWAY_SKU;
  throw new PlanError(
    'PLAN.TOO_MANY_MEMBERS',
    `A full VPN mesh of ${memberCountAfterJoin} members needs ${tunnels} tunnels per gateway; the largest ` +
      'gateway holds 100. The consortium needs a hub-and-spoke topology (Virtual WAN) first.',
  );
}

/**
 * Whether an existing gateway of `current` SKU must be resized to hold the tunnels `required` brings:
 * only when it holds fewer (a bigger gateway is never shrunk; an unreadable SKU counts as too small).
 */
export function needsResize(current: string | undefined, required: string): boolean {
  return tunnelLimit(current ?? '') < tunnelLimit(required);
}

function formatAddress(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * The node subnet is the first half of the bank's space; the GatewaySubnet is its last /27 (the size
 * Microsoft recommends), which for the smallest allowed space, a /26, is exactly the second half.
 */
export function subnetsOf(addressSpace: string): { nodeSubnetPrefix: string; gatewaySubnetPrefix: string } {
  const cidr = parseCidr(addressSpace);
  if (cidr.prefix > 26)
    throw new PlanError('PLAN.ADDRESS_SPACE', `${addressSpace} is too small: a /26 or larger is needed.`);
  const nodePrefix = cidr.prefix + 1;
  const gatewayBase = (cidr.last - 31) >>> 0;
  return {
    nodeSubnetPrefix: `${formatAddress(cidr.base)}/${nodePrefix}`,
    gatewaySubnetPrefix: `${formatAddress(gatewayBase)}/27`,
  };
}

/** Resource names the templates give a bank's resources (bicep/README.md). */
export function bankResourceNames(bankId: string) {
  return {
    nsg: `nsg-${bankId}`,
    vnet: `vnet-${bankId}`,
    gateway: `vgw-${bankId}`,
    gatewayIp: `pip-vgw-${bankId}`,
    natGateway: `natgw-${bankId}`,
    natGatewayIp: `pip-natgw-${bankId}`,
    loadBalancer: `lb-${bankId}`,
    identity: `id-${bankId}-node`,
    scaleSet: `vmss-${bankId}`,
    certificate: 'corda-node-ca',
  };
}

export function resourceGroupId(p: Pick<AzurePlacement, 'subscriptionId' | 'resourceGroup'>): string {
  return `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}`;
}

export function gatewayIdOf(bankId: string, p: Pick<AzurePlacement, 'subscriptionId' | 'resourceGroup'>) {
  return `${resourceGroupId(p)}/providers/Microsoft.Network/virtualNetworkGateways/${bankResourceNames(bankId).gateway}`;
}

export function connectionName(from: string, to: string): string {
  return `cn-${from}-to-${to}`;
}

export function connectionIdOf(
  from: string,
  to: string,
  p: Pick<AzurePlacement, 'subscriptionId' | 'resourceGroup'>,
) {
  return `${resourceGroupId(p)}/providers/Microsoft.Network/connections/${connectionName(from, to)}`;
}

/** The rule on a member's NSG that admits a later joiner's Corda P2P traffic. */
export function p2pRuleName(joinerId: string): string {
  return `corda-p2p-${joinerId}`;
}

/**
 * Each bank has a consortium-wide slot number; a joiner's rule sits at 300 + slot on every member's NSG,
 * so two joiners never collide on a priority, and 4000 (the deny-internet rule) stays last.
 */
export function p2pRulePriority(slot: number): number {
  const priority = 300 + slot;
  if (!Number.isInteger(slot) || slot < 0 || priority >= 4000)
    throw new PlanError('PLAN.TOO_MANY_MEMBERS', `No NSG priority is left for slot ${slot}.`);
  return priority;
}

function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * ARM deployment names: at most 64 characters, derived from the request so that every retry and replay
 * addresses the same deployment (ARM treats a second PUT of the same name as a redeploy, not a copy).
 */
export function deploymentName(requestId: string, part: string): string {
  const name = `tn-${shortHash(requestId, 10)}-${part}`;
  return name.length <= 64 ? name : `${name.slice(0, 51)}-${shortHash(name, 12)}`;
}

/** The Key Vault secret holding the pre-shared key of the tunnel between two banks (either order). */
export function sharedKeySecretName(a: string, b: string): string {
  const [x, y] = [a, b].sort();
  return `vpn-psk-${x}--${y}`;
}

/** A certificate serial (positive, 16 bytes) fixed by the request, so re-signing after a replay matches. */
export function certificateSerial(requestId: string, generation: number): string {
  const hex = shortHash(`${requestId}:${generation}`, 32);
  return (parseInt(hex[0]!, 16) & 0x7).toString(16) + hex.slice(1);
}

// ---------------------------------------------------------------- the plan an orchestration carries

/** A member the new bank peers with. */
export interface Peer {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  addressSpace: string;
  region: string;
}

/**
 * An ACTIVE member whose gateway is too small for the consortium after the join. `requestId` is the one
 * its gateway was built under (`founder:<id>` for a founder), so the resize keeps the gateway's tags.
 */
export interface ResizePeer extends Peer {
  requestId: string;
  /** The SKU the plan read from Azure (absent when the gateway could not be read). */
  fromSku?: string;
}

/**
 * Everything the provisioning orchestration needs, computed once by an activity (the orchestrator may
 * not read settings or storage). Holds no secret: shared keys are fetched by the activity that deploys
 * a connection, so they never enter orchestration history.
 */
export interface ProvisionPlan {
  requestId: string;
  /** Bumped by each retry; part of sub-orchestration ids so a retry never collides with the last run. */
  attempt: number;
  bankId: string;
  legalName: string;
  profile: Profile;
  placement: AzurePlacement;
  slot: number;
  gatewaySku: string;
  peers: Peer[];
  /**
   * Members whose gateways the gateway step resizes to `gatewaySku` beside the new one. Present (maybe
   * empty) on every plan made now; plans made before have none, and their branches add no resize.
   */
  resize?: ResizePeer[];
  dryRun: boolean;
  pollMs: number;
  /** ISO 8601 duration a failed run waits for `retry` before it compensates. */
  retryWindow: string;
  /** Outputs of steps that already succeeded (an earlier attempt): a retry resumes after them. */
  done: Partial<Record<ProvisioningStep, Record<string, unknown>>>;
  /** Set when the plan itself cannot be carried out (too many members for a full mesh). */
  blocked?: { code: string; message: string };
}

export function networkParameters(plan: ProvisionPlan): Record<string, unknown> {
  const subnets = subnetsOf(plan.placement.addressSpace);
  return {
    bankId: plan.bankId,
    location: plan.placement.region,
    addressSpace: plan.placement.addressSpace,
    nodeSubnetPrefix: subnets.nodeSubnetPrefix,
    gatewaySubnetPrefix: subnets.gatewaySubnetPrefix,
    memberAddressSpaces: plan.peers.map((p) => p.addressSpace),
    rpcSourceRanges: [plan.placement.addressSpace],
    tags: tagsFor(plan),
  };
}

export function gatewayParameters(plan: ProvisionPlan): Record<string, unknown> {
  return {
    bankId: plan.bankId,
    location: plan.placement.region,
    vnetName: bankResourceNames(plan.bankId).vnet,
    gatewaySku: plan.gatewaySku,
    tags: tagsFor(plan),
  };
}

/**
 * A member's gateway as `gatewayParameters` built it when the member joined, with the SKU the consortium
 * needs now: ARM's incremental PUT of the same template with a bigger `sku` resizes it in place.
 */
export function peerGatewayParameters(peer: ResizePeer, gatewaySku: string): Record<string, unknown> {
  return {
    bankId: peer.id,
    location: peer.region,
    vnetName: bankResourceNames(peer.id).vnet,
    gatewaySku,
    tags: { 'trustnet-member': peer.id, 'trustnet-request': peer.requestId },
  };
}

/** The deployment part naming one member's resize (under the joiner's request id). */
export function resizeDeploymentPart(peerId: string): string {
  return `gw-resize-${peerId}`;
}

export function vaultParameters(
  plan: ProvisionPlan,
  network: Record<string, unknown>,
  platformPrincipalId: string,
): Record<string, unknown> {
  return {
    bankId: plan.bankId,
    location: plan.placement.region,
    tenantId: plan.placement.tenantId,
    platformPrincipalId,
    nodeSubnetId: network['nodeSubnetId'],
    tags: tagsFor(plan),
  };
}

export function nodeParameters(
  plan: ProvisionPlan,
  network: Record<string, unknown>,
  vault: Record<string, unknown>,
  adminSshPublicKey: string,
): Record<string, unknown> {
  const shape = PROFILE_SHAPE[plan.profile];
  return {
    bankId: plan.bankId,
    location: plan.placement.region,
    capacity: shape.capacity,
    monitoring: shape.monitoring,
    nodeSubnetId: network['nodeSubnetId'],
    backendPoolId: vault['backendPoolId'],
    identityId: vault['identityId'],
    identityClientId: vault['identityClientId'],
    vaultName: vault['vaultName'],
    certificateName: bankResourceNames(plan.bankId).certificate,
    legalName: plan.legalName,
    adminSshPublicKey,
    tags: tagsFor(plan),
  };
}

export function connectionParameters(
  from: { id: string; region: string; gatewayId: string },
  to: { id: string; gatewayId: string },
  sharedKey: string,
): Record<string, unknown> {
  return {
    connectionName: connectionName(from.id, to.id),
    location: from.region,
    localGatewayId: from.gatewayId,
    remoteGatewayId: to.gatewayId,
    sharedKey,
    tags: { 'trustnet-link': `${from.id}->${to.id}` },
  };
}

function tagsFor(plan: ProvisionPlan): Record<string, string> {
  return { 'trustnet-member': plan.bankId, 'trustnet-request': plan.requestId };
}

// ---------------------------------------------------------------- teardown

// The API versions the templates in bicep/compiled/ deploy with.
const API = {
  compute: '2026-04-01',
  network: '2026-01-01',
  identity: '2024-11-30',
  vault: '2024-11-01',
};

export interface DeletableResource {
  id: string;
  apiVersion: string;
}

/**
 * What is deleted when a bank leaves or its onboarding is abandoned, in stages that respect Azure's
 * dependencies: connections before gateways, the scale set before the load balancer and subnet users
 * before the VNet, the VNet before the NSG attached to its subnet.
 */
export function teardownStages(
  bankId: string,
  p: Pick<AzurePlacement, 'subscriptionId' | 'resourceGroup'>,
  peers: Peer[],
  vaultName?: string,
): DeletableResource[][] {
  const rg = resourceGroupId(p);
  const n = bankResourceNames(bankId);
  const net = (type: string, name: string) => ({
    id: `${rg}/providers/Microsoft.Network/${type}/${name}`,
    apiVersion: API.network,
  });
  const links = peers.flatMap((peer) => [
    { id: connectionIdOf(bankId, peer.id, p), apiVersion: API.network },
    { id: connectionIdOf(peer.id, bankId, peer), apiVersion: API.network },
  ]);
  return [
    links,
    [
      {
        id: `${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${n.scaleSet}`,
        apiVersion: API.compute,
      },
    ],
    [net('loadBalancers', n.loadBalancer), net('virtualNetworkGateways', n.gateway)],
    [
      net('publicIPAddresses', n.gatewayIp),
      {
        id: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n.identity}`,
        apiVersion: API.identity,
      },
      ...(vaultName
        ? [{ id: `${rg}/providers/Microsoft.KeyVault/vaults/${vaultName}`, apiVersion: API.vault }]
        : []),
    ],
    [net('virtualNetworks', n.vnet)],
    // Both were attached to the node subnet, so they go once the VNet has.
    [net('networkSecurityGroups', n.nsg), net('natGateways', n.natGateway)],
    [net('publicIPAddresses', n.natGatewayIp)],
  ].filter((stage) => stage.length > 0);
}

/** An SSH public key nobody holds the private half of: break-glass access is Run Command, not SSH. */
export function throwawaySshPublicKey(): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const mpint = (b64: string) => {
    let bytes = Buffer.from(b64, 'base64url');
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return bytes;
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const field = (b: Buffer) => Buffer.concat([u32(b.length), b]);
  const blob = Buffer.concat([field(Buffer.from('ssh-rsa')), field(mpint(jwk.e)), field(mpint(jwk.n))]);
  return `ssh-rsa ${blob.toString('base64')} trustnet-no-login`;
}
