import { guid } from './template';
import type { ResourceView } from './template';

/**
 * What the local cloud knows about resource types: how long Azure takes to provision them, which
 * properties the provider computes (ids of sub-resources, URIs, principal ids, IP addresses), which
 * child types live inside their parent's body, and which properties are secrets never shown on GET.
 */

/** Realistic provisioning times in seconds (multiplied by the emulator's latencyFactor). */
export const DURATION_SECONDS: Readonly<Record<string, number>> = {
  'microsoft.resources/resourcegroups': 1,
  'microsoft.resources/deployments': 2,
  'microsoft.network/networksecuritygroups': 5,
  'microsoft.network/networksecuritygroups/securityrules': 5,
  'microsoft.network/virtualnetworks': 10,
  'microsoft.network/virtualnetworks/subnets': 5,
  'microsoft.network/publicipaddresses': 5,
  'microsoft.network/virtualnetworkgateways': 2700,
  'microsoft.network/connections': 120,
  'microsoft.network/loadbalancers': 10,
  'microsoft.keyvault/vaults': 20,
  'microsoft.managedidentity/userassignedidentities': 5,
  'microsoft.authorization/roleassignments': 5,
  'microsoft.compute/virtualmachinescalesets': 240,
  'microsoft.compute/virtualmachinescalesets/extensions': 60,
  'microsoft.managedservices/registrationdefinitions': 10,
  'microsoft.managedservices/registrationassignments': 10,
};

export const DEFAULT_DURATION_SECONDS = 5;

export function durationSeconds(type: string): number {
  return DURATION_SECONDS[type.toLowerCase()] ?? DEFAULT_DURATION_SECONDS;
}

/** Child types Azure keeps inside the parent's body (`properties.<key>`), with their own GET/PUT/DELETE. */
export const EMBEDDED_CHILDREN: Readonly<Record<string, string>> = {
  'microsoft.network/networksecuritygroups/securityrules': 'securityRules',
  'microsoft.network/virtualnetworks/subnets': 'subnets',
  'microsoft.network/loadbalancers/frontendipconfigurations': 'frontendIPConfigurations',
  'microsoft.network/loadbalancers/backendaddresspools': 'backendAddressPools',
  'microsoft.network/loadbalancers/probes': 'probes',
  'microsoft.network/loadbalancers/loadbalancingrules': 'loadBalancingRules',
  'microsoft.network/loadbalancers/inboundnatrules': 'inboundNatRules',
  'microsoft.network/loadbalancers/outboundrules': 'outboundRules',
  'microsoft.network/virtualnetworkgateways/ipconfigurations': 'ipConfigurations',
};

/** Named sub-resources whose ids the provider fills in (`<resource id>/<key>/<name>`). */
const SUB_RESOURCE_KEYS = [
  'securityRules',
  'subnets',
  'ipConfigurations',
  'frontendIPConfigurations',
  'backendAddressPools',
  'probes',
  'loadBalancingRules',
  'inboundNatRules',
  'outboundRules',
];

/** Write-only properties: kept for the emulator's own checks, never returned. */
const SECRET_PROPERTIES: Readonly<Record<string, string[]>> = {
  'microsoft.network/connections': ['sharedKey'],
  'microsoft.compute/virtualmachinescalesets': [],
};

export interface StoredResource {
  id: string;
  type: string;
  name: string;
  apiVersion?: string;
  subscriptionId: string;
  resourceGroup?: string;
  location?: string;
  properties: Record<string, unknown>;
  sku?: unknown;
  kind?: unknown;
  identity?: unknown;
  tags?: Record<string, string>;
  zones?: unknown;
  plan?: unknown;
  /** When GET first finds it (a deployment creates resources as it reaches them). */
  visibleAt: number;
  /** When its current provisioning finishes. */
  readyAt: number;
  /** Set by DELETE: it shows `Deleting` from `deletingFrom` and is gone at `deleteAt`. */
  deletingFrom?: number;
  deleteAt?: number;
  /** Embedded children's own provisioning ends, by lower-cased `<key>/<name>`. */
  childReadyAt?: Record<string, number>;
  /** The deployment that last wrote it, if any. */
  deployment?: string;
  /** Private addresses the provider gave dynamic IP configurations, by lower-cased `<key>/<name>`. */
  privateIps?: Record<string, string>;
  etagSeq: number;
}

