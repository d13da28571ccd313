/**
 * A member's scaling policy: which cost profile it should run now, from its schedule (windows in its own
 * time zone), a manual override, and an optional load rule with hysteresis. Pure and deterministic: the
 * time comes in as an argument and nothing here reads a clock.
 *
 * Schedule semantics (local wall-clock time of `timeZone`, evaluated per whole minute):
 * - A days/hours window `{ days, from, to }` opens on each listed day the first time the local clock
 *   reaches `from` and closes the first time it then reaches `to` (`to` ≤ `from` means the next day;
 *   `'24:00'` means midnight at the end of the day). So 08:00–18:00 is 08:00–18:00 local on both sides
 *   of a DST change. If `from` does not exist that day (clocks spring forward over it) the window opens
 *   when they do, e.g. 02:30 → 03:00; the same holds for `to`. When clocks fall back, the repeated hour
 *   belongs to the window if the clock had reached `from` (and not yet `to`) on its first pass, so a
 *   window never opens twice in one day: 00:00–01:30 on a night that repeats 01:00–02:00 closes at the
 *   first 01:30 and stays closed.
 * - A cron window (5 fields, minute hour day-of-month month day-of-week, croner's syntax including L, W
 *   and #; day-of-month and day-of-week are OR-ed as in Vixie cron) covers every minute whose local
 *   time the expression matches: local minutes that do not exist (spring forward) are not covered, and
 *   a repeated local minute (fall back) is covered both times.
 * - When several windows are open the highest profile wins (the first listed among equals); when none
 *   is, `defaultProfile` applies. A window may name a profile below the default (e.g. weekends Small).
 */

import { Cron, CronPattern } from 'croner';
import {
  type CostProfiles,
  type ProfileName,
  PROFILE_ORDER,
  isProfileName,
  maxProfile,
  profileAbove,
  profileBelow,
  profileRank,
} from './cost-profiles';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface CronWindow {
  name?: string;
  profile: ProfileName;
  cron: string;
}

export interface DaysWindow {
  name?: string;
  profile: ProfileName;
  days: Weekday[];
  /** `HH:MM`, local time. */
  from: string;
  /** `HH:MM` or `24:00`, local time; at or before `from` means the next day. */
  to: string;
}

export type ScheduleWindow = CronWindow | DaysWindow;

export interface LoadRule {
  metric: 'tpm' | 'cpu';
  /** Up one profile when load stays above this % of the current profile's capacity… */
  upAbovePercent: number;
  /** …for this many whole minutes. */
  upAfterMinutes: number;
  /** Down one profile when load stays below this % of the next lower profile's capacity… */
  downBelowPercent: number;
  /** …for this many whole minutes. */
  downAfterMinutes: number;
}

export interface ScalingPolicy {
  /** IANA time zone name, e.g. Europe/London. */
  timeZone: string;
  defaultProfile: ProfileName;
  windows: ScheduleWindow[];
  load?: LoadRule;
}

export interface WindowRef {
  /** Position in `policy.windows`. */
  index: number;
  name?: string;
  /** E.g. `Mon–Fri 08:00–18:00 Europe/London` or `cron '* 8-17 * * 1-5' Europe/London`. */
  description: string;
}

export interface ScheduleMatch {
  profile: ProfileName;
  /** The window that decided; absent when the default profile applies. */
  window?: WindowRef;
}

export interface ScheduleChange extends ScheduleMatch {
  /** The first minute (UTC ms) at which the scheduled profile differs. */
  atMs: number;
  previous: ProfileName;
}

/** One minute of load; `profile` is what served that minute (default: `current`), needed for cpu. */
export interface LoadSample {
  atMs: number;
  tpm?: number;
  cpuPercent?: number;
  profile?: ProfileName;
}

export interface ProfileOverride {
  profile: ProfileName;
  /** UTC ms or an ISO 8601 date-time; the override applies while `nowMs` is before it. */
  expiresAt: number | string;
}

