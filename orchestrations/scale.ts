import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AzureError } from '../azure/azure-error';
import type { MemberScaling, Profile } from '../core/membership';
import { getAudit, getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { azureRetry } from './deploy';
import { notify } from './notify';
import { telemetry } from '../runtime/telemetry';
import { memberRef } from './notify-events';
import { pollIntervalMs } from './provision-activities';
import { getArm } from './provisioning-services';
import { costProfiles, memberResources, MONITOR_EXTENSION, scalingOf, withChange } from './scaling';

/**
 * Moves one member's node to another cost profile: the scale set's capacity (started in one activity,
 * its end polled from later ones between durable timers, as deploy.ts does) and the Azure Monitor agent
 * (on for profiles that monitor, off otherwise), read back to verify, then recorded on the member,
 * audited (`member.scaled`) and announced (`scaling.changed`). Singleton per member (`scale-<id>`): the
 * timer starts it only when none runs. A change that still fails after `azureRetry` is recorded on the
 * member (`scaling.failure`, shown by GET /api/members/{id}) and logged as an error for operators; there
 * is no operator notification kind for it, and the next timer run tries again.
 */
export const SCALE_ORCHESTRATOR = 'scaleV1';
export const SCALE_START = 'scaleStartV1';
export const SCALE_CHECK = 'scaleCheckV1';
export const SCALE_RECORD = 'scaleRecordV1';
export const SCALE_FAILED = 'scaleFailedV1';

export interface ScaleInput {
  memberId: string;
  from: Profile;
  to: Profile;
  reason: string;
  source: MemberScaling['history'][number]['source'];
}

export class ScalingError extends Error {
  constructor(
    readonly code:
      'SCALING.NOT_VERIFIED' | 'SCALING.NO_MEMBER' | 'SCALING.NO_SCALE_SET' | 'SCALING.TIMED_OUT',
    message: string,
  ) {
    super(message);
    this.name = 'ScalingError';
  }
}

const scale: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ScaleInput>();
  try {
    let state: ScaleProgress = yield context.df.callActivityWithRetry(SCALE_START, azureRetry, input);
    // Adding VMs takes minutes in Azure: poll between durable timers rather than hold an activity.
    for (let polls = 0; !state.done; polls++) {
      if (polls >= MAX_POLLS)
        throw new ScalingError('SCALING.TIMED_OUT', `${input.memberId} did not reach ${input.to} in time.`);
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + state.pollMs));
      state = yield context.df.callActivityWithRetry(SCALE_CHECK, azureRetry, input);
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    yield context.df.callActivity(SCALE_FAILED, {
      ...input,
      at: context.df.currentUtcDateTime.toISOString(),
      message,
    });
    return { failed: message.slice(0, 300) };
  }
  // The orchestration's clock: a replay records and notifies the same change with the same id.
  const at = context.df.currentUtcDateTime.toISOString();
  yield context.df.callActivity(SCALE_RECORD, { ...input, at });
  return { scaled: input.to, at };
};

/** Polls of a capacity change before it counts as failed (at TRUSTNET_POLL_INTERVAL, 30 s: an hour). */
const MAX_POLLS = 120;

export interface ScaleProgress {
  done: boolean;
  pollMs: number;
}

async function target(input: ScaleInput) {
  const member = await (await getRegistry()).getMember(input.memberId);
  if (!member) throw new ScalingError('SCALING.NO_MEMBER', `No member ${input.memberId}.`);
  return { profile: costProfiles().profiles[input.to], r: memberResources(member) };
}

function asActivityError(e: unknown): unknown {
  return e instanceof AzureError ? new Error(`${e.code}: ${e.message}`, { cause: e }) : e;
}

/**
 * Puts the agent on first when the profile monitors (so a monitored profile never runs unwatched), then
 * starts the capacity change only if the scale set is not already there (a retry never writes twice),
 * and finishes at once when Azure is already done.
 */
export async function startProfile(input: ScaleInput): Promise<ScaleProgress> {
  try {
    const { profile, r } = await target(input);
    const arm = getArm();
    const before = await arm.getCapacity(r.placement, r.scaleSet);
    if (!before) throw new ScalingError('SCALING.NO_SCALE_SET', `${r.scaleSet} does not exist.`);
    if (profile.monitoring)
      await arm.putScaleSetExtension(r.placement, r.scaleSet, MONITOR_EXTENSION, {
        publisher: 'Microsoft.Azure.Monitor',
        type: 'AzureMonitorLinuxAgent',
        typeHandlerVersion: '1.0',
        autoUpgradeMinorVersion: true,
        enableAutomaticUpgrade: true,
        settings: {
          authentication: {
            managedIdentity: { 'identifier-name': 'mi_res_id', 'identifier-value': r.identityId },
          },
        },
      });
    if (before.capacity !== profile.vmCount)
      await arm.startCapacity(r.placement, r.scaleSet, profile.vmCount);
    return await checkProfile(input);
  } catch (e) {
    throw asActivityError(e);
  }
}

