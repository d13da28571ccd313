import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import { applicantRef } from '../core/notifications';
import { notify } from './notify';
import { logEvent, telemetry } from '../runtime/telemetry';
import { randomBytes } from 'node:crypto';
import type { Placement } from '../azure/arm';
import { AzureError } from '../azure/azure-error';
import { VaultError } from '../azure/key-vault';
import { vaultRoleAssignee } from '../azure/connection';
import { CertificateError } from '../core/certificates';
import { parseDuration, addDuration } from '../core/duration';
import { requestClaims, type MembershipRequest, type Member, type Step } from '../core/membership';
import {
  PROVISIONING_STEPS,
  PlanError,
  gatewaySkuFor,
  nodeParameters,
  throwawaySshPublicKey,
  networkParameters,
  gatewayParameters,
  vaultParameters,
  p2pRuleName,
  p2pRulePriority,
  bankResourceNames,
  sharedKeySecretName,
  deploymentName,
  connectionParameters,
  gatewayIdOf,
  needsResize,
  peerGatewayParameters,
  resizeDeploymentPart,
  SMALL_GATEWAY_SKU,
  tunnelLimit,
  type ResizePeer,
  type TemplateName,
  type Peer,
  type ProvisionPlan,
  type ProvisioningStep,
} from '../core/provisioning';
import { getAudit, getRegistry } from '../functions/edge/services';
import { now, nowMs } from '../runtime/clock';
import { inParallel } from '../runtime/parallel';
import { ConfigError, readSetting } from '../runtime/settings';
import { getArm, getPlacements } from './provisioning-services';
import { ensureSharedKey, issueNodeCertificate } from './vaults';

/** The activities of the provisioning workflow (orchestrations/provision.ts). */
export const PLAN_ACTIVITY = 'provisionPlanV1';
export const STEP_ACTIVITY = 'provisionStepV1';
export const ACCESS_ACTIVITY = 'provisionAccessV1';
export const VAULT_PARAMETERS_ACTIVITY = 'provisionVaultParametersV1';
export const CERTIFICATE_ACTIVITY = 'provisionCertificateV1';
export const NODE_PARAMETERS_ACTIVITY = 'provisionNodeParametersV1';
export const SHARED_KEY_ACTIVITY = 'provisionSharedKeyV1';
export const ADMIT_ACTIVITY = 'provisionAdmitV1';
export const SHARED_KEYS_ACTIVITY = 'provisionSharedKeysV1';
export const ADMIT_START_ACTIVITY = 'provisionAdmitStartV1';
export const ADMIT_READ_ACTIVITY = 'provisionAdmitReadV1';
export const ACTIVATE_ACTIVITY = 'provisionActivateV1';
export const FAIL_ACTIVITY = 'provisionFailV1';
export const ABANDONED_ACTIVITY = 'provisionAbandonedV1';
export const DRY_RUN_ACTIVITY = 'provisionDryRunV1';

export interface StepError {
  code: string;
  message: string;
  azureCode?: string;
  /** The member whose resource failed, when it is not the new bank's (a resize of its gateway). */
  member?: string;
}

export type StepOutcome = { ok: true; outputs: Record<string, unknown> } | { ok: false; error: StepError };

/** Permanent Azure errors end the step; transient ones throw so the orchestrator's retry policy applies. */
async function outcome(work: () => Promise<Record<string, unknown>>): Promise<StepOutcome> {
  try {
    return { ok: true, outputs: await work() };
  } catch (e) {
    if ((e instanceof AzureError || e instanceof VaultError) && !e.transient) {
      const { code, message, azureCode } = e.toJSON();
      return { ok: false, error: { code, message, ...(azureCode ? { azureCode } : {}) } };
    }
    if (e instanceof CertificateError) return { ok: false, error: { code: e.code, message: e.message } };
    if (e instanceof PlanError || e instanceof ConfigError)
      return { ok: false, error: { code: e.code, message: e.message } };
    throw e;
  }
}

function durationMsSetting(
  name: 'TRUSTNET_POLL_INTERVAL' | 'TRUSTNET_RETRY_WINDOW',
  fallback: string,
): number {
  const raw = readSetting(name) ?? fallback;
  try {
    const from = new Date(0);
    const ms = addDuration(from, parseDuration(raw)).getTime();
    if (ms <= 0) throw new Error('not positive');
    return ms;
  } catch {
    throw new ConfigError(
      'CONFIG.INVALID',
      name,
      `App setting ${name} must be an ISO 8601 duration such as PT30S; got "${raw}".`,
    );
  }
}