export interface DesiredProfileInput {
  policy: ScalingPolicy;
  profiles: CostProfiles;
  nowMs: number;
  /** The profile the member runs now (the scale set's actual capacity). */
  current: ProfileName;
  override?: ProfileOverride | null;
  /** One-minute samples, most recent last; gaps allowed (a missing minute is neither above nor below). */
  samples?: readonly LoadSample[];
}

export type DesiredSource = 'override' | 'load' | 'schedule' | 'default';

export interface DesiredProfile {
  profile: ProfileName;
  reason: string;
  source: DesiredSource;
  /** What the schedule alone says (for the dashboard). */
  scheduled: ScheduleMatch;
}

export interface PolicyProblem {
  /** JSON pointer into the policy, e.g. `/windows/0/from`. */
  path: string;
  message: string;
}

export class ScalingPolicyError extends Error {
  readonly code = 'SCALING_POLICY.INVALID';
  constructor(readonly problems: PolicyProblem[]) {
    super(`Invalid scaling policy: ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`);
    this.name = 'ScalingPolicyError';
  }
}

/** Below this many percentage points between the thresholds, ordinary minute-to-minute noise crosses both. */
export const MIN_HYSTERESIS_POINTS = 10;
/**
 * The newest sample may be this old and still count (platform metrics arrive a minute or three late);
 * older, the load is unknown and the load rule neither scales up nor down.
 */
export const MAX_SAMPLE_AGE_MINUTES = 5;
const MAX_WINDOWS = 50;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** How many minutes of samples `desiredProfile` looks at for this policy (0 without a load rule). */
export function samplesNeededMinutes(policy: ScalingPolicy): number {
  const load = policy.load;
  return load ? Math.max(load.upAfterMinutes, load.downAfterMinutes) + MAX_SAMPLE_AGE_MINUTES : 0;
}

// ---------------------------------------------------------------------------------------------------
// Time zones: UTC offset per minute through Intl, cached.

interface Zone {
  name: string;
  format: Intl.DateTimeFormat;
  offsets: Map<number, number>;
  firsts: Map<number, number>;
}

const zones = new Map<string, Zone>();
const CACHE_LIMIT = 200_000;
const ZONE_NAME = /^[A-Za-z]+(?:[/_+-][A-Za-z0-9]+)*$/;

function zone(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    if (!ZONE_NAME.test(name)) throw new RangeError(`not an IANA time zone name: ${name}`);
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    z = { name, format, offsets: new Map(), firsts: new Map() };
    zones.set(name, z);
  }
  return z;
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

/**
 * Local minus UTC at the minute containing `ms`. Every zone's offset has been a whole number of minutes
 * since 1972, so a minute is the finest grain the schedule needs.
 */
function offsetAt(z: Zone, ms: number): number {
  const at = floorMinute(ms);
  let offset = z.offsets.get(at);
  if (offset === undefined) {
    const f = { year: 0, month: 0, day: 0, hour: 0, minute: 0 };
    for (const part of z.format.formatToParts(new Date(at))) {
      if (part.type in f) f[part.type as keyof typeof f] = Number(part.value);
    }
    offset = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute) - at;
    if (z.offsets.size >= CACHE_LIMIT) z.offsets.clear();
    z.offsets.set(at, offset);
  }
  return offset;
}

/** The local wall-clock time of the minute containing `ms`, as if it were UTC ms. */
const wallAt = (z: Zone, ms: number) => floorMinute(ms) + offsetAt(z, ms);

/**
 * The first instant (whole minute, UTC ms) at which the local clock reads `wall` or later. Assumes at
 * most one offset change within a day of it, true of every zone in the tz database since 1970.
 */
