import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type { DeploymentState } from '../azure/arm';
import {
  deploymentName,
  networkParameters,
  gatewayParameters,
  peerGatewayParameters,
  resizeDeploymentPart,
  sharedKeySecretName,
  type Peer,
  type ResizePeer,
  type ProvisionPlan,
  type ProvisioningStep,
} from '../core/provisioning';
import {
  DEPLOY_ORCHESTRATOR,
  READ_DEPLOYMENT,
  START_DEPLOYMENT,
  azureRetry,
  retriesExhausted,
  type DeployInput,
} from './deploy';
import { connectionInputs, peerInBatches } from './peering';
import {
  ACCESS_ACTIVITY,
  ACTIVATE_ACTIVITY,
  ABANDONED_ACTIVITY,
  ADMIT_ACTIVITY,
  ADMIT_READ_ACTIVITY,
  ADMIT_START_ACTIVITY,
  CERTIFICATE_ACTIVITY,
  DRY_RUN_ACTIVITY,
  FAIL_ACTIVITY,
  NODE_PARAMETERS_ACTIVITY,
  PLAN_ACTIVITY,
  SHARED_KEY_ACTIVITY,
  SHARED_KEYS_ACTIVITY,
  STEP_ACTIVITY,
  VAULT_PARAMETERS_ACTIVITY,
  type StepError,
  type StepOutcome,
} from './provision-activities';
import { TEARDOWN_ORCHESTRATOR, type TeardownInput } from './teardown';

/**
 * Onboarding an approved bank, unattended: access check → network → (gateway → peering with every
 * ACTIVE member) ∥ (vault → node certificate → scale set) → member ACTIVE. The gateway is the critical
 * path (about 45 minutes in Azure), so it starts as soon as its VNet exists and the node is built
 * beside it. A permanent failure stops with phase `failed` and waits: a member's `retry` resumes after
 * the last step that succeeded; `abandon`, or no retry within the window, tears down what was built.
 *
 * Instance id: `<requestId>:provision`. Versioned like every orchestrator: a change to the yield
 * sequence gets a new name.
 */
export const PROVISION_ORCHESTRATOR = 'provisionV1';
export const GATEWAY_BRANCH = 'provisionGatewayBranchV1';
export const NODE_BRANCH = 'provisionNodeBranchV1';
export const PEER_ORCHESTRATOR = 'provisionPeerV2';
/** Resizes the members' gateways a join outgrows, beside the new bank's gateway. */
export const RESIZE_ORCHESTRATOR = 'provisionResizeV1';
/** Kept for peers started before V2. */
export const LEGACY_PEER_ORCHESTRATOR = 'provisionPeerV1';
export const RETRY_EVENT = 'retry';
export const ABANDON_EVENT = 'abandon';

export function provisionInstanceId(requestId: string): string {
  return `${requestId}:provision`;
}

export interface ProvisionInput {
  requestId: string;
  attempt?: number;
}

type BranchResult =
  { ok: true; outputs: Record<string, unknown> } | { ok: false; step: ProvisioningStep; error: StepError };

/**
 * What one peer's sub-orchestration needs of the plan. Its input is stored with every peer (and the
 * plan lists every member), so carrying the whole plan made a 100-member fan-out hold 100 copies of
 * a 16 KB plan; a full plan still fits this shape, which is how instances started before replay.
 */
export type PeerRun = Pick<
  ProvisionPlan,
  'requestId' | 'attempt' | 'bankId' | 'placement' | 'slot' | 'pollMs'
>;

function peerRun(plan: ProvisionPlan): PeerRun {
  const { requestId, attempt, bankId, placement, slot, pollMs } = plan;
  return { requestId, attempt, bankId, placement, slot, pollMs };
}

function subId(plan: PeerRun, part: string): string {
  return `${plan.requestId}:provision:${plan.attempt}:${part}`;
}