/** Other resources a view needs (a connection's status depends on the far end). */
export interface ViewContext {
  now: number;
  tenantOf: (subscriptionId: string) => string;
  peers?: StoredResource[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function exists(r: StoredResource | undefined, now: number): r is StoredResource {
  return !!r && r.visibleAt <= now && (r.deleteAt === undefined || now < r.deleteAt);
}

export function provisioningState(r: StoredResource, now: number): string {
  if (r.deletingFrom !== undefined && now >= r.deletingFrom) return 'Deleting';
  return now < r.readyAt ? 'Updating' : 'Succeeded';
}

function ipFor(id: string): string {
  const g = guid('ip', id.toLowerCase()).replace(/-/g, '');
  const b = (i: number) => parseInt(g.slice(i * 2, i * 2 + 2), 16);
  return `20.${b(0) % 200}.${b(1)}.${(b(2) % 253) + 1}`;
}

export function principalIdFor(id: string): string {
  return guid('principal', id.toLowerCase());
}

export function clientIdFor(id: string): string {
  return guid('client', id.toLowerCase());
}

function identityView(identity: unknown, id: string, tenantId: string): unknown {
  if (!isObj(identity)) return identity;
  const out: Obj = { ...identity };
  const type = String(identity['type'] ?? '');
  if (/systemassigned/i.test(type)) {
    out['principalId'] = principalIdFor(`${id}/identity`);
    out['tenantId'] = tenantId;
  }
  const ua = identity['userAssignedIdentities'];
  if (isObj(ua))
    out['userAssignedIdentities'] = Object.fromEntries(
      Object.keys(ua).map((uid) => [uid, { principalId: principalIdFor(uid), clientId: clientIdFor(uid) }]),
    );
  return out;
}

function withSubResourceIds(r: StoredResource, props: Obj, now: number): Obj {
  const out: Obj = { ...props };
  const lowerType = r.type.toLowerCase();
  for (const key of SUB_RESOURCE_KEYS) {
    const list = props[key];
    if (!Array.isArray(list)) continue;
    const embedded = Object.entries(EMBEDDED_CHILDREN).some(
      ([t, k]) => k === key && t.startsWith(`${lowerType}/`),
    );
    out[key] = list.map((item) => {
      if (!isObj(item) || typeof item['name'] !== 'string') return item;
      const itemKey = `${key}/${item['name']}`.toLowerCase();
      const readyAt = r.childReadyAt?.[itemKey] ?? r.readyAt;
      const itemProps: Obj = isObj(item['properties']) ? { ...item['properties'] } : {};
      const ip = r.privateIps?.[itemKey];
      if (ip && itemProps['privateIPAddress'] === undefined) itemProps['privateIPAddress'] = ip;
      return {
        ...item,
        id: `${r.id}/${key}/${item['name']}`,
        ...(embedded ? { type: `${r.type}/${key}` } : {}),
        etag: `W/"${r.etagSeq}"`,
        properties: { ...itemProps, provisioningState: now < readyAt ? 'Updating' : 'Succeeded' },
      };
    });
  }
  return out;
}

function sameId(a: unknown, b: string): boolean {
  return isObj(a) && typeof a['id'] === 'string' && a['id'].toLowerCase() === b.toLowerCase();
}

/** A VNet-to-VNet connection is up once the far gateway has a connection back with the same key. */
export function connectionStatus(r: StoredResource, ctx: ViewContext): string {
  const now = ctx.now;
  const g1 = r.properties['virtualNetworkGateway1'];
  const g2 = r.properties['virtualNetworkGateway2'];
  if (!isObj(g1) || !isObj(g2) || typeof g1['id'] !== 'string' || typeof g2['id'] !== 'string')
    return 'Unknown';
  if (now < r.readyAt) return 'Connecting';
  const peers = ctx.peers ?? [];
  const ready = (id: string) =>
    peers.some((p) => p.id.toLowerCase() === id.toLowerCase() && exists(p, now) && now >= p.readyAt);
  if (!ready(g1['id']) || !ready(g2['id'])) return 'Connecting';
  const back = peers.find(
    (p) =>
      p.type.toLowerCase() === 'microsoft.network/connections' &&
      p.id.toLowerCase() !== r.id.toLowerCase() &&
      exists(p, now) &&
      p.deletingFrom === undefined &&
      sameId(p.properties['virtualNetworkGateway1'], g2['id'] as string) &&
      sameId(p.properties['virtualNetworkGateway2'], g1['id'] as string),
  );
  if (!back || now < back.readyAt) return 'Connecting';
  const k1 = r.properties['sharedKey'];
  const k2 = back.properties['sharedKey'];
  if (k1 !== undefined && k2 !== undefined && k1 !== k2) return 'NotConnected';
  return 'Connected';
}

/** The resource as ARM's GET returns it. */
export function viewOf(r: StoredResource, ctx: ViewContext): ResourceView & { etag: string } {
  const lowerType = r.type.toLowerCase();
  const tenantId = ctx.tenantOf(r.subscriptionId);
  let props: Obj = { ...r.properties };
  for (const secret of SECRET_PROPERTIES[lowerType] ?? []) delete props[secret];
  props = withSubResourceIds(r, props, ctx.now);
  const guidOf = (what: string) => guid(what, r.id.toLowerCase());
  switch (lowerType) {
    case 'microsoft.network/networksecuritygroups':
    case 'microsoft.network/virtualnetworks':
    case 'microsoft.network/loadbalancers':
    case 'microsoft.network/virtualnetworkgateways':
      props['resourceGuid'] = guidOf('resourceGuid');
      break;
    case 'microsoft.network/publicipaddresses':
      props['resourceGuid'] = guidOf('resourceGuid');
      props['ipAddress'] = ipFor(r.id);
      break;
    case 'microsoft.network/connections':
      props['resourceGuid'] = guidOf('resourceGuid');
      props['connectionStatus'] = connectionStatus(r, ctx);
      props['ingressBytesTransferred'] = 0;
      props['egressBytesTransferred'] = 0;
      break;
    case 'microsoft.keyvault/vaults':
      props['vaultUri'] = `https://${r.name}.vault.azure.net/`;
      break;
    case 'microsoft.managedidentity/userassignedidentities':
      props['principalId'] = principalIdFor(r.id);
      props['clientId'] = clientIdFor(r.id);
      props['tenantId'] = tenantId;
      break;
    case 'microsoft.compute/virtualmachinescalesets':
      props['uniqueId'] = guidOf('uniqueId');
      props['timeCreated'] = new Date(r.visibleAt).toISOString();
      break;
  }
  props['provisioningState'] = provisioningState(r, ctx.now);
  const out: ResourceView & { etag: string } = {
    id: r.id,
    name: r.name.split('/').pop()!,
    type: r.type,
    etag: `W/"${r.etagSeq}"`,
    properties: props,
  };
  if (r.location !== undefined) out.location = r.location;
  if (r.tags !== undefined) out.tags = r.tags;
  if (r.sku !== undefined) out.sku = r.sku;
  if (r.kind !== undefined) out.kind = r.kind;
  if (r.zones !== undefined) out.zones = r.zones;
  if (r.plan !== undefined) out.plan = r.plan;
  if (r.identity !== undefined) out.identity = identityView(r.identity, r.id, tenantId);
  return out;
}

/** An embedded child (`securityRules/<name>`) as its own GET returns it, or undefined. */
export function childView(
  parent: StoredResource,
  key: string,
  name: string,
  ctx: ViewContext,
): Obj | undefined {
  const props = viewOf(parent, ctx).properties;
  const list = props[key];
  if (!Array.isArray(list)) return undefined;
  return list.find((i) => isObj(i) && String(i['name']).toLowerCase() === name.toLowerCase()) as
    Obj | undefined;
}

/** What a child PUT body keeps: its name and properties (the provider fills the rest). */
export function childBody(name: string, body: unknown): Obj {
  const props = isObj(body) && isObj(body['properties']) ? { ...body['properties'] } : {};
  delete props['provisioningState'];
  return { name, properties: props };
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** IP configurations with a subnet and no static address (the ones Azure allocates an address for). */
export function dynamicIpConfigs(r: StoredResource): Array<{ itemKey: string; subnetId: string }> {
  const out: Array<{ itemKey: string; subnetId: string }> = [];
  for (const key of ['frontendIPConfigurations', 'ipConfigurations']) {
    const list = r.properties[key];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isObj(item) || typeof item['name'] !== 'string' || !isObj(item['properties'])) continue;
      const p = item['properties'];
      const subnet = p['subnet'];
      if (p['privateIPAddress'] !== undefined || !isObj(subnet) || typeof subnet['id'] !== 'string') continue;
      out.push({ itemKey: `${key}/${item['name']}`.toLowerCase(), subnetId: subnet['id'] });
    }
  }
  return out;
}

/** The `index`-th address Azure hands out in a subnet (it keeps the first four). */
export function addressInSubnet(prefix: string, index: number): string | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(prefix);
  if (!m) return undefined;
  const bits = Number(m[2]);
  const size = 2 ** (32 - bits);
  const base = ipToInt(m[1]!) - (ipToInt(m[1]!) % size);
  return intToIp(base + 4 + (index % Math.max(1, size - 5)));
}