function firstAtOrAfter(z: Zone, wall: number): number {
  const cached = z.firsts.get(wall);
  if (cached !== undefined) return cached;
  const before = offsetAt(z, wall - DAY);
  const after = offsetAt(z, wall + DAY);
  let result = Infinity;
  for (const offset of before === after ? [before] : [before, after]) {
    const u = wall - offset;
    if (wallAt(z, u) === wall) result = Math.min(result, u);
  }
  if (result === Infinity) {
    // `wall` falls in a spring-forward gap: the answer is the first minute after the jump.
    let lo = wall - Math.max(before, after); // before the jump: reads earlier than `wall`
    let hi = wall - Math.min(before, after); // after it
    if (wallAt(z, hi) < wall) hi = lo + 2 * DAY; // never for real zones; keeps the search bounded
    while (hi - lo > MINUTE) {
      const mid = floorMinute(lo + (hi - lo) / 2);
      if (wallAt(z, mid) >= wall) hi = mid;
      else lo = mid;
    }
    result = hi;
  }
  if (z.firsts.size >= CACHE_LIMIT) z.firsts.clear();
  z.firsts.set(wall, result);
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Compiled policies.

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const WEEK_ORDER: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

type CompiledWindow = { index: number; profile: ProfileName; ref: WindowRef } & (
  | { kind: 'days'; days: Set<number>; fromMin: number; toMin: number }
  | { kind: 'cron'; cron: Cron; firstHour: number; firstMinute: number; hours: number[]; allMinutes: boolean }
);

interface CompiledPolicy {
  zone: Zone;
  windows: CompiledWindow[];
}

const compiled = new WeakMap<ScalingPolicy, CompiledPolicy>();

function minutesOf(hhmm: string): number {
  if (hhmm === '24:00') return 1440;
  const m = HHMM.exec(hhmm)!;
  return Number(m[1]) * 60 + Number(m[2]);
}

function daysLabel(days: readonly Weekday[]): string {
  const set = new Set(days);
  const runs: string[] = [];
  const cap = (d: Weekday) => d[0]!.toUpperCase() + d.slice(1);
  for (let i = 0; i < 7; i++) {
    if (!set.has(WEEK_ORDER[i]!)) continue;
    let j = i;
    while (j + 1 < 7 && set.has(WEEK_ORDER[j + 1]!)) j++;
    runs.push(j === i ? cap(WEEK_ORDER[i]!) : `${cap(WEEK_ORDER[i]!)}–${cap(WEEK_ORDER[j]!)}`);
    i = j;
  }
  return runs.join(', ');
}

function newCron(expression: string): Cron {
  // utcOffset 0: the cron sees the local wall-clock time we computed, so it does no zone math itself.
  return new Cron(expression, { mode: '5-part', utcOffset: 0, paused: true });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a policy and lists every problem with its JSON pointer (ScalingPolicyError); returns it typed.
 * The JSON Schema (schemas/scaling-policy.schema.json) checks shapes at the edge; this also checks what a
 * schema cannot: the time zone exists, cron expressions parse, and the load rule cannot flap.
 */
export function validateScalingPolicy(policy: unknown): ScalingPolicy {
  const problems: PolicyProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const unknownKeys = (o: Record<string, unknown>, path: string, allowed: string[]) => {
    for (const key of Object.keys(o)) if (!allowed.includes(key)) problem(`${path}/${key}`, 'is not allowed');
  };
  if (!isObject(policy)) throw new ScalingPolicyError([{ path: '', message: 'must be an object' }]);
  unknownKeys(policy, '', ['timeZone', 'defaultProfile', 'windows', 'load']);

  const tz = policy['timeZone'];
  if (typeof tz !== 'string') problem('/timeZone', 'must be an IANA time zone name such as Europe/London');
  else {
    try {
      zone(tz);
    } catch {
      zones.delete(tz);
      problem('/timeZone', `${JSON.stringify(tz)} is not an IANA time zone name such as Europe/London`);
    }
  }
  const profileProblem = (path: string, v: unknown) => {
    if (!isProfileName(v)) problem(path, `must be one of ${PROFILE_ORDER.join(', ')}`);
  };
  profileProblem('/defaultProfile', policy['defaultProfile']);

  const windows = policy['windows'];
  if (!Array.isArray(windows)) problem('/windows', 'must be an array (empty for none)');
  else {
    if (windows.length > MAX_WINDOWS) problem('/windows', `must have at most ${MAX_WINDOWS} windows`);
    windows.forEach((w: unknown, i) => checkWindow(w, `/windows/${i}`));
  }

  const load = policy['load'];
  if (load !== undefined) checkLoad(load);
  if (problems.length > 0) throw new ScalingPolicyError(problems);
  return policy as unknown as ScalingPolicy;

  function checkWindow(w: unknown, path: string) {
    if (!isObject(w)) return problem(path, 'must be an object');
    unknownKeys(w, path, ['name', 'profile', 'cron', 'days', 'from', 'to']);
    const name = w['name'];
    if (name !== undefined && (typeof name !== 'string' || name.trim() === '' || name.length > 60)) {
      problem(`${path}/name`, 'must be text of 1 to 60 characters');
    }
    profileProblem(`${path}/profile`, w['profile']);
    const hasCron = 'cron' in w;
    const hasDays = 'days' in w || 'from' in w || 'to' in w;
    if (hasCron === hasDays) {
      return problem(path, 'must have either `cron` or `days`, `from` and `to`');
    }
    if (hasCron) {
      const expr = w['cron'];
      if (typeof expr !== 'string' || expr.length > 120)
        return problem(`${path}/cron`, 'must be a cron expression');
      try {
        newCron(expr);
      } catch (e) {
        const why = (e instanceof Error ? e.message : String(e)).replace(/^Cron\w*:\s*/, '');
        problem(`${path}/cron`, `is not a 5-field cron expression (minute hour day month weekday): ${why}`);
      }
      return;
    }
    const days = w['days'];
    if (
      !Array.isArray(days) ||
      days.length === 0 ||
      !days.every((d) => WEEKDAYS.includes(d as Weekday)) ||
      new Set(days).size !== days.length
    ) {
      problem(`${path}/days`, 'must list distinct days from mon, tue, wed, thu, fri, sat, sun');
    }
    const from = w['from'];
    const to = w['to'];
    const fromOk = typeof from === 'string' && HHMM.test(from);
    const toOk = typeof to === 'string' && (HHMM.test(to) || to === '24:00');
    if (!fromOk) problem(`${path}/from`, 'must be a local time HH:MM (00:00 to 23:59)');
    if (!toOk) problem(`${path}/to`, 'must be a local time HH:MM (00:00 to 24:00)');
    if (fromOk && toOk && minutesOf(from) === minutesOf(to)) {
      problem(`${path}/to`, "must differ from `from` (for a whole day use '00:00' to '24:00')");
    }
  }

  function checkLoad(load: unknown) {
    if (!isObject(load)) return problem('/load', 'must be an object');
    unknownKeys(load, '/load', [
      'metric',
      'upAbovePercent',
      'upAfterMinutes',
      'downBelowPercent',
      'downAfterMinutes',
    ]);
    if (load['metric'] !== 'tpm' && load['metric'] !== 'cpu') problem('/load/metric', 'must be tpm or cpu');
    const up = load['upAbovePercent'];
    const down = load['downBelowPercent'];
    const upOk = typeof up === 'number' && up > 0 && up <= 100;
    const downOk = typeof down === 'number' && down > 0 && down < 100;
    if (!upOk) problem('/load/upAbovePercent', 'must be a percentage above 0 and at most 100');
    if (!downOk) problem('/load/downBelowPercent', 'must be a percentage above 0 and below 100');
    if (upOk && downOk && down > up - MIN_HYSTERESIS_POINTS) {
      problem(
        '/load/downBelowPercent',
        `must be at least ${MIN_HYSTERESIS_POINTS} points below upAbovePercent (${up}): after scaling down ` +
          `the load may sit just under ${down}% of the smaller profile's capacity, which ` +
          (down >= up
            ? 'already scales straight back up (it would flap)'
            : 'noise would push over the up threshold'),
      );
    }
    for (const [key, max] of [
      ['upAfterMinutes', 120],
      ['downAfterMinutes', 1440],
    ] as const) {
      const v = load[key];
      if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > max) {
        problem(`/load/${key}`, `must be a whole number of minutes from 1 to ${max}`);
      }
    }
  }
}

function compile(policy: ScalingPolicy): CompiledPolicy {
  let c = compiled.get(policy);
  if (c) return c;
  validateScalingPolicy(policy);
  const z = zone(policy.timeZone);
  const windows = policy.windows.map((w, index): CompiledWindow => {
    const named = w.name === undefined ? {} : { name: w.name };
    if ('cron' in w) {
      const pattern = new CronPattern(w.cron, undefined, { mode: '5-part' });
      const hours = pattern.hour.flatMap((on, h) => (on ? [h] : []));
      return {
        kind: 'cron',
        index,
        profile: w.profile,
        ref: { index, ...named, description: `cron '${w.cron}' ${policy.timeZone}` },
        cron: newCron(w.cron),
        hours,
        firstHour: hours[0]!,
        firstMinute: pattern.minute.indexOf(1),
        allMinutes: pattern.minute.every((on) => on),
      };
    }
    return {
      kind: 'days',
      index,
      profile: w.profile,
      ref: { index, ...named, description: `${daysLabel(w.days)} ${w.from}–${w.to} ${policy.timeZone}` },
      days: new Set(w.days.map((d) => WEEKDAYS.indexOf(d))),
      fromMin: minutesOf(w.from),
      toMin: minutesOf(w.to),
    };
  });
  c = { zone: z, windows };
  compiled.set(policy, c);
  return c;
}

// ---------------------------------------------------------------------------------------------------
// Schedule.

function daysWindowBounds(z: Zone, w: CompiledWindow & { kind: 'days' }, dayWall: number) {
  const start = firstAtOrAfter(z, dayWall + w.fromMin * MINUTE);
  const endDay = w.toMin > w.fromMin ? dayWall : dayWall + DAY;
  return { start, end: firstAtOrAfter(z, endDay + w.toMin * MINUTE) };
}

function isOpen(z: Zone, w: CompiledWindow, t: number): boolean {
  const wall = wallAt(z, t);
  if (w.kind === 'cron') return w.cron.match(new Date(wall));
  const today = Math.floor(wall / DAY) * DAY;
  // Yesterday's occurrence may run past midnight (or close late after a fall-back).
  for (const day of [today - DAY, today]) {
    if (!w.days.has(new Date(day).getUTCDay())) continue;
    const { start, end } = daysWindowBounds(z, w, day);
    if (start <= t && t < end) return true;
  }
  return false;
}

function evaluate(c: CompiledPolicy, policy: ScalingPolicy, t: number): ScheduleMatch {
  let best: CompiledWindow | undefined;
  for (const w of c.windows) {
    if ((!best || profileRank(w.profile) > profileRank(best.profile)) && isOpen(c.zone, w, t)) best = w;
  }
  return best ? { profile: best.profile, window: best.ref } : { profile: policy.defaultProfile };
}

/** What the schedule alone says at `atUtcMs` (evaluated for the whole minute containing it). */
export function scheduledProfile(policy: ScalingPolicy, atUtcMs: number): ScheduleMatch {
  return evaluate(compile(policy), policy, floorMinute(atUtcMs));
}

/** Minutes in (a, b] at which a cron window opens or closes. */
function cronFlips(z: Zone, w: CompiledWindow & { kind: 'cron' }, a: number, b: number): number[] {
  const flips: number[] = [];
  const open = (t: number) => w.cron.match(new Date(wallAt(z, t)));
  let t = a;
  let state = open(t);
  while (t < b) {
    // Skip stretches that cannot change state: a day the expression never matches, an hour it does not
    // match, or (open, every minute matching) the rest of the hour. Only when no offset change lies
    // between, so the skipped minutes really are consecutive local minutes.
    const wall = wallAt(z, t);
    const minuteOfDay = Math.floor((wall % DAY) / MINUTE);
    const hour = Math.floor(minuteOfDay / 60);
    let step = MINUTE;
    if (!state) {
      const day = wall - minuteOfDay * MINUTE;
      const dayOpen = w.cron.match(new Date(day + w.firstHour * HOUR + w.firstMinute * MINUTE));
      if (!dayOpen) step = (1440 - minuteOfDay) * MINUTE;
      else if (!w.hours.includes(hour)) step = (60 - (minuteOfDay % 60)) * MINUTE;
    } else if (w.allMinutes) step = (60 - (minuteOfDay % 60)) * MINUTE;
    if (step > MINUTE && offsetAt(z, t + step) !== offsetAt(z, t)) step = MINUTE;
    const next = t + step;
    if (next > b) break;
    const s = open(next);
    if (s !== state) flips.push(next);
    state = s;
    t = next;
  }
  return flips;
}

/**
 * The first minute after `fromUtcMs`, and no later than `fromUtcMs + horizonMs`, at which the scheduled
 * profile differs from the one at `fromUtcMs`; undefined if it does not change within the horizon.
 */
export function nextChange(
  policy: ScalingPolicy,
  fromUtcMs: number,
  horizonMs: number,
): ScheduleChange | undefined {
  const c = compile(policy);
  const z = c.zone;
  const start = floorMinute(fromUtcMs);
  const end = fromUtcMs + horizonMs;
  const previous = evaluate(c, policy, start).profile;
  // A day at a time, so a change soon is found without enumerating the whole horizon.
  for (let a = start; a < end; a += DAY) {
    const b = Math.min(a + DAY, end);
    const candidates = new Set<number>();
    const firstDay = Math.floor(wallAt(z, a) / DAY) * DAY - DAY;
    const lastDay = Math.floor(wallAt(z, b) / DAY) * DAY + DAY;
    for (const w of c.windows) {
      if (w.kind === 'cron') {
        for (const t of cronFlips(z, w, a, b)) candidates.add(t);
        continue;
      }
      for (let day = firstDay; day <= lastDay; day += DAY) {
        if (!w.days.has(new Date(day).getUTCDay())) continue;
        const { start: s, end: e } = daysWindowBounds(z, w, day);
        for (const t of [s, e]) if (t > a && t <= b) candidates.add(t);
      }
    }
    for (const t of [...candidates].sort((x, y) => x - y)) {
      const m = evaluate(c, policy, t);
      if (m.profile !== previous) return { atMs: t, previous, ...m };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Desired profile: override, then schedule, then load.

function expiresAtMs(expiresAt: number | string): number {
  return typeof expiresAt === 'number' ? expiresAt : Date.parse(expiresAt);
}

const pct = (percent: number) => `${Math.round(percent)}%`;

function windowReason(m: ScheduleMatch): string {
  if (!m.window) return `${m.profile}: default profile, no window open`;
  const name = m.window.name === undefined ? '' : ` '${m.window.name}'`;
  return `${m.profile}: window${name} ${m.window.description}`;
}

/**
 * Checks that every one of the `minutes` whole minutes ending with the newest sample has a sample and
 * that each sample's load (a percentage of a capacity) passes; returns the loads seen, or undefined if the
 * load did not stay there.
 */
function sustained(
  samples: readonly LoadSample[],
  nowMs: number,
  minutes: number,
  load: (s: LoadSample) => number | undefined,
  pass: (r: number) => boolean,
): number[] | undefined {
  let newest = -Infinity;
  for (const s of samples) if (s.atMs <= nowMs && load(s) !== undefined && s.atMs > newest) newest = s.atMs;
  if (newest < nowMs - MAX_SAMPLE_AGE_MINUTES * MINUTE) return undefined;
  const last = Math.floor(newest / MINUTE);
  const covered = new Set<number>();
  const seen: number[] = [];
  for (const s of samples) {
    const minute = Math.floor(s.atMs / MINUTE);
    if (s.atMs > nowMs || minute > last || minute <= last - minutes) continue;
    const r = load(s);
    if (r === undefined) continue;
    if (!pass(r)) return undefined;
    covered.add(minute);
    seen.push(r);
  }
  return covered.size === minutes ? seen : undefined;
}

/**
 * The profile a member should run at `nowMs`, with a one-sentence reason:
 * 1. an unexpired manual override wins;
 * 2. otherwise the schedule (a window, or the default) sets the floor;
 * 3. the load rule, judged from `current`, may go up one profile (load above `upAbovePercent` of the
 *    current profile's capacity for `upAfterMinutes`), or hold a profile above the floor until the load
 *    stays below `downBelowPercent` of the next lower profile's capacity for `downAfterMinutes`; each step
 *    down is judged against its own lower profile, so a quiet member leaving a Large window goes
 *    straight to Small, a busy one only as far as its load allows. Load never goes below the floor.
 * For cpu, a sample's load on profile X's capacity is cpuPercent × VMs(serving profile) / VMs(X).
 */
export function desiredProfile(input: DesiredProfileInput): DesiredProfile {
  const { policy, profiles, nowMs, current } = input;
  const scheduled = scheduledProfile(policy, nowMs);
  const override = input.override;
  if (override && nowMs < expiresAtMs(override.expiresAt)) {
    const until = new Date(expiresAtMs(override.expiresAt)).toISOString();
    return {
      profile: override.profile,
      reason: `${override.profile}: manual override until ${until}`,
      source: 'override',
      scheduled,
    };
  }
  const floor = scheduled.profile;
  const bySchedule: DesiredProfile = {
    profile: floor,
    reason: windowReason(scheduled),
    source: scheduled.window ? 'schedule' : 'default',
    scheduled,
  };
  const rule = policy.load;
  if (!rule) return bySchedule;

  const samples = input.samples ?? [];
  // A sample as a percentage of profile x's capacity. Multiplied before it is divided: a load exactly at
  // a threshold (609 tpm of 2,100 is 29%) then compares as equal, where 609 / 2100 * 100 gives 28.999….
  const percentOf = (x: ProfileName) => (s: LoadSample) => {
    if (rule.metric === 'tpm') {
      return typeof s.tpm === 'number' && Number.isFinite(s.tpm)
        ? (s.tpm * 100) / profiles.profiles[x].capacityTpm
        : undefined;
    }
    if (typeof s.cpuPercent !== 'number' || !Number.isFinite(s.cpuPercent)) return undefined;
    const serving = profiles.profiles[s.profile ?? current].vmCount;
    return (s.cpuPercent * serving) / profiles.profiles[x].vmCount;
  };

  const above = profileAbove(current);
  if (above) {
    const up = sustained(
      samples,
      nowMs,
      rule.upAfterMinutes,
      percentOf(current),
      (p) => p > rule.upAbovePercent,
    );
    if (up) {
      const profile = maxProfile(floor, above);
      if (profile === floor) return bySchedule;
      const reason = `${profile}: load ${pct(Math.min(...up))} of ${current}'s capacity for ${rule.upAfterMinutes} min`;
      return { profile, reason, source: 'load', scheduled };
    }
  }

  let target = current;
  let lastDown: number[] | undefined;
  while (profileRank(target) > profileRank(floor)) {
    const lower = profileBelow(target)!;
    const down = sustained(
      samples,
      nowMs,
      rule.downAfterMinutes,
      percentOf(lower),
      (p) => p < rule.downBelowPercent,
    );
    if (!down) break;
    target = lower;
    lastDown = down;
  }
  if (profileRank(target) <= profileRank(floor)) return bySchedule;
  const reason = lastDown
    ? `${target}: load ${pct(Math.max(...lastDown))} of ${target}'s capacity for ${rule.downAfterMinutes} min (down from ${current})`
    : `${target}: kept for load until it stays below ${rule.downBelowPercent}% of ` +
      `${profileBelow(target)!}'s capacity for ${rule.downAfterMinutes} min (${windowReason(scheduled)})`;
  return { profile: target, reason, source: 'load', scheduled };
}