/** Templates the access step validates up front, so their deployments start at once (critical path). */
const VALIDATED_UP_FRONT = new Set<DeployInput['template']>([
  'member-network',
  'member-gateway',
  'vpn-connection',
]);

function deployInput(
  plan: PeerRun,
  placement: { subscriptionId: string; resourceGroup: string },
  part: string,
  template: DeployInput['template'],
  parameters: Record<string, unknown>,
): DeployInput {
  return {
    placement,
    name: deploymentName(plan.requestId, part),
    template,
    parameters,
    pollMs: plan.pollMs,
    validated: VALIDATED_UP_FRONT.has(template),
  };
}

/** Runs one deployment as a sub-orchestration and folds its end into a step outcome. */
function* deployStep(
  context: OrchestrationContext,
  plan: ProvisionPlan,
  input: DeployInput,
): Generator<Task, StepOutcome, DeploymentState> {
  try {
    const state: DeploymentState = yield context.df.callSubOrchestrator(
      DEPLOY_ORCHESTRATOR,
      input,
      subId(plan, input.name),
    );
    return settled(state, input.name);
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) };
  }
}

function settled(state: DeploymentState, name: string): StepOutcome {
  if (state.state === 'succeeded') return { ok: true, outputs: state.outputs };
  if (state.state === 'failed') return { ok: false, error: state.error };
  return { ok: false, error: { code: 'DEPLOY.UNKNOWN', message: `Deployment ${name} ended unsettled.` } };
}

/**
 * The gateway's deployment, with every pair's shared key made beside it (`withKeys`) and the members'
 * gateways the join outgrows resized beside it too: the gateway takes 45 minutes, the keys a moment and
 * a resize about as long as the gateway, so none of them adds to the critical path, and peering starts
 * only once every gateway holds its tunnels. The new bank's own failure is reported first.
 */
function* gatewayWithKeys(
  context: OrchestrationContext,
  plan: ProvisionPlan,
  input: DeployInput,
  withKeys: boolean,
  resize: ResizePeer[],
): Generator<Task, StepOutcome, unknown> {
  try {
    const tasks: Task[] = [
      context.df.callSubOrchestrator(DEPLOY_ORCHESTRATOR, input, subId(plan, input.name)),
    ];
    if (withKeys)
      tasks.push(context.df.callActivityWithRetry(SHARED_KEYS_ACTIVITY, azureRetry, sharedKeysInput(plan)));
    if (resize.length > 0)
      tasks.push(
        context.df.callSubOrchestrator(
          RESIZE_ORCHESTRATOR,
          resizeInput(plan, resize),
          subId(plan, 'gateway-resize'),
        ),
      );
    const results = (yield context.df.Task.all(tasks)) as unknown[];
    const own = settled(results[0] as DeploymentState, input.name);
    if (!own.ok || resize.length === 0) return own;
    const resized = results[results.length - 1] as StepOutcome;
    return resized.ok ? own : resized;
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) };
  }
}

/** What the resize sub-orchestration is given: one deployment per member, into the member's group. */
interface ResizeInput {
  pollMs: number;
  resizes: Array<{ member: string; input: DeployInput }>;
}

function resizeInput(plan: ProvisionPlan, resize: ResizePeer[]): ResizeInput {
  return {
    pollMs: plan.pollMs,
    resizes: resize.map((peer) => ({
      member: peer.id,
      input: {
        ...deployInput(
          plan,
          { subscriptionId: peer.subscriptionId, resourceGroup: peer.resourceGroup },
          resizeDeploymentPart(peer.id),
          'member-gateway',
          peerGatewayParameters(peer, plan.gatewaySku),
        ),
        // The access step validated the new bank's gateway, not these; off the critical path, ARM
        // validates each before it starts.
        validated: false,
      },
    })),
  };
}