/**
 * Properties whose references keep another resource alive: deleting the referenced resource first fails
 * as Azure does. Keyed by the referenced type; the code is Azure's.
 */
export const IN_USE_CODES: Readonly<Record<string, { code: string; by: string[] }>> = {
  'microsoft.network/virtualnetworkgateways': {
    code: 'VirtualNetworkGatewayCannotBeDeleted',
    by: ['microsoft.network/connections'],
  },
  'microsoft.network/publicipaddresses': {
    code: 'PublicIPAddressCannotBeDeleted',
    by: ['microsoft.network/virtualnetworkgateways', 'microsoft.network/loadbalancers'],
  },
  'microsoft.network/virtualnetworks': {
    code: 'InUseSubnetCannotBeDeleted',
    by: [
      'microsoft.network/virtualnetworkgateways',
      'microsoft.network/loadbalancers',
      'microsoft.compute/virtualmachinescalesets',
    ],
  },
  'microsoft.network/networksecuritygroups': {
    code: 'InUseNetworkSecurityGroupCannotBeDeleted',
    by: ['microsoft.network/virtualnetworks'],
  },
};

/** Whether `r` refers to `id` (or to a sub-resource of it) anywhere in its body. */
export function refersTo(r: StoredResource, id: string): boolean {
  const target = id.toLowerCase();
  const walk = (v: unknown): boolean => {
    if (typeof v === 'string') {
      const s = v.toLowerCase();
      return s === target || s.startsWith(`${target}/`);
    }
    if (Array.isArray(v)) return v.some(walk);
    if (isObj(v)) return Object.values(v).some(walk);
    return false;
  };
  return walk(r.properties) || walk(r.identity);
}

