import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { Metrics } from '../azure/metrics';
import { profileAt } from '../core/cost';
import type { Member } from '../core/membership';
import { desiredProfile, samplesNeededMinutes, type LoadSample } from '../core/schedule';
import { SCALE_ORCHESTRATOR, type ScaleInput } from '../orchestrations/scale';
import {
  costProfiles,
  liveOverride,
  memberResources,
  policyOf,
  profileHistory,
  scaleInstanceId,
  scalingOf,
} from '../orchestrations/scaling';
import { nowMs } from '../runtime/clock';
import { getRegistry } from './edge/services';

/**
 * Timer on %TRUSTNET_SCALING_SCHEDULE% (every 5 minutes): for every ACTIVE member that is not being
 * provisioned or torn down, reads its load (when its policy has a load rule), computes the profile it
 * should run, stores that with the reason, and starts `scale-<id>` when it differs from what the scale
 * set runs and no scaling of that member is under way.
 */

const RUNNING = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

async function running(client: df.DurableClient, instanceId: string): Promise<boolean> {
  const status = await client.getStatus(instanceId).catch(() => undefined);
  return status?.runtimeStatus !== undefined && RUNNING.has(String(status.runtimeStatus));
}

/** A member whose onboarding or removal is in flight is left alone: its node is someone else's business. */
async function busy(client: df.DurableClient, m: Member): Promise<string | undefined> {
  if (m.status !== 'ACTIVE') return `${m.id} is ${m.status}`;
  if (m.requestId) {
    const request = await (await getRegistry()).getRequest(m.requestId);
    if (request?.phase === 'provisioning') return `${m.id} is being provisioned`;
    if (await running(client, `${m.requestId}:teardown`)) return `${m.id} is being torn down`;
  }
  return undefined;
}

export async function evaluateScaling(
  client: df.DurableClient,
  context?: InvocationContext,
): Promise<{ started: string[]; skipped: string[] }> {
  const now = nowMs();
  const registry = await getRegistry();
  const profiles = costProfiles();
  const metrics = new Metrics();
  const started: string[] = [];
  const skipped: string[] = [];
  for (const member of await registry.allMembers()) {
    if (member.status !== 'ACTIVE') continue;
    const why = await busy(client, member);
    if (why) {
      skipped.push(why);
      continue;
    }
    const state = scalingOf(member);
    const policy = policyOf(member);
    let samples: LoadSample[] = [];
    const minutes = samplesNeededMinutes(policy);
    if (minutes > 0) {
      const history = profileHistory(member);
      try {
        samples = (
          await metrics.memberLoad(
            {
              ...memberResources(member),
              region: member.azure.region,
              monitoring: profiles.profiles[state.current].monitoring,
              profileAt: (atMs) => profileAt(history, atMs) ?? state.current,
            },
            now,
            minutes,
          )
        ).samples;
      } catch (e) {
        // Without samples the load rule holds still; the schedule and overrides still apply.
        context?.warn(`Scaling: no load for ${member.id}: ${(e as Error).message}`);
      }
    }
    const desired = desiredProfile({
      policy,
      profiles,
      nowMs: now,
      current: state.current,
      override: liveOverride(member, now) ?? null,
      samples,
    });
    if (
      state.desired !== desired.profile ||
      state.reason !== desired.reason ||
      state.source !== desired.source ||
      !member.scaling
    ) {
      await registry.updateMember(member.id, (m) => ({
        ...m,
        scaling: {
          ...scalingOf(m),
          desired: desired.profile,
          reason: desired.reason,
          source: desired.source,
        },
      }));
    }
    if (desired.profile === state.current) continue;
    const instanceId = scaleInstanceId(member.id);
    if (await running(client, instanceId)) {
      skipped.push(`${member.id} is already scaling`);
      continue;
    }
    const input: ScaleInput = {
      memberId: member.id,
      from: state.current,
      to: desired.profile,
      reason: desired.reason,
      source: desired.source,
    };
    await client.startNew(SCALE_ORCHESTRATOR, { instanceId, input });
    started.push(member.id);
  }
  return { started, skipped };
}

app.timer('memberScaling', {
  schedule: '%TRUSTNET_SCALING_SCHEDULE%',
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: Timer, context: InvocationContext) => {
    const { started } = await evaluateScaling(df.getClient(context), context);
    if (started.length) context.log(`Scaling: started ${started.join(', ')}.`);
  },
});