/**
 * Resizes members' gateways: every deployment started at once, then read between durable timers until
 * all are done, in one instance (as peerV2 does) rather than a deploy sub-orchestration each, which for
 * 100 members made 100 instances to create and replay. Deployment names come from the request and the
 * member, so a retry or replay redeploys the same resize (ARM's PUT is idempotent). A failure names the
 * member and carries Azure's code.
 */
const resizeGateways: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { pollMs, resizes } = context.df.getInput<ResizeInput>();
  try {
    let states = (yield context.df.Task.all(
      resizes.map((r) => context.df.callActivityWithRetry(START_DEPLOYMENT, azureRetry, r.input)),
    )) as DeploymentState[];
    for (;;) {
      const failed = states.findIndex((d) => d.state === 'failed');
      if (failed >= 0) {
        const d = states[failed] as Extract<DeploymentState, { state: 'failed' }>;
        const member = resizes[failed]!.member;
        return {
          ok: false,
          error: {
            code: d.error.code,
            ...(d.error.azureCode ? { azureCode: d.error.azureCode } : {}),
            message: `Resizing the VPN gateway of member ${member} failed: ${d.error.message}`.slice(0, 1000),
            member,
          },
        } satisfies StepOutcome;
      }
      const running = states.flatMap((d, i) => (d.state === 'running' ? [i] : []));
      if (running.length === 0)
        return { ok: true, outputs: { resized: resizes.map((r) => r.member) } } satisfies StepOutcome;
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + pollMs));
      const read = (yield context.df.Task.all(
        running.map((i) =>
          context.df.callActivityWithRetry(READ_DEPLOYMENT, azureRetry, {
            placement: resizes[i]!.input.placement,
            name: resizes[i]!.input.name,
          }),
        ),
      )) as DeploymentState[];
      states = states.map((d, i) => {
        const k = running.indexOf(i);
        return k >= 0 ? read[k]! : d;
      });
    }
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) } satisfies StepOutcome;
  }
};

function sharedKeysInput(plan: ProvisionPlan): { bankId: string; peers: string[] } {
  return { bankId: plan.bankId, peers: plan.peers.map((p) => p.id) };
}

/**
 * Records the step as running, runs it (unless an earlier attempt finished it: then its outputs are
 * reused), and records how it ended.
 */
function* step(
  context: OrchestrationContext,
  plan: ProvisionPlan,
  name: ProvisioningStep,
  body: () => Generator<Task, StepOutcome, unknown>,
): Generator<Task, BranchResult, unknown> {
  const done = plan.done[name];
  if (done) return { ok: true, outputs: done };
  yield context.df.callActivityWithRetry(STEP_ACTIVITY, azureRetry, {
    requestId: plan.requestId,
    step: name,
    state: 'running',
  });
  const outcome = yield* body();
  yield context.df.callActivityWithRetry(STEP_ACTIVITY, azureRetry, {
    requestId: plan.requestId,
    step: name,
    state: outcome.ok ? 'succeeded' : 'failed',
    error: outcome.ok ? undefined : outcome.error,
    outputs: outcome.ok ? outcome.outputs : undefined,
  });
  return outcome.ok
    ? { ok: true, outputs: outcome.outputs }
    : { ok: false, step: name, error: outcome.error };
}

function* activityOutcome(context: OrchestrationContext, name: string, input: unknown) {
  try {
    return (yield context.df.callActivityWithRetry(name, azureRetry, input)) as StepOutcome;
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) } as StepOutcome;
  }
}

// ---------------------------------------------------------------- the parent