// ---- VPN gateways: tunnels per SKU, generations ------------------------------------------------------

/**
 * Site-to-site tunnels (connections) a VPN gateway SKU holds, as Azure documents them: Basic 10,
 * VpnGw1–3 (AZ or not) 30, VpnGw4–5 100. Other SKUs (ExpressRoute) are not limited here.
 */
export function gatewayTunnelLimit(sku: string): number {
  if (/^basic$/i.test(sku)) return 10;
  const m = /^VpnGw([1-5])(AZ)?$/i.exec(sku);
  if (!m) return Number.POSITIVE_INFINITY;
  return Number(m[1]) <= 3 ? 30 : 100;
}

/** A gateway body's SKU name (virtual network gateways keep `sku` inside `properties`). */
export function gatewaySkuOf(props: Record<string, unknown>, outer?: unknown): string {
  const sku = isObj(props['sku']) ? props['sku'] : isObj(outer) ? outer : {};
  return String(sku['name'] ?? '');
}

/**
 * The generation a gateway has: the one it was given, else Azure's default for the SKU (VpnGw4/5 exist
 * only in generation 2; the others default to generation 1).
 */
export function gatewayGeneration(props: Record<string, unknown>, outer?: unknown): string {
  const given = props['vpnGatewayGeneration'];
  if (typeof given === 'string' && given !== '' && given !== 'None') return given;
  return /^VpnGw[45](AZ)?$/i.test(gatewaySkuOf(props, outer)) ? 'Generation2' : 'Generation1';
}

