import { type CostProfiles, resolveCostProfiles, type CostProfilesOverride } from '../core/cost-profiles';
import { type MemberCost, memberCost, type ProfileChange } from '../core/cost';
import type { Member, MemberScaling, Profile } from '../core/membership';
import { bankResourceNames, resourceGroupId } from '../core/provisioning';
import { nextChange, type ScalingPolicy } from '../core/schedule';
import { getConsortium } from '../functions/edge/services';

/**
 * What the scaling timer, the orchestration, the routes and the views share: a member's policy (its own
 * or the default), its state, the consortium's cost profiles, the resources the platform scales, and
 * the member's profile history for cost.
 */

/** The Azure Monitor agent extension bicep/member-node.bicep puts on a monitored scale set. */
export const MONITOR_EXTENSION = 'AzureMonitorLinuxAgent';
export const HISTORY_LIMIT = 200;

let cached: { key: unknown; profiles: CostProfiles } | undefined;

/** The consortium's cost profiles: the defaults with its `costProfiles` changes. */
export function costProfiles(): CostProfiles {
  const config = getConsortium() as ReturnType<typeof getConsortium> & {
    costProfiles?: CostProfilesOverride;
  };
  if (cached?.key !== config) cached = { key: config, profiles: resolveCostProfiles(config.costProfiles) };
  return cached.profiles;
}

/** A member without a policy runs its own profile all the time. */
export function policyOf(m: Member): ScalingPolicy {
  return m.scaling?.policy ?? { timeZone: 'UTC', defaultProfile: m.profile, windows: [] };
}

export function scalingOf(m: Member): MemberScaling {
  return m.scaling ?? { current: m.profile, history: [] };
}

/** The override, while it has not expired. */
export function liveOverride(m: Member, nowMs: number): MemberScaling['override'] | undefined {
  const o = m.scaling?.override;
  return o && Date.parse(o.expiresAt) > nowMs ? o : undefined;
}

export function scaleInstanceId(memberId: string): string {
  return `scale-${memberId}`;
}

/** What the platform reads and changes of a member's node. */
export function memberResources(m: Member) {
  const names = bankResourceNames(m.id);
  const rg = resourceGroupId(m.azure);
  return {
    placement: { subscriptionId: m.azure.subscriptionId, resourceGroup: m.azure.resourceGroup },
    identityId: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${names.identity}`,
    scaleSet: names.scaleSet,
    scaleSetId: `${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${names.scaleSet}`,
    loadBalancerId: `${rg}/providers/Microsoft.Network/loadBalancers/${names.loadBalancer}`,
    appInsightsId: `${rg}/providers/Microsoft.Insights/components/appi-${m.id}`,
  };
}

/** The profile from each change on: joined at its profile, then each recorded change. */
export function profileHistory(m: Member): ProfileChange[] {
  const joined = Date.parse(m.joinedAt);
  const history = scalingOf(m).history;
  const first = history[0]?.from ?? scalingOf(m).current;
  const out: ProfileChange[] = [{ fromMs: Number.isFinite(joined) ? joined : 0, profile: first }];
  for (const h of history) out.push({ fromMs: Date.parse(h.at), profile: h.to });
  return out;
}

/** Projected with the member's own schedule when it has one, otherwise holding its current profile. */
export function costOf(m: Member, profiles: CostProfiles, nowMs: number): MemberCost {
  const policy = m.scaling?.policy;
  return memberCost({
    memberId: m.id,
    history: profileHistory(m),
    profiles,
    nowMs,
    ...(policy ? { policy } : {}),
  });
}

/** What GET /api/members/{id} shows of a member's scaling. */
export function scalingView(m: Member, nowMs: number): Record<string, unknown> {
  const s = scalingOf(m);
  const policy = policyOf(m);
  const override = liveOverride(m, nowMs);
  const next = nextChange(policy, nowMs, 8 * 86_400_000);
  return {
    current: s.current,
    desired: s.desired ?? s.current,
    reason: s.reason ?? null,
    source: s.source ?? null,
    policy,
    override: override ?? null,
    nextChange: next ? { at: new Date(next.atMs).toISOString(), profile: next.profile } : null,
    changedAt: s.changedAt ?? null,
    failure: s.failure ?? null,
  };
}

export function withChange(
  s: MemberScaling,
  change: { at: string; to: Profile; reason: string; source: MemberScaling['history'][number]['source'] },
): MemberScaling {
  const history = [...s.history, { ...change, from: s.current }].slice(-HISTORY_LIMIT);
  const { failure: _failure, ...rest } = s;
  void _failure;
  return { ...rest, current: change.to, changedAt: change.at, history };
}
