import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import { AzureError } from '../azure/azure-error';
import { VaultError } from '../azure/key-vault';
import {
  bankResourceNames,
  p2pRuleName,
  sharedKeySecretName,
  teardownStages,
  type DeletableResource,
  type Peer,
} from '../core/provisioning';
import type { AzurePlacement, Member } from '../core/membership';
import { getAudit, getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { inParallel } from '../runtime/parallel';
import { durationSettingMs } from '../runtime/settings';
import { azureRetry, retriesExhausted } from './deploy';
import { pollIntervalMs, recordStep, type StepError } from './provision-activities';
import { getArm, getPlacements } from './provisioning-services';
import { deletePlatformSecret } from './vaults';

/**
 * Deletes what the platform built for a bank: its connections and NSG rules on every other member,
 * then its own resources stage by stage (Azure refuses to delete a gateway with connections, or a VNet
 * with a gateway in it), and revokes its node certificate. Used by an abandoned onboarding and by a
 * member's removal. Every stage is started by one activity and watched by another between timers.
 * A permanent refusal (403, a lock) stops it at that stage: the `teardown` step fails with the code,
 * the orchestration completes with `tornDown: false`, and running it again resumes there.
 */
export const TEARDOWN_ORCHESTRATOR = 'teardownV1';
export const TEARDOWN_PLAN = 'teardownPlanV1';
export const TEARDOWN_START = 'teardownStartV1';
export const TEARDOWN_REMAINING = 'teardownRemainingV1';
export const TEARDOWN_RULES = 'teardownRulesV1';
export const TEARDOWN_FINISH = 'teardownFinishV1';
export const TEARDOWN_STEP = 'teardownStepV1';

export interface TeardownInput {
  requestId?: string;
  bankId: string;
  placement: AzurePlacement;
  peers: Peer[];
  reason: string;
  pollMs: number;
  /**
   * A removal's teardown has no member to press `abandon` again, so one that Azure refuses (a lock, a
   * missing role) tries again every `REMOVAL_RETRY_EVERY_MS` until this instant, then stops for good.
   */
  retryUntil?: string;
  /** Which try this is (0 first), for the log. */
  attempt?: number;
}

/** A lock or a role is lifted by a person: an hour between tries is soon enough and not noisy. */
export const REMOVAL_RETRY_EVERY_MS = 3_600_000;

/** What an activity of the teardown answers: its value, or the permanent refusal that stops the teardown. */
export type TeardownOutcome<T> = { ok: true; value: T } | { ok: false; error: StepError };

/**
 * How a teardown ended. `tornDown: false` says where it stopped (`rules`, `plan`, a stage index, or
 * `finish`) and why; what was deleted before stays deleted, and running it again resumes there (every
 * stage looks before it deletes).
 */
export type TeardownResult =
  | { tornDown: true; deleted: number }
  | { tornDown: false; deleted: number; stoppedAt: 'rules' | 'plan' | 'finish' | number; error: StepError };

/**
 * Permanent Azure or Key Vault refusals (403, a lock, a conflict) come back as an outcome, so the
 * teardown stops at that stage and says why; transient ones throw, so the orchestrator's retry applies.
 */
async function refusable<T>(work: () => Promise<T>): Promise<TeardownOutcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (e) {
    if ((e instanceof AzureError || e instanceof VaultError) && !e.transient) {
      const { code, message, azureCode } = e.toJSON();
      return { ok: false, error: { code, message, ...(azureCode ? { azureCode } : {}) } };
    }
    throw e;
  }
}

/** One activity, with a transient failure that outlasted its retries folded into a refusal too. */
function* attempt<T>(
  context: OrchestrationContext,
  name: string,
  payload: unknown,
): Generator<Task, TeardownOutcome<T>, TeardownOutcome<T>> {
  try {
    return yield context.df.callActivityWithRetry(name, azureRetry, payload);
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) };
  }
}