/**
 * What the network provider refuses when a VPN gateway is written: a SKU its generation does not offer
 * (VpnGw1 is generation 1 only, VpnGw4/5 generation 2 only), or an existing gateway moved to another
 * generation (Azure resizes in place only within a generation). Codes and messages are Azure's
 * (`CrossSeriesOrCrossGatewayGenenrationResizeNotSupported` is spelt so by Azure).
 */
export function gatewayWriteError(
  existing: StoredResource | undefined,
  props: Record<string, unknown>,
  outer?: unknown,
): ArmErrorShape | undefined {
  if (String(props['gatewayType'] ?? 'Vpn').toLowerCase() !== 'vpn') return undefined;
  const sku = gatewaySkuOf(props, outer);
  const generation = gatewayGeneration(props, outer);
  const gen1Only = /^VpnGw1(AZ)?$/i.test(sku);
  const gen2Only = /^VpnGw[45](AZ)?$/i.test(sku);
  if ((gen1Only && generation === 'Generation2') || (gen2Only && generation === 'Generation1'))
    return {
      code: 'VirtualNetworkGatewaySkuCannotBeCreatedForSpecifiedVmGeneration',
      message: `The Virtual Network Gateway Sku ${sku} cannot be used when VirtualNetworkVpnGatewayGeneration is set to ${generation}.`,
    };
  if (!existing) return undefined;
  const before = gatewayGeneration(existing.properties, existing.sku);
  if (before !== generation)
    return {
      code: 'CrossSeriesOrCrossGatewayGenenrationResizeNotSupported',
      message:
        'Resize from ASeries to DSeries or vice versa and Resize across VirtualNetworkVpnGatewayGenerations are ' +
        `not supported. Gateway ${existing.id} is ${gatewaySkuOf(existing.properties, existing.sku)} ` +
        `(${before}); the request asks for ${sku} (${generation}).`,
    };
  return undefined;
}

/**
 * A connection past its local gateway's tunnel limit. Azure's exact code for this was not found in the
 * public material searched; this one follows ARM's naming.
 */
export function tunnelLimitError(
  gateway: StoredResource | { id: string; properties: Record<string, unknown>; sku?: unknown },
  connections: number,
): ArmErrorShape | undefined {
  const sku = gatewaySkuOf(gateway.properties, gateway.sku);
  const limit = gatewayTunnelLimit(sku);
  if (connections < limit) return undefined;
  return {
    code: 'VirtualNetworkGatewayConnectionLimitReached',
    message: `Virtual network gateway ${gateway.id} of SKU ${sku} supports at most ${limit} site-to-site connections and already has ${connections}. Resize the gateway to a SKU with more tunnels first.`,
  };
}

export interface ArmErrorShape {
  code: string;
  message: string;
  target?: string;
}

/** Whether a stored connection uses `gatewayId` as its local end (so it takes one of that gateway's tunnels). */
export function isLocalConnectionOf(r: StoredResource, gatewayId: string, now: number): boolean {
  return (
    r.type.toLowerCase() === 'microsoft.network/connections' &&
    (r.deleteAt === undefined || now < r.deleteAt) &&
    r.deletingFrom === undefined &&
    sameId(r.properties['virtualNetworkGateway1'], gatewayId)
  );
}