export function pollIntervalMs(): number {
  return durationMsSetting('TRUSTNET_POLL_INTERVAL', 'PT30S');
}

function dryRunSetting(): boolean {
  const raw = readSetting('TRUSTNET_DRY_RUN');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(
    'CONFIG.INVALID',
    'TRUSTNET_DRY_RUN',
    `App setting TRUSTNET_DRY_RUN must be true or false; got "${raw}".`,
  );
}

async function requestOf(requestId: string): Promise<MembershipRequest> {
  const request = await (await getRegistry()).getRequest(requestId);
  if (!request) throw new Error(`Request ${requestId} is not in the registry.`);
  return request;
}

// ---------------------------------------------------------------- plan

export async function planProvisioning(
  input: { requestId: string; attempt?: number },
  client?: DurableClient,
  context?: InvocationContext,
): Promise<ProvisionPlan> {
  const registry = await getRegistry();
  const request = await requestOf(input.requestId);
  if (!['approved', 'provisioning', 'failed'].includes(request.phase))
    throw new Error(`Request ${request.id} is ${request.phase}; only an approved request is provisioned.`);
  const a = request.applicant;
  const dryRun = dryRunSetting();
  const pollMs = pollIntervalMs();
  const retryWindow = readSetting('TRUSTNET_RETRY_WINDOW') ?? 'P7D';
  durationMsSetting('TRUSTNET_RETRY_WINDOW', 'P7D');

  // The bank is a member from here on, PENDING until its node is reachable.
  if (!dryRun) {
    const member: Member = {
      id: a.id,
      legalName: a.legalName,
      status: 'PENDING',
      governanceKey: request.applicantKey,
      keyThumbprint: request.keyThumbprint,
      contacts: { email: a.contacts.email },
      channels: { email: a.contacts.email, teams: null, setByMember: false, updatedAt: now().toISOString() },
      azure: a.azure,
      profile: a.profile,
      joinedAt: now().toISOString(),
      founder: false,
      requestId: request.id,
    };
    await registry.addMember(member);
    if (client && (input.attempt ?? 0) === 0)
      await notify(
        client,
        {
          kind: 'provisioning.started',
          at: now().toISOString(),
          requestId: request.id,
          applicant: applicantRef(a),
        },
        context,
      );
  }
  const placements = getPlacements();
  const placement = await placements.ensure({ memberId: a.id, ...a.azure });
  const members = (await registry.allMembers()).filter((m) => m.status === 'ACTIVE' && m.id !== a.id);
  // One listing instead of a read per member: the plan is on the critical path, and a consortium of
  // 100 made it 100 reads in a row. A member without a placement yet (a founder before its first
  // onboarding) gets one as before.
  const placed = new Set((await placements.all()).map((p) => p.memberId));
  // In order, so slots follow the members' order (concurrent creators would contend on the counter).
  for (const m of members) if (!placed.has(m.id)) await placements.ensure({ memberId: m.id, ...m.azure });
  const peers: Peer[] = [];
  const builtUnder = new Map(members.map((m) => [m.id, m.requestId ?? `founder:${m.id}`]));
  for (const m of members) {
    peers.push({
      id: m.id,
      subscriptionId: m.azure.subscriptionId,
      resourceGroup: m.azure.resourceGroup,
      addressSpace: m.azure.addressSpace,
      region: m.azure.region,
    });
  }
  peers.sort((x, y) => x.id.localeCompare(y.id));

  let gatewaySku: string = SMALL_GATEWAY_SKU;
  let blocked: StepError | undefined;
  try {
    gatewaySku = gatewaySkuFor(peers.length + 1);
    p2pRulePriority(placement.slot);
  } catch (e) {
    if (!(e instanceof PlanError)) throw e;
    blocked = { code: e.code, message: e.message };
  }
  const resize = blocked ? [] : await gatewaysToResize(peers, gatewaySku, builtUnder);

  const attempt = input.attempt ?? 0;
  const done: ProvisionPlan['done'] = {};
  for (const s of request.steps ?? [])
    if (s.state === 'succeeded' && (PROVISIONING_STEPS as readonly string[]).includes(s.name))
      done[s.name as ProvisioningStep] = (s as Step & { outputs?: Record<string, unknown> }).outputs ?? {};

  await registry.updateRequest(request.id, (r) => {
    const steps = PROVISIONING_STEPS.map(
      (name): Step =>
        r.steps?.find((s) => s.name === name && s.state === 'succeeded') ?? { name, state: 'pending' },
    );
    return { ...r, phase: dryRun ? r.phase : 'provisioning', steps };
  });

  return {
    requestId: request.id,
    attempt,
    bankId: a.id,
    legalName: a.legalName,
    profile: a.profile,
    placement: a.azure,
    slot: placement.slot,
    gatewaySku,
    peers,
    resize,
    dryRun,
    pollMs,
    retryWindow,
    done,
    ...(blocked ? { blocked } : {}),
  };
}