const teardown: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<TeardownInput>();
  if (input.requestId)
    yield context.df.callActivityWithRetry(TEARDOWN_STEP, azureRetry, {
      requestId: input.requestId,
      state: 'running',
    });
  let deleted = 0;
  let stopped: { at: 'rules' | 'plan' | 'finish' | number; error: StepError } | undefined;
  const rules = yield* attempt<void>(context, TEARDOWN_RULES, input);
  if (!rules.ok) stopped = { at: 'rules', error: rules.error };
  const plan = stopped ? undefined : yield* attempt<number>(context, TEARDOWN_PLAN, input);
  if (plan && !plan.ok) stopped = { at: 'plan', error: plan.error };
  // Stage by stage: a stage that is refused stops everything after it (Azure would refuse those too,
  // e.g. a VNet whose gateway is still there).
  for (let i = 0; plan?.ok && !stopped && i < plan.value; i++) {
    const started = yield* attempt<DeletableResource[]>(context, TEARDOWN_START, { input, stage: i });
    if (!started.ok) {
      stopped = { at: i, error: started.error };
      break;
    }
    let pending = started.value;
    deleted += pending.length;
    while (pending.length > 0) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + input.pollMs));
      const left = yield* attempt<DeletableResource[]>(context, TEARDOWN_REMAINING, pending);
      if (!left.ok) {
        stopped = { at: i, error: left.error };
        break;
      }
      pending = left.value;
    }
  }
  if (!stopped) {
    const finished = yield* attempt<void>(context, TEARDOWN_FINISH, { input, deleted });
    if (!finished.ok) stopped = { at: 'finish', error: finished.error };
  }
  if (input.requestId)
    yield context.df.callActivityWithRetry(TEARDOWN_STEP, azureRetry, {
      requestId: input.requestId,
      state: stopped ? 'failed' : 'succeeded',
      ...(stopped ? { error: stopped.error } : {}),
    });
  if (!stopped) return { tornDown: true, deleted } satisfies TeardownResult;
  const next = new Date(context.df.currentUtcDateTime.getTime() + REMOVAL_RETRY_EVERY_MS);
  const retrying = input.retryUntil !== undefined && next.getTime() <= Date.parse(input.retryUntil);
  // Logged once, not on every replay: a removal has no request whose status would show it.
  if (!context.df.isReplaying)
    context.log(
      JSON.stringify({
        event: 'teardown.failed',
        instanceId: context.df.instanceId,
        memberId: input.bankId,
        requestId: input.requestId ?? null,
        attempt: input.attempt ?? 0,
        nextAttemptAt: retrying ? next.toISOString() : null,
        stoppedAt: stopped.at,
        code: stopped.error.code,
        azureCode: stopped.error.azureCode ?? null,
      }),
    );
  if (retrying) {
    context.df.setCustomStatus({
      tornDown: false,
      stoppedAt: stopped.at,
      error: stopped.error,
      nextAttemptAt: next.toISOString(),
    });
    yield context.df.createTimer(next);
    // A fresh history per try: stages look before they delete, so it resumes where this one stopped.
    context.df.continueAsNew({ ...input, attempt: (input.attempt ?? 0) + 1 } satisfies TeardownInput);
    return undefined;
  }
  return { tornDown: false, deleted, stoppedAt: stopped.at, error: stopped.error } satisfies TeardownResult;
};

async function stagesOf(input: TeardownInput): Promise<DeletableResource[][]> {
  const placement = await getPlacements().get(input.bankId);
  const vaultName = placement?.vaultUri ? new URL(placement.vaultUri).hostname.split('.')[0] : undefined;
  return teardownStages(input.bankId, input.placement, input.peers, vaultName);
}

export async function stageCount(input: TeardownInput): Promise<number> {
  return (await stagesOf(input)).length;
}

/** Starts deleting stage `stage`; answers the resources that were there and are going. */
export async function startStage(p: { input: TeardownInput; stage: number }): Promise<DeletableResource[]> {
  const stages = await stagesOf(p.input);
  const arm = getArm();
  const started: DeletableResource[] = [];
  for (const r of stages[p.stage] ?? []) if (await arm.startDelete(r.id, r.apiVersion)) started.push(r);
  return started;
}

export async function remaining(resources: DeletableResource[]): Promise<DeletableResource[]> {
  const arm = getArm();
  const left: DeletableResource[] = [];
  for (const r of resources) if (await arm.exists(r.id, r.apiVersion)) left.push(r);
  return left;
}