const provision: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ProvisionInput>();
  let plan: ProvisionPlan;
  try {
    plan = yield context.df.callActivityWithRetry(PLAN_ACTIVITY, azureRetry, input);
  } catch (e) {
    // Not even a plan (storage down for minutes, a bad setting): say so in the status and wait for a
    // member's retry, as any failed step does.
    const error = retriesExhausted(e);
    yield context.df.callActivityWithRetry(FAIL_ACTIVITY, azureRetry, {
      requestId: input.requestId,
      step: 'plan',
      error,
      attempt: input.attempt ?? 0,
    });
    context.df.setCustomStatus({ phase: 'failed', step: 'plan', error });
    const retry = context.df.waitForExternalEvent(RETRY_EVENT);
    const abandon = context.df.waitForExternalEvent(ABANDON_EVENT);
    const winner = yield context.df.Task.any([retry, abandon]);
    if (winner === retry) {
      context.df.continueAsNew({
        requestId: input.requestId,
        attempt: (input.attempt ?? 0) + 1,
      } satisfies ProvisionInput);
      return undefined;
    }
    // Nothing was built without a plan; the bank's reserved id, name and key are freed so it may apply again.
    yield context.df.callActivityWithRetry(ABANDONED_ACTIVITY, azureRetry, { requestId: input.requestId });
    context.df.setCustomStatus({ phase: 'failed', step: 'plan', error, tornDown: true });
    return { phase: 'failed', tornDown: true };
  }
  context.df.setCustomStatus({ phase: plan.dryRun ? 'dry-run' : 'provisioning', attempt: plan.attempt });

  if (plan.dryRun) {
    // Validation and what-if only: the planned changes land in `steps`, nothing is created.
    return yield context.df.callActivityWithRetry(DRY_RUN_ACTIVITY, azureRetry, plan);
  }

  let failure: BranchResult | undefined;
  const access = yield* step(context, plan, 'access', function* () {
    if (plan.blocked) return { ok: false, error: plan.blocked } as StepOutcome;
    return yield* activityOutcome(context, ACCESS_ACTIVITY, plan);
  });
  if (!access.ok) failure = access;

  let network: BranchResult | undefined;
  if (!failure) {
    network = yield* step(context, plan, 'network', () =>
      deployStep(
        context,
        plan,
        deployInput(plan, plan.placement, 'network', 'member-network', networkParameters(plan)),
      ),
    );
    if (!network.ok) failure = network;
  }

  if (!failure && network?.ok) {
    const branchInput: BranchInput = {
      plan,
      network: network.outputs,
      keysEarly: true,
      peersInBatches: true,
    };
    const results: BranchResult[] = yield context.df.Task.all([
      context.df.callSubOrchestrator(GATEWAY_BRANCH, branchInput, subId(plan, 'gateway-branch')),
      context.df.callSubOrchestrator(NODE_BRANCH, branchInput, subId(plan, 'node-branch')),
    ]);
    failure = results.find((r) => !r.ok);
  }

  if (!failure) {
    const active = yield* step(context, plan, 'activate', () =>
      activityOutcome(context, ACTIVATE_ACTIVITY, plan),
    );
    if (active.ok) {
      context.df.setCustomStatus({ phase: 'active', attempt: plan.attempt });
      // Logged once, not on every replay of this history.
      if (!context.df.isReplaying)
        context.log(
          JSON.stringify({
            event: 'provisioning.active',
            instanceId: context.df.instanceId,
            attempt: plan.attempt,
          }),
        );
      return { phase: 'active' };
    }
    failure = active;
  }

  // Stopped: leave everything as it is and wait for a member to decide.
  const f = failure as Extract<BranchResult, { ok: false }>;
  const windowEnds = new Date(context.df.currentUtcDateTime.getTime() + durationMs(plan.retryWindow));
  yield context.df.callActivityWithRetry(FAIL_ACTIVITY, azureRetry, {
    requestId: plan.requestId,
    step: f.step,
    error: f.error,
    attempt: plan.attempt,
    retryUntil: windowEnds.toISOString(),
  });
  context.df.setCustomStatus({ phase: 'failed', step: f.step, error: f.error, attempt: plan.attempt });
  if (!context.df.isReplaying)
    context.log(
      JSON.stringify({
        event: 'provisioning.failed',
        instanceId: context.df.instanceId,
        attempt: plan.attempt,
        step: f.step,
        code: f.error.code,
      }),
    );
  const timer = context.df.createTimer(windowEnds);
  const retry = context.df.waitForExternalEvent(RETRY_EVENT);
  const abandon = context.df.waitForExternalEvent(ABANDON_EVENT);
  const winner = yield context.df.Task.any([retry, abandon, timer]);
  if (!timer.isCompleted) timer.cancel();
  if (winner === retry) {
    context.df.continueAsNew({
      requestId: plan.requestId,
      attempt: plan.attempt + 1,
    } satisfies ProvisionInput);
    return undefined;
  }
  const teardown: TeardownInput = {
    requestId: plan.requestId,
    bankId: plan.bankId,
    placement: plan.placement,
    peers: plan.peers,
    reason: winner === abandon ? 'abandoned by a member' : `no retry within ${plan.retryWindow}`,
    pollMs: plan.pollMs,
  };
  // A teardown that Azure refuses (a lock, a 403) stops where it is and says so in the `teardown` step;
  // a member's next `abandon` runs it again from there, as often as it takes.
  for (let round = 0; ; round++) {
    // The type is imported inline: this tail is edited apart from the file's imports.
    let result: import('./teardown').TeardownResult;
    try {
      result = yield context.df.callSubOrchestrator(
        TEARDOWN_ORCHESTRATOR,
        teardown,
        subId(plan, round === 0 ? 'teardown' : `teardown-${round}`),
      );
    } catch (e) {
      result = { tornDown: false, deleted: 0, stoppedAt: 'plan', error: retriesExhausted(e) };
      yield context.df.callActivityWithRetry(STEP_ACTIVITY, azureRetry, {
        requestId: plan.requestId,
        step: 'teardown',
        state: 'failed',
        error: result.error,
      });
    }
    if (result.tornDown) break;
    // Tells the members (step-failed, once per round) and leaves the phase `failed`.
    yield context.df.callActivityWithRetry(FAIL_ACTIVITY, azureRetry, {
      requestId: plan.requestId,
      step: 'teardown',
      error: result.error,
      attempt: plan.attempt + round,
    });
    context.df.setCustomStatus({ phase: 'failed', step: 'teardown', error: result.error, tornDown: false });
    yield context.df.waitForExternalEvent(ABANDON_EVENT);
  }
  yield context.df.callActivityWithRetry(ABANDONED_ACTIVITY, azureRetry, teardown);
  context.df.setCustomStatus({ phase: 'failed', step: f.step, error: f.error, tornDown: true });
  return { phase: 'failed', tornDown: true };
};