/** ARM reads are not the write budget's concern; each member's subscription is read once. */
const GATEWAY_READS_AT_ONCE = 50;

/**
 * The ACTIVE members whose gateways hold fewer tunnels than the consortium needs after the join. Only
 * asked when the SKU needed is above the small one (below it every gateway the platform built holds
 * enough), reading each gateway's SKU from Azure, GATEWAY_READS_AT_ONCE at a time (the plan is on the
 * critical path: 100 reads 16 at a time took 0.7 s). A member whose gateway is gone is left
 * out (a resize would create one); one whose gateway cannot be read for a permanent reason is listed, so
 * the gateway step fails on it with Azure's code and the member named.
 */
async function gatewaysToResize(
  peers: Peer[],
  gatewaySku: string,
  builtUnder: Map<string, string>,
): Promise<ResizePeer[]> {
  if (tunnelLimit(gatewaySku) <= tunnelLimit(SMALL_GATEWAY_SKU)) return [];
  const arm = getArm();
  const found = new Map<string, ResizePeer>();
  await inParallel(peers, GATEWAY_READS_AT_ONCE, async (peer) => {
    const requestId = builtUnder.get(peer.id) ?? `founder:${peer.id}`;
    try {
      const current = await arm.gatewaySku(peer, bankResourceNames(peer.id).gateway);
      if (current && needsResize(current.sku, gatewaySku))
        found.set(peer.id, { ...peer, requestId, fromSku: current.sku });
    } catch (e) {
      if (!(e instanceof AzureError) || e.transient) throw e;
      found.set(peer.id, { ...peer, requestId });
    }
  });
  // In the peers' order, whatever order the reads finished in.
  return peers.flatMap((p) => (found.has(p.id) ? [found.get(p.id)!] : []));
}

// ---------------------------------------------------------------- steps

export async function recordStep(input: {
  requestId: string;
  step: string;
  state: Step['state'];
  error?: StepError;
  outputs?: Record<string, unknown>;
  changes?: unknown[];
}): Promise<void> {
  const at = now().toISOString();
  await (
    await getRegistry()
  ).updateRequest(input.requestId, (r) => {
    const steps = [...(r.steps ?? [])];
    const i = steps.findIndex((s) => s.name === input.step);
    const before = i >= 0 ? steps[i]! : { name: input.step, state: 'pending' as const };
    const next: Step & { outputs?: Record<string, unknown>; changes?: unknown[] } = {
      name: input.step,
      state: input.state,
      started: input.state === 'running' ? at : before.started,
      ...(input.state === 'running' ? {} : { ended: at }),
      ...(input.error ? { error: input.error } : {}),
      ...(input.outputs ? { outputs: input.outputs } : {}),
      ...(input.changes ? { changes: input.changes } : {}),
    };
    if (i >= 0) steps[i] = next;
    else steps.push(next);
    return { ...r, steps };
  });
}

export function checkAccess(plan: ProvisionPlan): Promise<StepOutcome> {
  return outcome(async () => {
    const arm = getArm();
    // The bank's group, and every member's: peering writes a connection and an NSG rule into each.
    const bank = await arm.checkAccess(plan.placement);
    await Promise.all(plan.peers.map((p) => arm.checkAccess(p)));
    // ARM validates the critical path's templates now, together, so the network, the gateway and the
    // connections start without a validation round trip each. One connection stands for all: they
    // share template and parameter shapes.
    const gateway = {
      id: plan.bankId,
      region: plan.placement.region,
      gatewayId: gatewayIdOf(plan.bankId, plan.placement),
    };
    const peer = plan.peers[0];
    await Promise.all([
      arm.validate(
        plan.placement,
        deploymentName(plan.requestId, 'network'),
        'member-network',
        networkParameters(plan),
      ),
      arm.validate(
        plan.placement,
        deploymentName(plan.requestId, 'gateway'),
        'member-gateway',
        gatewayParameters(plan),
      ),
      ...(peer
        ? [
            arm.validate(
              plan.placement,
              deploymentName(plan.requestId, `cn-${peer.id}-out`),
              'vpn-connection',
              connectionParameters(
                gateway,
                { id: peer.id, gatewayId: gatewayIdOf(peer.id, peer) },
                randomBytes(48).toString('base64url'),
              ),
            ),
          ]
        : []),
    ]);
    return { location: bank.location, peersChecked: plan.peers.length };
  });
}

