/**
 * Cost accounting from a member's profile history: VM-hours, monitoring hours and money for a period,
 * month to date and projected to the month's end, and the same figures had the member run Large all the
 * time. Pure: the caller passes the time.
 *
 * Billing follows the history exactly. Azure bills a VM from allocation (booting included) to
 * deallocation, and the platform records a change when it sets the scale set's capacity, so a scale-up
 * is billed from its change and a scale-down stops billing at its change; boot time affects serving
 * capacity (see bench/cost.js), not the bill. Months are UTC calendar months, as Azure's invoices are.
 */

import { type CostProfiles, type ProfileName, PROFILE_ORDER, hourlyCost } from './cost-profiles';
import { type ScalingPolicy, nextChange, scheduledProfile } from './schedule';

/** From `fromMs` the member runs `profile` until the next change; null = no node (not yet, or removed). */
export interface ProfileChange {
  fromMs: number;
  profile: ProfileName | null;
}

export interface Usage {
  vmHours: number;
  monitoringHours: number;
  vmCost: number;
  monitoringCost: number;
  /** vmCost + monitoringCost, in the profiles' currency. */
  cost: number;
  hoursByProfile: Record<ProfileName, number>;
}

export interface CostSummary {
  /** From the month's start to now. */
  toDate: Usage;
  /** The whole month: to date plus the projection from now to the month's end. */
  projected: Usage;
  /** The same member running Large whenever it ran at all (and from now to the month's end if it runs now). */
  staticLarge: { toDate: Usage; projected: Usage };
  /** staticLarge minus actual: money saved, and as a percentage of staticLarge (0 when that is 0). */
  savings: { toDate: number; projected: number; toDatePercent: number; projectedPercent: number };
}

export interface MemberCost extends CostSummary {
  memberId?: string;
  currency: string;
  period: { startMs: number; endMs: number; nowMs: number };
  /** What the projection assumed from now on. */
  projection: 'current' | 'schedule' | 'none';
}

export interface ConsortiumCost extends CostSummary {
  currency: string;
  period: { startMs: number; endMs: number; nowMs: number };
  members: number;
}

export class CostError extends Error {
  readonly code = 'COST.INVALID_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'CostError';
  }
}

const HOUR = 3_600_000;

export function emptyUsage(): Usage {
  return {
    vmHours: 0,
    monitoringHours: 0,
    vmCost: 0,
    monitoringCost: 0,
    cost: 0,
    hoursByProfile: { Small: 0, Medium: 0, Large: 0 },
  };
}

export function addUsage(a: Usage, b: Usage): Usage {
  const hoursByProfile = { ...a.hoursByProfile };
  for (const p of PROFILE_ORDER) hoursByProfile[p] += b.hoursByProfile[p];
  return {
    vmHours: a.vmHours + b.vmHours,
    monitoringHours: a.monitoringHours + b.monitoringHours,
    vmCost: a.vmCost + b.vmCost,
    monitoringCost: a.monitoringCost + b.monitoringCost,
    cost: a.cost + b.cost,
    hoursByProfile,
  };
}

function checkHistory(history: readonly ProfileChange[]): void {
  for (let i = 0; i < history.length; i++) {
    const c = history[i]!;
    if (!Number.isFinite(c.fromMs)) throw new CostError(`history[${i}].fromMs must be a finite time`);
    if (i > 0 && c.fromMs < history[i - 1]!.fromMs) {
      throw new CostError(`history[${i}] starts before history[${i - 1}]: changes must be in time order`);
    }
  }
}

/** Usage of `history` over [startMs, endMs). */
export function usage(
  history: readonly ProfileChange[],
  profiles: CostProfiles,
  startMs: number,
  endMs: number,
): Usage {
  checkHistory(history);
  const u = emptyUsage();
  for (let i = 0; i < history.length; i++) {
    const c = history[i]!;
    if (c.profile === null) continue;
    const from = Math.max(c.fromMs, startMs);
    const to = Math.min(i + 1 < history.length ? history[i + 1]!.fromMs : Infinity, endMs);
    if (to <= from) continue;
    const hours = (to - from) / HOUR;
    const p = profiles.profiles[c.profile];
    u.hoursByProfile[c.profile] += hours;
    u.vmHours += hours * p.vmCount;
    u.vmCost += hours * p.vmCount * profiles.vmHourlyPrice;
    if (p.monitoring) {
      u.monitoringHours += hours;
      u.monitoringCost += hours * profiles.monitoringHourlyPerMember;
    }
    u.cost += hours * hourlyCost(profiles, c.profile);
  }
  return u;
}