/** ISO 8601 durations without months or years (the plan activity has checked them). */
function durationMs(iso: string): number {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!m) return 7 * 86_400_000;
  const [, w, d, h, min, s] = m.map((x) => Number(x ?? 0));
  return ((((w! * 7 + d!) * 24 + h!) * 60 + min!) * 60 + s!) * 1000;
}

// ---------------------------------------------------------------- gateway, then peering

const gatewayBranch: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { plan, keysEarly, peersInBatches } = context.df.getInput<BranchInput>();
  // `keysEarly` (every branch started now): the shared keys are made beside the gateway, and the peers
  // are told so. Branches started before made each key in its peer's sub-orchestration; the input fixes
  // which for the branch's life, so its replays stay deterministic.
  let keysMade = false;
  const gateway = yield* step(context, plan, 'gateway', () => {
    const input = deployInput(plan, plan.placement, 'gateway', 'member-gateway', gatewayParameters(plan));
    // Plans made before resizes existed have no `resize`: their branches yield as they always did.
    const resize = plan.resize ?? [];
    const withKeys = !!keysEarly && plan.peers.length > 0;
    if (!withKeys && resize.length === 0) return deployStep(context, plan, input);
    keysMade = withKeys;
    return gatewayWithKeys(context, plan, input, withKeys, resize);
  });
  if (!gateway.ok) return gateway;
  const gatewayId = String(gateway.outputs['gatewayId']);
  return yield* step(context, plan, 'peering', function* () {
    if (plan.peers.length === 0) return { ok: true, outputs: { peers: 0 } } as StepOutcome;
    // A gateway finished by an earlier attempt made no keys in this one (they are there; this looks).
    if (keysEarly && !keysMade) {
      try {
        yield context.df.callActivityWithRetry(SHARED_KEYS_ACTIVITY, azureRetry, sharedKeysInput(plan));
      } catch (e) {
        return { ok: false, error: retriesExhausted(e) } as StepOutcome;
      }
    }
    const run = peerRun(plan);
    // Branches started before batches existed keep their sub-orchestration per member.
    if (peersInBatches) return yield* peerInBatches(context, plan, run, gatewayId);
    const results = (yield context.df.Task.all(
      plan.peers.map((peer) =>
        context.df.callSubOrchestrator(
          keysEarly ? PEER_ORCHESTRATOR : LEGACY_PEER_ORCHESTRATOR,
          { plan: run, peer, gatewayId } satisfies PeerInput,
          subId(plan, `peer-${peer.id}`),
        ),
      ),
    )) as StepOutcome[];
    const failed = results.find((r) => !r.ok);
    return failed ?? ({ ok: true, outputs: { peers: plan.peers.length } } as StepOutcome);
  });
};