export function vaultParametersFor(input: { plan: ProvisionPlan; network: Record<string, unknown> }) {
  return vaultParameters(input.plan, input.network, vaultRoleAssignee(input.plan.placement.tenantId));
}

export function nodeParametersFor(input: {
  plan: ProvisionPlan;
  network: Record<string, unknown>;
  vault: Record<string, unknown>;
}) {
  return nodeParameters(input.plan, input.network, input.vault, throwawaySshPublicKey());
}

export async function sharedKeyFor(input: { a: string; b: string }): Promise<string> {
  const name = sharedKeySecretName(input.a, input.b);
  await ensureSharedKey(name);
  return name;
}

/**
 * Every pair's shared key at once (a few at a time against the vault), while the gateway builds: each
 * peer's connections then start without a vault round trip of their own on the critical path.
 */
export async function sharedKeysFor(input: { bankId: string; peers: string[] }): Promise<number> {
  await inParallel(input.peers, 8, (peer) => ensureSharedKey(sharedKeySecretName(input.bankId, peer)));
  return input.peers.length;
}

type AdmitInput = { plan: Pick<ProvisionPlan, 'bankId' | 'placement' | 'slot'>; peer: Peer };

/** The peer's NSG rule that admits the new bank: its NSG and the rule's name. */
function admitRuleOf({ plan, peer }: AdmitInput) {
  return { nsg: bankResourceNames(peer.id).nsg, rule: p2pRuleName(plan.bankId) };
}

/** Applies the peer's NSG rule for the new bank and waits for it (peers started before V2). */
export function admitPeer(input: AdmitInput): Promise<StepOutcome> {
  return outcome(async () => {
    await admit(input, 'applied');
    return {};
  });
}

/**
 * Starts the peer's NSG rule for the new bank and returns once Azure has accepted it: `running` (read
 * it again later), or a failed outcome for a permanent refusal.
 */
export function startAdmitPeer(input: AdmitInput): Promise<StepOutcome> {
  return outcome(async () => {
    await admit(input, 'accepted');
    return { state: 'running' };
  });
}

async function admit(input: AdmitInput, until: 'accepted' | 'applied'): Promise<void> {
  const { nsg, rule } = admitRuleOf(input);
  const { plan, peer } = input;
  await getArm().admitP2p(peer, nsg, rule, plan.placement.addressSpace, p2pRulePriority(plan.slot), until);
}

/** Reads the peer's NSG rule for the new bank: `succeeded`, `running`, or a failed outcome. */
export function readAdmitPeer(input: AdmitInput): Promise<StepOutcome> {
  return outcome(async () => {
    const { peer } = input;
    const { nsg, rule } = admitRuleOf(input);
    const state = await getArm().ruleState(peer, nsg, rule);
    if (state === 'failed' || state === 'missing')
      throw new AzureError(
        state === 'failed' ? 'AZURE.RULE_FAILED' : 'AZURE.NOT_FOUND',
        state === 'failed'
          ? `Azure could not apply rule ${rule} on ${nsg} of ${peer.id}.`
          : `Rule ${rule} on ${nsg} of ${peer.id} is gone: it was deleted while being applied.`,
        { transient: false },
      );
    return { state };
  });
}

export function certificateFor(input: {
  plan: ProvisionPlan;
  vault: Record<string, unknown>;
}): Promise<StepOutcome> {
  return outcome(() => issueNodeCertificate(input.plan, String(input.vault['vaultUri'])));
}