export async function removeRules(input: TeardownInput): Promise<void> {
  const arm = getArm();
  await Promise.all(
    input.peers.map((peer) =>
      arm.removeRule(peer, bankResourceNames(peer.id).nsg, p2pRuleName(input.bankId)).catch((e: unknown) => {
        // A member whose NSG is already gone has nothing to remove.
        if (e instanceof AzureError && e.code === 'AZURE.NOT_FOUND') return;
        throw e;
      }),
    ),
  );
}

export async function finish(p: { input: TeardownInput; deleted: number }): Promise<void> {
  const { input } = p;
  const placements = getPlacements();
  const placement = await placements.get(input.bankId);
  const audit = await getAudit();
  const at = () => new Date(nowMs());
  // The current certificate and any earlier one a renewal replaced: all of them go on the CRL.
  const serials = [
    ...(placement?.previousSerials ?? []),
    ...(placement?.certificate ? [placement.certificate.serial] : []),
  ];
  const revoked = new Set((await placements.revoked()).map((r) => r.serial));
  for (const serial of serials) {
    if (revoked.has(serial)) continue;
    await audit.append(
      {
        kind: 'certificate.revoked',
        subject: input.bankId,
        actor: 'platform',
        data: { memberId: input.bankId, serial, reason: input.reason },
      },
      at,
    );
    await placements.revoke({
      serial,
      memberId: input.bankId,
      revokedAt: at().toISOString(),
      reason: input.reason,
    });
  }
  await inParallel(input.peers, 8, (peer) =>
    deletePlatformSecret(sharedKeySecretName(input.bankId, peer.id)),
  );
  await audit.append(
    {
      kind: 'provisioning.torn-down',
      subject: input.bankId,
      actor: 'platform',
      data: {
        memberId: input.bankId,
        requestId: input.requestId ?? null,
        reason: input.reason,
        deleted: p.deleted,
      },
    },
    at,
  );
}

df.app.orchestration(TEARDOWN_ORCHESTRATOR, teardown);
df.app.activity(TEARDOWN_PLAN, { handler: (input: TeardownInput) => refusable(() => stageCount(input)) });
df.app.activity(TEARDOWN_START, {
  handler: (p: { input: TeardownInput; stage: number }) => refusable(() => startStage(p)),
});
df.app.activity(TEARDOWN_REMAINING, {
  handler: (resources: DeletableResource[]) => refusable(() => remaining(resources)),
});
df.app.activity(TEARDOWN_RULES, { handler: (input: TeardownInput) => refusable(() => removeRules(input)) });
df.app.activity(TEARDOWN_FINISH, {
  handler: (p: { input: TeardownInput; deleted: number }) => refusable(() => finish(p)),
});
df.app.activity(TEARDOWN_STEP, {
  handler: (p: { requestId: string; state: 'running' | 'succeeded' | 'failed'; error?: StepError }) =>
    recordStep({
      requestId: p.requestId,
      step: 'teardown',
      state: p.state,
      ...(p.error ? { error: p.error } : {}),
    }),
});

/**
 * Starts tearing down a removed member (once per removal proposal): everything the platform built for
 * it, on its side and on every other member's.
 */
export async function startRemoval(
  client: df.DurableClient,
  member: Member,
  proposalId: string,
): Promise<void> {
  const instanceId = `${proposalId}:teardown`;
  const status = await client.getStatus(instanceId).catch(() => undefined);
  if (status?.runtimeStatus) return;
  const registry = await getRegistry();
  const peers: Peer[] = (await registry.allMembers())
    .filter((m) => m.id !== member.id && (m.status === 'ACTIVE' || m.status === 'SUSPENDED'))
    .map((m) => ({
      id: m.id,
      subscriptionId: m.azure.subscriptionId,
      resourceGroup: m.azure.resourceGroup,
      addressSpace: m.azure.addressSpace,
      region: m.azure.region,
    }));
  const input: TeardownInput = {
    bankId: member.id,
    placement: member.azure,
    peers,
    reason: `removed by proposal ${proposalId}`,
    pollMs: pollIntervalMs(),
    retryUntil: new Date(nowMs() + durationSettingMs('TRUSTNET_RETRY_WINDOW', 'P7D')).toISOString(),
  };
  await client.startNew(TEARDOWN_ORCHESTRATOR, { instanceId, input });
}
