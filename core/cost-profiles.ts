/**
 * Cost profiles: how many VMs a member's scale set runs, whether monitoring is on, how much load that
 * carries and what it costs. A consortium may override any figure in its configuration; the names and
 * their order (Small < Medium < Large) are fixed because the API, the schemas and the audit log use them.
 */

import type { Profile } from './membership';

export type ProfileName = Profile;

/** Cheapest first: scaling "up one" means the next entry. */
export const PROFILE_ORDER: readonly ProfileName[] = ['Small', 'Medium', 'Large'];

export interface CostProfile {
  name: ProfileName;
  /** Scale set capacity. */
  vmCount: number;
  /** Azure Monitor agent + Application Insights on or off (off saves the ingestion cost). */
  monitoring: boolean;
  /** Transactions per minute the profile carries at 100% (the load rule's yardstick). */
  capacityTpm: number;
}

export interface CostProfiles {
  /** ISO 4217 code of every price below. */
  currency: string;
  /**
   * One VM size for every profile: a scale set has a single SKU and changing it re-images every VM, so
   * profiles differ only in VM count and monitoring.
   */
  vmSize: string;
  /** Pay-as-you-go price of one VM of `vmSize` for one hour. */
  vmHourlyPrice: number;
  /** What monitoring costs a member per hour while it is on. */
  monitoringHourlyPerMember: number;
  profiles: Record<ProfileName, CostProfile>;
}

/** A consortium's partial override, as written in its configuration (schemas/cost-profiles.schema.json). */
export interface CostProfilesOverride {
  currency?: string;
  vmSize?: string;
  vmHourlyPrice?: number;
  monitoringHourlyPerMember?: number;
  profiles?: Partial<Record<ProfileName, Partial<Omit<CostProfile, 'name'>>>>;
}

/**
 * The defaults.
 * - Standard_D4s_v5 (4 vCPU, 16 GiB): 0.192 USD/hour, Linux pay-as-you-go, East US / West Europe list
 *   price on the Azure VM pricing page (2024–2025); reservations or savings plans lower it, which a
 *   consortium records by overriding `vmHourlyPrice`.
 * - Monitoring: the Azure Monitor agent itself is free; what costs is Log Analytics / Application
 *   Insights ingestion, 2.30 USD per GB (pay-as-you-go "Analytics Logs" list price). A node's perf
 *   counters, syslog and request telemetry come to about 1 GB a day, so 2.30 / 24 ≈ 0.096 USD/hour.
 * - capacityTpm: 300 transactions per minute per D4s_v5 node VM (5 per second, a conservative Corda 4
 *   figure for small flows with a remote database), linear in the VM count.
 */
export const DEFAULT_COST_PROFILES: CostProfiles = Object.freeze({
  currency: 'USD',
  vmSize: 'Standard_D4s_v5',
  vmHourlyPrice: 0.192,
  monitoringHourlyPerMember: 0.096,
  profiles: Object.freeze({
    Small: Object.freeze({ name: 'Small', vmCount: 2, monitoring: false, capacityTpm: 600 }),
    Medium: Object.freeze({ name: 'Medium', vmCount: 7, monitoring: true, capacityTpm: 2100 }),
    Large: Object.freeze({ name: 'Large', vmCount: 15, monitoring: true, capacityTpm: 4500 }),
  }) as Record<ProfileName, CostProfile>,
}) as CostProfiles;

export interface ConfigProblem {
  /** JSON pointer into the override, e.g. `/profiles/Medium/vmCount`. */
  path: string;
  message: string;
}

export class CostProfilesError extends Error {
  readonly code = 'COST_PROFILES.INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`Invalid cost profiles: ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`);
    this.name = 'CostProfilesError';
  }
}

export function isProfileName(value: unknown): value is ProfileName {
  return typeof value === 'string' && (PROFILE_ORDER as readonly string[]).includes(value);
}

/** 0 for Small, 1 for Medium, 2 for Large. */
export function profileRank(profile: ProfileName): number {
  const rank = PROFILE_ORDER.indexOf(profile);
  if (rank < 0) throw new RangeError(`unknown profile ${JSON.stringify(profile)}`);
  return rank;
}

/** The next larger profile, or undefined for Large. */
export function profileAbove(profile: ProfileName): ProfileName | undefined {
  return PROFILE_ORDER[profileRank(profile) + 1];
}

/** The next smaller profile, or undefined for Small. */
export function profileBelow(profile: ProfileName): ProfileName | undefined {
  const rank = profileRank(profile);
  return rank === 0 ? undefined : PROFILE_ORDER[rank - 1];
}

/** The larger of two profiles. */
export function maxProfile(a: ProfileName, b: ProfileName): ProfileName {
  return profileRank(a) >= profileRank(b) ? a : b;
}