export function activate(
  plan: ProvisionPlan,
  client?: DurableClient,
  context?: InvocationContext,
): Promise<StepOutcome> {
  return outcome(async () => {
    const registry = await getRegistry();
    const audit = await getAudit();
    const member = await registry.getMember(plan.bankId);
    if (!member) throw new Error(`Member ${plan.bankId} vanished during provisioning.`);
    if (member.status === 'PENDING') {
      await audit.append(
        {
          kind: 'member.admitted',
          subject: member.id,
          actor: 'platform',
          data: {
            memberId: member.id,
            legalName: member.legalName,
            governanceKey: member.governanceKey,
            requestId: plan.requestId,
          },
        },
        () => new Date(nowMs()),
      );
      await registry.setMemberStatus(member.id, ['PENDING'], 'ACTIVE');
    }
    // The phase and the last step change together, so nobody sees `active` with a step still running.
    const at = now().toISOString();
    await registry.updateRequest(plan.requestId, (r) =>
      r.phase === 'active'
        ? undefined
        : {
            ...r,
            phase: 'active',
            steps: (r.steps ?? []).map((s) =>
              s.name === 'activate' ? { ...s, state: 'succeeded', ended: at } : s,
            ),
          },
    );
    const request = await registry.getRequest(plan.requestId);
    if (member.status === 'PENDING' && request?.decidedAt) {
      const seconds = (Date.parse(at) - Date.parse(request.decidedAt)) / 1000;
      telemetry.onboarded(seconds);
      if (context)
        logEvent(context, 'member.active', { memberId: member.id, requestId: plan.requestId, seconds });
    }
    if (client)
      await notify(
        client,
        {
          kind: 'member.active',
          at,
          member: { id: member.id, legalName: member.legalName },
          requestId: plan.requestId,
        },
        context,
      );
    return { status: 'ACTIVE' };
  });
}

export async function markFailed(
  input: { requestId: string; step: string; error: StepError; attempt?: number; retryUntil?: string },
  client?: DurableClient,
  context?: InvocationContext,
): Promise<void> {
  const registry = await getRegistry();
  const request = await requestOf(input.requestId);
  if (client)
    await notify(
      client,
      {
        kind: 'provisioning.step-failed',
        at: now().toISOString(),
        requestId: request.id,
        applicant: applicantRef(request.applicant),
        attempt: (input.attempt ?? 0) + 1,
        step: input.step,
        error: {
          code: input.error.code,
          message: input.error.message,
          ...(input.error.azureCode ? { azureCode: input.error.azureCode } : {}),
        },
        ...(input.retryUntil ? { retryUntil: input.retryUntil } : {}),
      },
      context,
    );
  if (request.phase !== 'failed') {
    await (
      await getAudit()
    ).append(
      {
        kind: 'provisioning.failed',
        subject: input.requestId,
        actor: 'platform',
        data: { requestId: input.requestId, step: input.step, ...input.error },
      },
      () => new Date(nowMs()),
    );
  }
  // A step outside the plan's list (the plan itself) is listed too, so the status says what failed.
  await registry.updateRequest(input.requestId, (r) => {
    const listed = (r.steps ?? []).some((s) => s.name === input.step);
    if (r.phase === 'failed' && listed) return undefined;
    const failed: Step = {
      name: input.step,
      state: 'failed',
      ended: now().toISOString(),
      error: input.error,
    };
    return { ...r, phase: 'failed', steps: listed ? r.steps : [...(r.steps ?? []), failed] };
  });
}

export async function markAbandoned(input: { requestId: string; bankId?: string }): Promise<void> {
  const registry = await getRegistry();
  const request = await requestOf(input.requestId);
  await registry.setMemberStatus(input.bankId ?? request.applicant.id, ['PENDING'], 'REMOVED');
  // The bank may apply again: its id, name and key are free once nothing of it is left.
  await registry.release(requestClaims(request), request.id);
}

/**
 * Validation and what-if of every deployment whose inputs are known before anything exists (ids the
 * templates would produce are predicted from the naming rules); nothing is created, no secret is kept.
 * The certificate, the scale set (it needs the vault's generated name) and activation are reported as
 * skipped.
 */