/** What a peer sub-orchestration is given. */
interface PeerInput {
  plan: PeerRun;
  peer: Peer;
  gatewayId: string;
}

/** What the gateway and node branches are given. */
interface BranchInput {
  plan: ProvisionPlan;
  network: Record<string, unknown>;
  /** Set on every branch started now; see the gateway branch. */
  keysEarly?: true;
  /** Set on every branch started now: peering runs in batches (orchestrations/peering.ts). */
  peersInBatches?: true;
}

/**
 * One member: a connection each way and its NSG rule for the new bank, all three started at once and
 * read between durable timers until done. The pair's shared key was made beside the gateway. It polls
 * itself rather than through a deploy sub-orchestration per connection: 100 members made 200 more
 * instances to create and replay before the first connection could start.
 */
const peerV2: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { plan, peer, gatewayId } = context.df.getInput<PeerInput>();
  try {
    const { out, back } = connectionInputs(plan, peer, gatewayId, sharedKeySecretName(plan.bankId, peer.id));
    const admit = { plan, peer };
    let [there, home, rule]: [DeploymentState, DeploymentState, StepOutcome] = yield context.df.Task.all([
      context.df.callActivityWithRetry(START_DEPLOYMENT, azureRetry, out),
      context.df.callActivityWithRetry(START_DEPLOYMENT, azureRetry, back),
      context.df.callActivityWithRetry(ADMIT_START_ACTIVITY, azureRetry, admit),
    ]);
    for (;;) {
      for (const d of [there, home])
        if (d.state === 'failed') return { ok: false, error: d.error } satisfies StepOutcome;
      if (!rule.ok) return rule;
      const wait = {
        there: there.state === 'running',
        home: home.state === 'running',
        rule: rule.outputs['state'] !== 'succeeded',
      };
      if (!wait.there && !wait.home && !wait.rule) return { ok: true, outputs: {} } satisfies StepOutcome;
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + plan.pollMs));
      const reads: Task[] = [];
      if (wait.there)
        reads.push(
          context.df.callActivityWithRetry(READ_DEPLOYMENT, azureRetry, {
            placement: out.placement,
            name: out.name,
          }),
        );
      if (wait.home)
        reads.push(
          context.df.callActivityWithRetry(READ_DEPLOYMENT, azureRetry, {
            placement: back.placement,
            name: back.name,
          }),
        );
      if (wait.rule) reads.push(context.df.callActivityWithRetry(ADMIT_READ_ACTIVITY, azureRetry, admit));
      const results = (yield context.df.Task.all(reads)) as unknown[];
      let k = 0;
      if (wait.there) there = results[k++] as DeploymentState;
      if (wait.home) home = results[k++] as DeploymentState;
      if (wait.rule) rule = results[k++] as StepOutcome;
    }
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) } as StepOutcome;
  }
};