/** What one hour of `profile` costs a member: VMs plus monitoring if it is on. */
export function hourlyCost(profiles: CostProfiles, profile: ProfileName): number {
  const p = profiles.profiles[profile];
  return p.vmCount * profiles.vmHourlyPrice + (p.monitoring ? profiles.monitoringHourlyPerMember : 0);
}

const TOP_KEYS = ['currency', 'vmSize', 'vmHourlyPrice', 'monitoringHourlyPerMember', 'profiles'];
const PROFILE_KEYS = ['vmCount', 'monitoring', 'capacityTpm'];
/** A scale set holds at most 1,000 VMs (with a platform image). */
const MAX_VMS = 1000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The defaults with a consortium's override merged on top, checked as a whole: every problem is listed
 * with its JSON pointer (the merged value is checked, so an override that breaks the profile order
 * together with the defaults is caught too).
 */
export function resolveCostProfiles(override?: CostProfilesOverride | null): CostProfiles {
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const o: unknown = override ?? {};
  if (!isObject(o)) throw new CostProfilesError([{ path: '', message: 'must be an object' }]);
  for (const key of Object.keys(o)) if (!TOP_KEYS.includes(key)) problem(`/${key}`, 'is not a known setting');

  const d = DEFAULT_COST_PROFILES;
  const merged: CostProfiles = {
    currency: (o['currency'] ?? d.currency) as string,
    vmSize: (o['vmSize'] ?? d.vmSize) as string,
    vmHourlyPrice: (o['vmHourlyPrice'] ?? d.vmHourlyPrice) as number,
    monitoringHourlyPerMember: (o['monitoringHourlyPerMember'] ?? d.monitoringHourlyPerMember) as number,
    profiles: { ...d.profiles },
  };
  if (typeof merged.currency !== 'string' || !/^[A-Z]{3}$/.test(merged.currency)) {
    problem('/currency', 'must be a three-letter ISO 4217 code such as USD');
  }
  if (typeof merged.vmSize !== 'string' || !/^Standard_[A-Za-z0-9_]{2,60}$/.test(merged.vmSize)) {
    problem('/vmSize', 'must be an Azure VM size such as Standard_D4s_v5');
  }
  for (const key of ['vmHourlyPrice', 'monitoringHourlyPerMember'] as const) {
    const v = merged[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) problem(`/${key}`, 'must be a number ≥ 0');
  }

  const ps = o['profiles'];
  if (ps !== undefined && !isObject(ps)) problem('/profiles', 'must be an object');
  else if (ps) {
    for (const [name, value] of Object.entries(ps)) {
      const path = `/profiles/${name}`;
      if (!isProfileName(name)) {
        problem(path, `is not a profile (${PROFILE_ORDER.join(', ')})`);
        continue;
      }
      if (!isObject(value)) {
        problem(path, 'must be an object');
        continue;
      }
      for (const key of Object.keys(value)) {
        if (!PROFILE_KEYS.includes(key)) problem(`${path}/${key}`, 'is not a known setting');
      }
      merged.profiles[name] = { ...d.profiles[name], ...(value as Partial<CostProfile>), name };
    }
  }

  for (const name of PROFILE_ORDER) {
    const p = merged.profiles[name];
    const path = `/profiles/${name}`;
    if (!Number.isSafeInteger(p.vmCount) || p.vmCount < 1 || p.vmCount > MAX_VMS) {
      problem(`${path}/vmCount`, `must be an integer from 1 to ${MAX_VMS}`);
    }
    if (typeof p.monitoring !== 'boolean') problem(`${path}/monitoring`, 'must be true or false');
    if (typeof p.capacityTpm !== 'number' || !Number.isFinite(p.capacityTpm) || p.capacityTpm <= 0) {
      problem(`${path}/capacityTpm`, 'must be a number > 0');
    }
  }
  // The load rule moves one profile at a time and the schedule picks "the highest" profile: both need
  // each step up to add VMs and capacity. Checked only once each value is sound on its own.
  if (problems.length === 0) {
    for (let i = 1; i < PROFILE_ORDER.length; i++) {
      const lo = merged.profiles[PROFILE_ORDER[i - 1]!];
      const hi = merged.profiles[PROFILE_ORDER[i]!];
      if (hi.vmCount <= lo.vmCount) {
        problem(`/profiles/${hi.name}/vmCount`, `must be more than ${lo.name}'s ${lo.vmCount}`);
      }
      if (hi.capacityTpm <= lo.capacityTpm) {
        problem(`/profiles/${hi.name}/capacityTpm`, `must be more than ${lo.name}'s ${lo.capacityTpm}`);
      }
    }
  }
  if (problems.length > 0) throw new CostProfilesError(problems);
  return merged;
}