/** The UTC calendar month containing `nowMs`: [startMs, endMs). */
export function monthBounds(nowMs: number): { startMs: number; endMs: number } {
  const d = new Date(nowMs);
  return {
    startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/** The profile `history` says runs at `atMs` (null if none). */
export function profileAt(history: readonly ProfileChange[], atMs: number): ProfileName | null {
  let profile: ProfileName | null = null;
  for (const c of history) {
    if (c.fromMs > atMs) break;
    profile = c.profile;
  }
  return profile;
}

/**
 * The schedule's changes over [fromMs, toMs) as a history (starting with the profile at fromMs), for
 * projections and for the dashboard's "next changes".
 */
export function scheduleHistory(policy: ScalingPolicy, fromMs: number, toMs: number): ProfileChange[] {
  const out: ProfileChange[] = [{ fromMs, profile: scheduledProfile(policy, fromMs).profile }];
  let t = fromMs;
  while (t < toMs) {
    const next = nextChange(policy, t, toMs - t - 1);
    if (!next || next.atMs >= toMs) break;
    out.push({ fromMs: next.atMs, profile: next.profile });
    t = next.atMs;
  }
  return out;
}

const percent = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);

function summarise(actual: Usage, projected: Usage, largeToDate: Usage, largeProjected: Usage): CostSummary {
  const toDate = largeToDate.cost - actual.cost;
  const proj = largeProjected.cost - projected.cost;
  return {
    toDate: actual,
    projected,
    staticLarge: { toDate: largeToDate, projected: largeProjected },
    savings: {
      toDate,
      projected: proj,
      toDatePercent: percent(toDate, largeToDate.cost),
      projectedPercent: percent(proj, largeProjected.cost),
    },
  };
}

export interface MemberCostInput {
  memberId?: string;
  history: readonly ProfileChange[];
  profiles: CostProfiles;
  nowMs: number;
  /** Project the rest of the month with this schedule; without it, the current profile is held. */
  policy?: ScalingPolicy;
}

/** Month to date and projected to the month's end, for one member, against static Large. */
export function memberCost(input: MemberCostInput): MemberCost {
  const { history, profiles, nowMs, policy } = input;
  const { startMs, endMs } = monthBounds(nowMs);
  const current = profileAt(history, nowMs);
  const past = history.filter((c) => c.fromMs < nowMs);
  const toDate = usage(past, profiles, startMs, nowMs);
  const rest: ProfileChange[] =
    current === null
      ? []
      : policy
        ? scheduleHistory(policy, nowMs, endMs)
        : [{ fromMs: nowMs, profile: current }];
  const projected = addUsage(toDate, usage(rest, profiles, nowMs, endMs));

  const asLarge = (h: readonly ProfileChange[]) =>
    h.map((c): ProfileChange => ({ fromMs: c.fromMs, profile: c.profile && 'Large' }));
  const largeToDate = usage(asLarge(past), profiles, startMs, nowMs);
  const largeRest = current === null ? [] : [{ fromMs: nowMs, profile: 'Large' as const }];
  const largeProjected = addUsage(largeToDate, usage(largeRest, profiles, nowMs, endMs));

  return {
    ...(input.memberId === undefined ? {} : { memberId: input.memberId }),
    currency: profiles.currency,
    period: { startMs, endMs, nowMs },
    projection: current === null ? 'none' : policy ? 'schedule' : 'current',
    ...summarise(toDate, projected, largeToDate, largeProjected),
  };
}

/** Consortium totals of members' costs for the same month and time. */
export function consortiumCost(
  members: readonly MemberCost[],
  profiles: CostProfiles,
  nowMs: number,
): ConsortiumCost {
  const { startMs, endMs } = monthBounds(nowMs);
  for (const m of members) {
    if (m.period.startMs !== startMs || m.period.nowMs !== nowMs) {
      throw new CostError(`member ${m.memberId ?? '?'} was costed for another time`);
    }
    if (m.currency !== profiles.currency)
      throw new CostError(`member ${m.memberId ?? '?'} is costed in ${m.currency}`);
  }
  const sum = (pick: (m: MemberCost) => Usage) => members.map(pick).reduce(addUsage, emptyUsage());
  return {
    currency: profiles.currency,
    period: { startMs, endMs, nowMs },
    members: members.length,
    ...summarise(
      sum((m) => m.toDate),
      sum((m) => m.projected),
      sum((m) => m.staticLarge.toDate),
      sum((m) => m.staticLarge.projected),
    ),
  };
}