/**
 * The first form, kept for peers started before V2: the shared key made here, each connection through a
 * deploy sub-orchestration, the NSG rule applied in one activity that waited.
 */
const peerV1: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { plan, peer, gatewayId } = context.df.getInput<PeerInput>();
  try {
    const secretRef: string = yield context.df.callActivityWithRetry(SHARED_KEY_ACTIVITY, azureRetry, {
      a: plan.bankId,
      b: peer.id,
    });
    const { out, back } = connectionInputs(plan, peer, gatewayId, secretRef);
    const [there, home, admitted]: [DeploymentState, DeploymentState, StepOutcome] =
      yield context.df.Task.all([
        context.df.callSubOrchestrator(DEPLOY_ORCHESTRATOR, out, subId(plan, out.name)),
        context.df.callSubOrchestrator(DEPLOY_ORCHESTRATOR, back, subId(plan, back.name)),
        context.df.callActivityWithRetry(ADMIT_ACTIVITY, azureRetry, { plan, peer }),
      ]);
    for (const d of [there, home])
      if (d.state === 'failed') return { ok: false, error: d.error } satisfies StepOutcome;
    if (!admitted.ok) return admitted;
    return { ok: true, outputs: {} };
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) } as StepOutcome;
  }
};

// ---------------------------------------------------------------- vault, certificate, node

const nodeBranch: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { plan, network } = context.df.getInput<{ plan: ProvisionPlan; network: Record<string, unknown> }>();
  const vault = yield* step(context, plan, 'vault', function* () {
    const parameters = (yield context.df.callActivityWithRetry(VAULT_PARAMETERS_ACTIVITY, azureRetry, {
      plan,
      network,
    })) as Record<string, unknown>;
    return yield* deployStep(
      context,
      plan,
      deployInput(plan, plan.placement, 'vault', 'member-vault', parameters),
    );
  });
  if (!vault.ok) return vault;
  const certificate = yield* step(context, plan, 'certificate', () =>
    activityOutcome(context, CERTIFICATE_ACTIVITY, { plan, vault: vault.outputs }),
  );
  if (!certificate.ok) return certificate;
  return yield* step(context, plan, 'node', function* () {
    const parameters = (yield context.df.callActivityWithRetry(NODE_PARAMETERS_ACTIVITY, azureRetry, {
      plan,
      network,
      vault: vault.outputs,
    })) as Record<string, unknown>;
    return yield* deployStep(
      context,
      plan,
      deployInput(plan, plan.placement, 'node', 'member-node', parameters),
    );
  });
};

df.app.orchestration(PROVISION_ORCHESTRATOR, provision);
df.app.orchestration(GATEWAY_BRANCH, gatewayBranch);
df.app.orchestration(NODE_BRANCH, nodeBranch);
df.app.orchestration(PEER_ORCHESTRATOR, peerV2);
df.app.orchestration(RESIZE_ORCHESTRATOR, resizeGateways);
df.app.orchestration(LEGACY_PEER_ORCHESTRATOR, peerV1);

/**
 * Starts onboarding an approved request unless it has started already (the ballot's close activity
 * calls this, and may run again after a crash).
 */
export async function startProvisioning(client: df.DurableClient, requestId: string): Promise<void> {
  const instanceId = provisionInstanceId(requestId);
  const status = await client.getStatus(instanceId).catch(() => undefined);
  if (status?.runtimeStatus) return;
  await client.startNew(PROVISION_ORCHESTRATOR, {
    instanceId,
    input: { requestId } satisfies ProvisionInput,
  });
}