/** Reads the change back; once the scale set has settled, takes the agent off if the profile does not monitor and verifies both. */
export async function checkProfile(input: ScaleInput): Promise<ScaleProgress> {
  try {
    const { profile, r } = await target(input);
    const arm = getArm();
    const now = await arm.getCapacity(r.placement, r.scaleSet);
    if (now?.provisioningState === 'Failed')
      throw new ScalingError('SCALING.NOT_VERIFIED', `${r.scaleSet} failed to reach ${profile.vmCount} VMs.`);
    if (now?.capacity === profile.vmCount && now.provisioningState !== 'Succeeded')
      return { done: false, pollMs: pollIntervalMs() };
    if (!profile.monitoring) await arm.deleteScaleSetExtension(r.placement, r.scaleSet, MONITOR_EXTENSION);
    const after = await arm.getCapacity(r.placement, r.scaleSet);
    const monitoring = await arm.hasScaleSetExtension(r.placement, r.scaleSet, MONITOR_EXTENSION);
    if (after?.capacity !== profile.vmCount || monitoring !== profile.monitoring)
      throw new ScalingError(
        'SCALING.NOT_VERIFIED',
        `${r.scaleSet} reads ${after?.capacity ?? 'nothing'} VMs, monitoring ${monitoring}; wanted ${profile.vmCount}, ${profile.monitoring}.`,
      );
    return { done: true, pollMs: 0 };
  } catch (e) {
    throw asActivityError(e);
  }
}

export async function recordScaled(
  input: ScaleInput & { at: string },
  client?: df.DurableClient,
  context?: InvocationContext,
): Promise<void> {
  const registry = await getRegistry();
  const member = await registry.updateMember(input.memberId, (m) => ({
    ...m,
    scaling: withChange(scalingOf(m), input),
  }));
  if (!member) return;
  await (
    await getAudit()
  ).append(
    {
      kind: 'member.scaled',
      subject: input.memberId,
      actor: 'system',
      data: {
        memberId: input.memberId,
        from: input.from,
        to: input.to,
        reason: input.reason,
        source: input.source,
      },
    },
    () => new Date(nowMs()),
  );
  telemetry.scaled(input.from, input.to);
  if (client)
    await notify(
      client,
      {
        kind: 'scaling.changed',
        at: input.at,
        member: memberRef(member),
        from: input.from,
        to: input.to,
        reason: input.reason,
      },
      context,
    );
}

export async function recordFailure(
  input: ScaleInput & { at: string; message: string },
  client?: df.DurableClient,
  context?: InvocationContext,
): Promise<void> {
  const code = /\b([A-Z][A-Z_]*\.[A-Z][A-Z_.]*):/.exec(input.message)?.[1] ?? 'SCALING.FAILED';
  const member = await (
    await getRegistry()
  ).updateMember(input.memberId, (m) => ({
    ...m,
    scaling: {
      ...scalingOf(m),
      failure: { at: input.at, to: input.to, code, message: input.message.slice(0, 300) },
    },
  }));
  context?.error(
    `Scaling ${input.memberId} from ${input.from} to ${input.to} failed: ${input.message.slice(0, 300)}`,
  );
  // The member and the operators hear of it; `at` is the orchestration's, so a re-run raises the same event.
  if (client && member)
    await notify(
      client,
      {
        kind: 'scaling.failed',
        at: input.at,
        member: { id: member.id, legalName: member.legalName },
        from: input.from,
        to: input.to,
        error: { code, message: input.message.slice(0, 300) },
      },
      context,
    );
}

df.app.orchestration(SCALE_ORCHESTRATOR, scale);
df.app.activity(SCALE_START, { handler: (input: ScaleInput) => startProfile(input) });
df.app.activity(SCALE_CHECK, { handler: (input: ScaleInput) => checkProfile(input) });
df.app.activity(SCALE_RECORD, {
  extraInputs: [df.input.durableClient()],
  handler: (input: ScaleInput & { at: string }, context: InvocationContext) =>
    recordScaled(input, df.getClient(context), context),
});
df.app.activity(SCALE_FAILED, {
  extraInputs: [df.input.durableClient()],
  handler: (input: ScaleInput & { at: string; message: string }, context: InvocationContext) =>
    recordFailure(input, df.getClient(context), context),
});