export async function dryRun(plan: ProvisionPlan): Promise<{ phase: string; changes: number }> {
  const arm = getArm();
  const record = (
    step: string,
    state: Step['state'],
    extra: Partial<Parameters<typeof recordStep>[0]> = {},
  ) => recordStep({ requestId: plan.requestId, step, state, ...extra });
  try {
    await arm.checkAccess(plan.placement);
    await record('access', 'succeeded');
  } catch (e) {
    if (e instanceof AzureError && !e.transient) {
      await record('access', 'failed', { error: e.toJSON() });
      for (const step of PROVISIONING_STEPS.slice(1)) await record(step, 'skipped');
      return { phase: 'approved', changes: 0 };
    }
    throw e;
  }
  const rg = `/subscriptions/${plan.placement.subscriptionId}/resourceGroups/${plan.placement.resourceGroup}`;
  const names = bankResourceNames(plan.bankId);
  const predictedNetwork = {
    nodeSubnetId: `${rg}/providers/Microsoft.Network/virtualNetworks/${names.vnet}/subnets/node`,
  };
  const bankGateway = {
    id: plan.bankId,
    region: plan.placement.region,
    gatewayId: gatewayIdOf(plan.bankId, plan.placement),
  };
  // A throwaway key: what-if needs a value of the right shape; it is never stored or used.
  const throwaway = randomBytes(48).toString('base64url');
  const runs: Array<[ProvisioningStep, Placement, TemplateName, Record<string, unknown>, string]> = [
    ['network', plan.placement, 'member-network', networkParameters(plan), 'network'],
    ['gateway', plan.placement, 'member-gateway', gatewayParameters(plan), 'gateway'],
    // Members' gateways the join resizes: in the member's group, the template it was built with.
    ...(plan.resize ?? []).map(
      (peer): [ProvisioningStep, Placement, TemplateName, Record<string, unknown>, string] => [
        'gateway',
        peer,
        'member-gateway',
        peerGatewayParameters(peer, plan.gatewaySku),
        resizeDeploymentPart(peer.id),
      ],
    ),
    [
      'vault',
      plan.placement,
      'member-vault',
      vaultParameters(plan, predictedNetwork, vaultRoleAssignee(plan.placement.tenantId, process.env, false)),
      'vault',
    ],
    ...plan.peers.flatMap(
      (peer): Array<[ProvisioningStep, Placement, TemplateName, Record<string, unknown>, string]> => {
        const other = { id: peer.id, region: peer.region, gatewayId: gatewayIdOf(peer.id, peer) };
        return [
          [
            'peering',
            plan.placement,
            'vpn-connection',
            connectionParameters(bankGateway, other, throwaway),
            `cn-${peer.id}-out`,
          ],
          [
            'peering',
            peer,
            'vpn-connection',
            connectionParameters(other, bankGateway, throwaway),
            `cn-${peer.id}-in`,
          ],
        ];
      },
    ),
  ];
  let total = 0;
  const byStep = new Map<string, { changes: unknown[]; error?: StepError }>();
  for (const [step, where, template, parameters, part] of runs) {
    const entry = byStep.get(step) ?? { changes: [] };
    byStep.set(step, entry);
    if (entry.error) continue;
    const name = deploymentName(plan.requestId, part);
    try {
      await arm.validate(where, name, template, parameters);
      const changes = await arm.whatIf(where, name, template, parameters);
      total += changes.length;
      entry.changes.push(...changes);
    } catch (e) {
      if (!(e instanceof AzureError) || e.transient) throw e;
      entry.error = e.toJSON();
    }
  }
  for (const step of PROVISIONING_STEPS.slice(1)) {
    const entry = byStep.get(step);
    if (entry?.error) await record(step, 'failed', { error: entry.error, changes: entry.changes });
    else await record(step, 'skipped', entry ? { changes: entry.changes } : {});
  }
  return { phase: 'approved', changes: total };
}

df.app.activity(PLAN_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (input: { requestId: string; attempt?: number }, context: InvocationContext) =>
    planProvisioning(input, df.getClient(context), context),
});
df.app.activity(STEP_ACTIVITY, { handler: recordStep });
df.app.activity(ACCESS_ACTIVITY, { handler: checkAccess });
df.app.activity(VAULT_PARAMETERS_ACTIVITY, { handler: vaultParametersFor });
df.app.activity(NODE_PARAMETERS_ACTIVITY, { handler: nodeParametersFor });
df.app.activity(CERTIFICATE_ACTIVITY, { handler: certificateFor });
df.app.activity(SHARED_KEY_ACTIVITY, { handler: sharedKeyFor });
df.app.activity(ADMIT_ACTIVITY, { handler: admitPeer });
df.app.activity(SHARED_KEYS_ACTIVITY, { handler: sharedKeysFor });
df.app.activity(ADMIT_START_ACTIVITY, { handler: startAdmitPeer });
df.app.activity(ADMIT_READ_ACTIVITY, { handler: readAdmitPeer });
df.app.activity(ACTIVATE_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (plan: ProvisionPlan, context: InvocationContext) =>
    activate(plan, df.getClient(context), context),
});
df.app.activity(FAIL_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (input: Parameters<typeof markFailed>[0], context: InvocationContext) =>
    markFailed(input, df.getClient(context), context),
});
df.app.activity(ABANDONED_ACTIVITY, { handler: markAbandoned });
df.app.activity(DRY_RUN_ACTIVITY, { handler: dryRun });
