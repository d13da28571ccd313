import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { Cron } from 'croner';
import fc from 'fast-check';
import { DEFAULT_COST_PROFILES, type ProfileName, profileRank, resolveCostProfiles } from './cost-profiles';
import {
  type DaysWindow,
  type LoadRule,
  type LoadSample,
  type ScalingPolicy,
  type ScheduleWindow,
  type Weekday,
  MAX_SAMPLE_AGE_MINUTES,
  ScalingPolicyError,
  desiredProfile,
  nextChange,
  samplesNeededMinutes,
  scheduledProfile,
  validateScalingPolicy,
} from './schedule';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const utc = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

function problemsOf(policy: unknown) {
  try {
    validateScalingPolicy(policy);
  } catch (e) {
    expect(e).toBeInstanceOf(ScalingPolicyError);
    expect((e as ScalingPolicyError).code).toBe('SCALING_POLICY.INVALID');
    return (e as ScalingPolicyError).problems;
  }
  throw new Error('expected ScalingPolicyError');
}

const london: ScalingPolicy = {
  timeZone: 'Europe/London',
  defaultProfile: 'Small',
  windows: [{ name: 'business hours', profile: 'Large', days: WEEKDAYS, from: '08:00', to: '18:00' }],
};

describe('validateScalingPolicy', () => {
  it('accepts a full policy and returns it', () => {
    const p: ScalingPolicy = {
      ...london,
      windows: [...london.windows, { name: 'month end', profile: 'Medium', cron: '* 18-23 L * *' }],
      load: {
        metric: 'cpu',
        upAbovePercent: 80,
        upAfterMinutes: 5,
        downBelowPercent: 60,
        downAfterMinutes: 30,
      },
    };
    expect(validateScalingPolicy(p)).toBe(p);
  });

  it('lists every problem with its JSON pointer', () => {
    const problems = problemsOf({
      timeZone: 'Mars/Olympus_Mons',
      defaultProfile: 'Huge',
      windows: [
        { profile: 'Large', cron: '* * * * * *' },
        { profile: 'Large', days: ['mon', 'funday'], from: '8:00', to: '25:00' },
        { profile: 'Large', days: ['mon'], from: '08:00', to: '08:00' },
        { profile: 'Large', cron: '* * * * *', from: '08:00' },
        { profile: 'Large' },
        { profile: 'Medium', cron: '61 * * * *', colour: 'red' },
        'weekends',
      ],
      load: {
        metric: 'memory',
        upAbovePercent: 120,
        upAfterMinutes: 0,
        downBelowPercent: 0,
        downAfterMinutes: 2.5,
      },
      extra: true,
    });
    expect(problems.map((p) => p.path)).toEqual([
      '/extra',
      '/timeZone',
      '/defaultProfile',
      '/windows/0/cron',
      '/windows/1/days',
      '/windows/1/from',
      '/windows/1/to',
      '/windows/2/to',
      '/windows/3',
      '/windows/4',
      '/windows/5/colour',
      '/windows/5/cron',
      '/windows/6',
      '/load/metric',
      '/load/upAbovePercent',
      '/load/downBelowPercent',
      '/load/upAfterMinutes',
      '/load/downAfterMinutes',
    ]);
    expect(problems.find((p) => p.path === '/windows/0/cron')!.message).toMatch(/5-field cron/);
    expect(problems.find((p) => p.path === '/windows/2/to')!.message).toMatch(/24:00/);
  });

  it('refuses load rules without a real hysteresis band, saying why', () => {
    const rule = (up: number, down: number) => ({
      ...london,
      load: {
        metric: 'tpm',
        upAbovePercent: up,
        upAfterMinutes: 5,
        downBelowPercent: down,
        downAfterMinutes: 30,
      },
    });
    const flap = problemsOf(rule(70, 75));
    expect(flap).toHaveLength(1);
    expect(flap[0]!.path).toBe('/load/downBelowPercent');
    expect(flap[0]!.message).toMatch(/flap/);
    expect(problemsOf(rule(70, 70))[0]!.message).toMatch(/flap/);
    expect(problemsOf(rule(75, 70))[0]!.message).toMatch(/noise/);
    expect(validateScalingPolicy(rule(75, 65))).toBeDefined();
  });

  it('is applied by the evaluators, which throw on a bad policy', () => {
    const bad = { ...london, timeZone: 'Europe/Londinium' };
    expect(() => scheduledProfile(bad, 0)).toThrow(ScalingPolicyError);
    expect(() => nextChange(bad, 0, DAY)).toThrow(ScalingPolicyError);
  });

  it('needs the longer of the two load durations plus the sample age allowance', () => {
    expect(samplesNeededMinutes(london)).toBe(0);
    expect(
      samplesNeededMinutes({
        ...london,
        load: {
          metric: 'tpm',
          upAbovePercent: 80,
          upAfterMinutes: 5,
          downBelowPercent: 60,
          downAfterMinutes: 30,
        },
      }),
    ).toBe(30 + MAX_SAMPLE_AGE_MINUTES);
  });
});

describe('schemas/scaling-policy.schema.json', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const dir = join(__dirname, '..', 'schemas');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.schema.json'))) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, f), 'utf8')) as object);
  }
  const validate = ajv.getSchema('urn:trustnet:schema:scaling-policy')!;

  it('accepts what validateScalingPolicy accepts and refuses bad shapes', () => {
    expect(validate(london)).toBe(true);
    expect(validate({ ...london, windows: [{ profile: 'Large', cron: '* 8-17 * * 1-5' }] })).toBe(true);
    expect(validate({ ...london, windows: [{ profile: 'Large', cron: '* * * * *', days: ['mon'] }] })).toBe(
      false,
    );
    expect(
      validate({ ...london, windows: [{ profile: 'Large', days: [], from: '08:00', to: '09:00' }] }),
    ).toBe(false);
    expect(
      validate({ ...london, windows: [{ profile: 'Large', days: ['mon'], from: '24:00', to: '09:00' }] }),
    ).toBe(false);
    expect(validate({ ...london, defaultProfile: 'Tiny' })).toBe(false);
    expect(validate({ timeZone: 'UTC', defaultProfile: 'Small' })).toBe(false);
  });

  it('agrees with validateScalingPolicy on generated policies', () => {
    const hhmm = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    const window = fc.oneof(
      fc.record({
        profile: fc.constantFrom<ProfileName>('Small', 'Medium', 'Large'),
        cron: fc.constantFrom('* 8-17 * * 1-5', '*/5 * * * *', '0 0 L * *'),
      }),
      fc.record({
        profile: fc.constantFrom<ProfileName>('Small', 'Medium', 'Large'),
        days: fc.uniqueArray(fc.constantFrom<Weekday>('mon', 'tue', 'sat', 'sun'), { minLength: 1 }),
        from: hhmm,
        to: fc.oneof(hhmm, fc.constant('24:00')),
      }),
    );
    const load = fc.record({
      metric: fc.constantFrom<'tpm' | 'cpu'>('tpm', 'cpu'),
      upAbovePercent: fc.integer({ min: 1, max: 100 }),
      upAfterMinutes: fc.integer({ min: 1, max: 120 }),
      downBelowPercent: fc.integer({ min: 1, max: 99 }),
      downAfterMinutes: fc.integer({ min: 1, max: 1440 }),
    });
    const policy = fc.record(
      {
        timeZone: fc.constantFrom('Europe/London', 'Asia/Kolkata', 'Pacific/Chatham'),
        defaultProfile: fc.constantFrom<ProfileName>('Small', 'Medium'),
        windows: fc.array(window, { maxLength: 4 }),
        load,
      },
      { requiredKeys: ['timeZone', 'defaultProfile', 'windows'] },
    );
    fc.assert(
      fc.property(policy, (p) => {
        try {
          validateScalingPolicy(p);
        } catch (e) {
          // The schema cannot compare fields: only the band and from = to are left to the code.
          for (const problem of (e as ScalingPolicyError).problems) {
            expect(problem.path).toMatch(/^(\/load\/downBelowPercent|\/windows\/\d+\/to)$/);
          }
        }
        expect(validate(p)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('scheduledProfile and nextChange: examples', () => {
  it('business hours are 08:00–18:00 London time on both sides of the March change', () => {
    // Fri 28 Mar 2025 is GMT (UTC+0); Mon 31 Mar 2025 is BST (UTC+1).
    expect(scheduledProfile(london, utc('2025-03-28T07:59:00Z')).profile).toBe('Small');
    expect(scheduledProfile(london, utc('2025-03-28T08:00:00Z'))).toEqual({
      profile: 'Large',
      window: { index: 0, name: 'business hours', description: 'Mon–Fri 08:00–18:00 Europe/London' },
    });
    expect(scheduledProfile(london, utc('2025-03-28T17:59:59Z')).profile).toBe('Large');
    expect(scheduledProfile(london, utc('2025-03-28T18:00:00Z')).profile).toBe('Small');
    expect(scheduledProfile(london, utc('2025-03-31T06:59:00Z')).profile).toBe('Small');
    expect(scheduledProfile(london, utc('2025-03-31T07:00:00Z')).profile).toBe('Large');
    expect(scheduledProfile(london, utc('2025-03-31T17:00:00Z')).profile).toBe('Small');

    const edges: string[] = [];
    let t = utc('2025-03-27T12:00:00Z');
    for (let i = 0; i < 4; i++) {
      const c = nextChange(london, t, 7 * DAY)!;
      edges.push(`${iso(c.atMs)} ${c.previous}→${c.profile}`);
      t = c.atMs;
    }
    expect(edges).toEqual([
      '2025-03-27T18:00:00.000Z Large→Small',
      '2025-03-28T08:00:00.000Z Small→Large',
      '2025-03-28T18:00:00.000Z Large→Small',
      '2025-03-31T07:00:00.000Z Small→Large', // the weekend passes without a change
    ]);
    expect(nextChange(london, utc('2025-03-28T18:00:00Z'), 2 * DAY)).toBeUndefined();
  });

  it('a window past midnight belongs to the day it opens', () => {
    const p: ScalingPolicy = {
      timeZone: 'Asia/Kolkata',
      defaultProfile: 'Small',
      windows: [{ profile: 'Medium', days: ['fri'], from: '22:00', to: '06:00' }],
    };
    // Kolkata is UTC+05:30 all year. Fri 7 Mar 2025 22:00 IST = 16:30Z.
    expect(scheduledProfile(p, utc('2025-03-07T16:29:00Z')).profile).toBe('Small');
    expect(scheduledProfile(p, utc('2025-03-07T16:30:00Z')).profile).toBe('Medium');
    expect(scheduledProfile(p, utc('2025-03-08T00:29:00Z')).profile).toBe('Medium'); // Sat 05:59
    expect(scheduledProfile(p, utc('2025-03-08T00:30:00Z')).profile).toBe('Small'); // Sat 06:00
    expect(scheduledProfile(p, utc('2025-03-07T00:00:00Z')).profile).toBe('Small'); // Fri 05:30, Thu not listed
    const whole = {
      ...p,
      windows: [{ profile: 'Large' as const, days: ['sun' as const], from: '00:00', to: '24:00' }],
    };
    expect(nextChange(whole, utc('2025-03-08T12:00:00Z'), 3 * DAY)!.atMs).toBe(utc('2025-03-08T18:30:00Z'));
    expect(nextChange(whole, utc('2025-03-09T12:00:00Z'), 3 * DAY)!.atMs).toBe(utc('2025-03-09T18:30:00Z'));
  });

  it('a start inside the spring-forward gap opens when the clocks jump; the repeated hour does not reopen', () => {
    const ny: ScalingPolicy = {
      timeZone: 'America/New_York',
      defaultProfile: 'Small',
      windows: [
        { name: 'night batch', profile: 'Large', days: ['sun'], from: '02:30', to: '03:30' },
        { name: 'early', profile: 'Medium', days: ['sun'], from: '00:00', to: '01:30' },
      ],
    };
    // 9 Mar 2025: 02:00 EST → 03:00 EDT at 07:00Z; 02:30 does not exist.
    expect(nextChange(ny, utc('2025-03-09T06:00:00Z'), DAY)).toMatchObject({
      atMs: utc('2025-03-09T06:30:00Z'), // 01:30 EST: 'early' closes
      profile: 'Small',
    });
    expect(nextChange(ny, utc('2025-03-09T06:30:00Z'), DAY)).toMatchObject({
      atMs: utc('2025-03-09T07:00:00Z'), // 03:00 EDT, the first minute after the gap
      profile: 'Large',
    });
    expect(nextChange(ny, utc('2025-03-09T07:00:00Z'), DAY)!.atMs).toBe(utc('2025-03-09T07:30:00Z'));
    // 2 Nov 2025: 02:00 EDT → 01:00 EST at 06:00Z; 01:00–01:59 happens twice.
    expect(scheduledProfile(ny, utc('2025-11-02T05:29:00Z')).profile).toBe('Medium'); // 01:29 EDT
    expect(scheduledProfile(ny, utc('2025-11-02T05:30:00Z')).profile).toBe('Small'); // 01:30 EDT
    expect(scheduledProfile(ny, utc('2025-11-02T06:10:00Z')).profile).toBe('Small'); // 01:10 EST, second pass
    expect(nextChange(ny, utc('2025-11-02T05:30:00Z'), DAY)!.atMs).toBe(utc('2025-11-02T07:30:00Z')); // 02:30 EST
  });

  it('cron windows cover every matching local minute, twice in a repeated hour and never in a gap', () => {
    const p = (cron: string): ScalingPolicy => ({
      timeZone: 'Europe/London',
      defaultProfile: 'Small',
      windows: [{ name: 'w', profile: 'Medium', cron }],
    });
    const business = p('* 8-17 * * 1-5');
    expect(scheduledProfile(business, utc('2025-03-31T07:00:00Z'))).toEqual({
      profile: 'Medium',
      window: { index: 0, name: 'w', description: "cron '* 8-17 * * 1-5' Europe/London" },
    });
    expect(scheduledProfile(business, utc('2025-03-31T16:59:00Z')).profile).toBe('Medium');
    expect(scheduledProfile(business, utc('2025-03-31T17:00:00Z')).profile).toBe('Small');
    // 26 Oct 2025: 02:00 BST → 01:00 GMT; `* 1 * * *` matches 00:00Z–00:59Z (BST) and 01:00Z–01:59Z (GMT).
    const one = p('* 1 * * *');
    expect(nextChange(one, utc('2025-10-25T23:30:00Z'), DAY)!.atMs).toBe(utc('2025-10-26T00:00:00Z'));
    expect(nextChange(one, utc('2025-10-26T00:00:00Z'), DAY)!.atMs).toBe(utc('2025-10-26T02:00:00Z'));
    // 30 Mar 2025: 01:00 GMT → 02:00 BST; 01:xx local never happens, so the window does not open that day.
    expect(nextChange(one, utc('2025-03-29T23:30:00Z'), HOUR * 20)).toBeUndefined();
    // Scanning skips days and hours that cannot match, but not across a change: the 23-hour Sunday
    // 30 Mar 2025 is followed by Monday 00:00 BST = Sunday 23:00Z.
    const mondayNight = p('* 0-1 * * 1');
    expect(nextChange(mondayNight, utc('2025-03-30T00:30:00Z'), DAY)!.atMs).toBe(utc('2025-03-30T23:00:00Z'));
    // Last day of the month, in local time.
    const monthEnd = p('* * L * *');
    expect(nextChange(monthEnd, utc('2025-03-15T00:00:00Z'), 30 * DAY)!.atMs).toBe(
      utc('2025-03-31T00:00:00Z') - HOUR,
    );
  });

  it('the highest open window wins, the first among equals, and a window may sit below the default', () => {
    const p: ScalingPolicy = {
      timeZone: 'UTC',
      defaultProfile: 'Medium',
      windows: [
        { name: 'weekend', profile: 'Small', days: ['sat', 'sun'], from: '00:00', to: '24:00' },
        { name: 'a', profile: 'Large', days: WEEKDAYS, from: '09:00', to: '17:00' },
        { name: 'b', profile: 'Large', cron: '* 12-13 * * *' },
        { name: 'c', profile: 'Medium', cron: '* 12-13 * * *' },
      ],
    };
    expect(scheduledProfile(p, utc('2025-03-08T12:00:00Z')).window!.name).toBe('b'); // Sat: b beats weekend
    expect(scheduledProfile(p, utc('2025-03-08T15:00:00Z')).profile).toBe('Small');
    expect(scheduledProfile(p, utc('2025-03-10T12:30:00Z')).window!.name).toBe('a');
    expect(scheduledProfile(p, utc('2025-03-10T08:00:00Z'))).toEqual({ profile: 'Medium' });
  });
});

// ---------------------------------------------------------------------------------------------------
// Property tests against a brute-force evaluation from Intl.DateTimeFormat's local parts.

const ZONES = [
  'Europe/London',
  'America/New_York',
  'Australia/Sydney',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'America/Sao_Paulo', // DST with midnight changes until 2019
  'America/Santiago', // midnight changes
  'Africa/Cairo', // midnight changes since 2023
  'Australia/Lord_Howe', // 30-minute DST
  'America/St_Johns', // UTC−03:30
  'Asia/Kathmandu', // UTC+05:45
  'America/Havana',
  'Europe/Dublin', // "negative" DST in the tz database
];

function localClock(tz: string) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  });
  return (ms: number) => {
    const p: Record<string, number> = {};
    for (const part of f.formatToParts(new Date(ms))) p[part.type] = Number(part.value);
    const day = Date.UTC(p['year']!, p['month']! - 1, p['day']!);
    return { day, weekday: new Date(day).getUTCDay(), minuteOfDay: p['hour']! * 60 + p['minute']! };
  };
}

/** Minutes (2017–2026) at which `tz`'s UTC offset changes. */
function transitions(tz: string): number[] {
  const clock = localClock(tz);
  const offset = (ms: number) => {
    const l = clock(ms);
    return l.day + l.minuteOfDay * MIN - ms;
  };
  const out: number[] = [];
  const step = 12 * HOUR;
  for (let t = utc('2017-01-01T00:00:00Z'); t < utc('2027-01-01T00:00:00Z'); t += step) {
    if (offset(t) === offset(t + step)) continue;
    let lo = t;
    let hi = t + step;
    while (hi - lo > MIN) {
      const mid = lo + Math.floor((hi - lo) / 2 / MIN) * MIN;
      if (offset(mid) === offset(lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

const TRANSITIONS = new Map(ZONES.map((z) => [z, transitions(z)]));
const DAY_INDEX: Record<Weekday, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/**
 * The documented rule evaluated the slow way: per minute, the local date and the latest local time the
 * clock has shown on that date so far (so a repeated hour counts as already passed); cron windows by
 * croner's own time-zone matching.
 */
function bruteForce(policy: ScalingPolicy, fromMs: number, toMs: number): Map<number, ProfileName> {
  const clock = localClock(policy.timeZone);
  const crons = policy.windows.map((w) =>
    'cron' in w ? new Cron(w.cron, { timezone: policy.timeZone, mode: '5-part', paused: true }) : undefined,
  );
  const hhmm = (s: string) => (s === '24:00' ? 1440 : Number(s.slice(0, 2)) * 60 + Number(s.slice(3)));
  const out = new Map<number, ProfileName>();
  let day = NaN;
  let reached = 0;
  for (let m = fromMs - 26 * HOUR; m <= toMs; m += MIN) {
    const l = clock(m);
    if (l.day !== day) [day, reached] = [l.day, l.minuteOfDay];
    else reached = Math.max(reached, l.minuteOfDay);
    if (m < fromMs) continue;
    let best: ScheduleWindow | undefined;
    policy.windows.forEach((w, i) => {
      let open: boolean;
      if ('cron' in w) open = crons[i]!.match(new Date(m));
      else {
        const from = hhmm(w.from);
        const to = hhmm(w.to);
        const today = w.days.some((d) => DAY_INDEX[d] === l.weekday);
        const yesterday = w.days.some((d) => DAY_INDEX[d] === (l.weekday + 6) % 7);
        open =
          to > from
            ? today && reached >= from && reached < to
            : (today && reached >= from) || (yesterday && reached < to);
      }
      if (open && (!best || profileRank(w.profile) > profileRank(best.profile))) best = w;
    });
    out.set(m, best ? best.profile : policy.defaultProfile);
  }
  return out;
}

const TIMES = [
  '00:00',
  '00:30',
  '01:00',
  '01:15',
  '01:30',
  '02:00',
  '02:30',
  '02:45',
  '03:00',
  '03:30',
  '08:00',
  '23:00',
  '23:30',
];
const hhmmArb = fc.oneof(
  fc.constantFrom(...TIMES),
  fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
    .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
);
const profileArb = fc.constantFrom<ProfileName>('Small', 'Medium', 'Large');
const daysWindowArb: fc.Arbitrary<DaysWindow> = fc
  .record({
    profile: profileArb,
    days: fc.uniqueArray(fc.constantFrom<Weekday>('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'), {
      minLength: 1,
    }),
    from: hhmmArb,
    to: fc.oneof(hhmmArb, fc.constant('24:00')),
  })
  .filter((w) => w.from !== w.to);
const cronArb = fc
  .tuple(
    fc.constantFrom('*', '0-29', '*/15', '30', '0,45', '45-59'),
    fc.constantFrom('*', '0', '1', '2', '0-3', '8-17', '22-23', '*/6', '23'),
    fc.constantFrom('*', '1-15', 'L', '28-31'),
    fc.constantFrom('*', '1-5', '0,6', 'SUN', 'FRI'),
  )
  .map(([mi, h, dom, dow]) => `${mi} ${h} ${dom} * ${dow}`);
const cronWindowArb = fc.record({ profile: profileArb, cron: cronArb });
/** An instant near one of the zone's offset changes (most runs) or anywhere in 2017–2026. */
const instantArb = (tz: string) =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(fc.nat(), fc.integer({ min: -36 * 60, max: 36 * 60 })).map(([i, dm]) => {
        const list = TRANSITIONS.get(tz)!;
        return list.length ? list[i % list.length]! + dm * MIN : utc('2024-06-01T00:00:00Z') + dm * MIN;
      }),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: utc('2017-01-02T00:00:00Z'), max: utc('2026-12-30T00:00:00Z') }),
    },
  );

describe('scheduledProfile and nextChange: properties across zones and DST changes', () => {
  it('every zone in the list has offset changes to test around (Kolkata and Kathmandu excepted)', () => {
    for (const z of ZONES) {
      if (z === 'Asia/Kolkata' || z === 'Asia/Kathmandu') expect(TRANSITIONS.get(z)).toEqual([]);
      else expect(TRANSITIONS.get(z)!.length).toBeGreaterThan(2);
    }
  });

  it('days/hours windows: the profile at every minute equals the brute-force evaluation', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES).chain((tz) =>
          fc.record({
            tz: fc.constant(tz),
            t: instantArb(tz),
            defaultProfile: profileArb,
            windows: fc.array(daysWindowArb, { minLength: 1, maxLength: 3 }),
          }),
        ),
        ({ tz, t, defaultProfile, windows }) => {
          const policy: ScalingPolicy = { timeZone: tz, defaultProfile, windows };
          const from = Math.floor(t / MIN) * MIN - 3 * HOUR;
          const expected = bruteForce(policy, from, from + 30 * HOUR);
          for (const [m, profile] of expected) {
            if (scheduledProfile(policy, m + 17_000).profile !== profile) {
              throw new Error(
                `${tz} ${iso(m)}: expected ${profile}, got ${scheduledProfile(policy, m).profile}`,
              );
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('cron windows: the profile at every minute equals croner matching in the zone', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES).chain((tz) =>
          fc.record({
            tz: fc.constant(tz),
            t: instantArb(tz),
            windows: fc.array(cronWindowArb, { minLength: 1, maxLength: 2 }),
          }),
        ),
        ({ tz, t, windows }) => {
          const policy: ScalingPolicy = { timeZone: tz, defaultProfile: 'Small', windows };
          const from = Math.floor(t / MIN) * MIN - 2 * HOUR;
          for (const [m, profile] of bruteForce(policy, from, from + 6 * HOUR)) {
            expect([iso(m), scheduledProfile(policy, m).profile]).toEqual([iso(m), profile]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('nextChange(t) is the first minute after t whose profile differs, for mixed windows', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES).chain((tz) =>
          fc.record({
            tz: fc.constant(tz),
            t: instantArb(tz),
            offsetMs: fc.integer({ min: 0, max: MIN - 1 }),
            defaultProfile: profileArb,
            windows: fc.array(fc.oneof(daysWindowArb, cronWindowArb), { minLength: 1, maxLength: 3 }),
            horizonMin: fc.integer({ min: 1, max: 30 * 60 }),
          }),
        ),
        ({ tz, t, offsetMs, defaultProfile, windows, horizonMin }) => {
          const policy: ScalingPolicy = { timeZone: tz, defaultProfile, windows };
          const start = Math.floor(t / MIN) * MIN;
          const profiles = bruteForce(policy, start, start + horizonMin * MIN);
          const before = profiles.get(start)!;
          let expected: number | undefined;
          for (const [m, p] of profiles) {
            if (m > start && p !== before) {
              expected = m;
              break;
            }
          }
          const got = nextChange(policy, start + offsetMs, horizonMin * MIN);
          expect([tz, iso(start), got && iso(got.atMs)]).toEqual([tz, iso(start), expected && iso(expected)]);
          if (got) {
            expect(got.previous).toBe(before);
            expect(got.profile).toBe(profiles.get(got.atMs));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The load rule.

const tpmRule: LoadRule = {
  metric: 'tpm',
  upAbovePercent: 80,
  upAfterMinutes: 5,
  downBelowPercent: 60,
  downAfterMinutes: 15,
};
const flat: ScalingPolicy = { timeZone: 'UTC', defaultProfile: 'Small', windows: [], load: tpmRule };
const NOW = utc('2025-03-12T03:00:00Z'); // a Wednesday, outside any business hours below
const P = DEFAULT_COST_PROFILES;
const cap = (p: ProfileName) => P.profiles[p].capacityTpm;

/** One sample per minute ending with the minute before `now` (values[last] is the newest); null = gap. */
function series(values: (number | null)[], now = NOW, key: 'tpm' | 'cpuPercent' = 'tpm'): LoadSample[] {
  return values.flatMap((v, i) => (v === null ? [] : [{ atMs: now - (values.length - i) * MIN, [key]: v }]));
}
const repeat = (v: number | null, n: number) => Array.from({ length: n }, () => v);

describe('desiredProfile', () => {
  const base = { policy: flat, profiles: P, nowMs: NOW };

  it('goes up one profile once the load has stayed above the threshold for N whole minutes', () => {
    const high = 0.85 * cap('Small');
    const four = desiredProfile({ ...base, current: 'Small', samples: series([100, ...repeat(high, 4)]) });
    expect(four).toMatchObject({ profile: 'Small', source: 'default' });
    const five = desiredProfile({ ...base, current: 'Small', samples: series(repeat(high, 5)) });
    expect(five).toEqual({
      profile: 'Medium',
      source: 'load',
      reason: "Medium: load 85% of Small's capacity for 5 min",
      scheduled: { profile: 'Small' },
    });
    // exactly at the threshold is not above it
    expect(
      desiredProfile({ ...base, current: 'Small', samples: series(repeat(0.8 * cap('Small'), 9)) }).profile,
    ).toBe('Small');
    // one step at a time, even far above
    expect(desiredProfile({ ...base, current: 'Small', samples: series(repeat(4000, 9)) }).profile).toBe(
      'Medium',
    );
    expect(desiredProfile({ ...base, current: 'Medium', samples: series(repeat(4000, 9)) }).profile).toBe(
      'Large',
    );
    expect(desiredProfile({ ...base, current: 'Large', samples: series(repeat(9000, 9)) }).profile).toBe(
      'Large',
    );
  });

  it('compares a load exactly at a threshold as at it, not a rounding error below or above it', () => {
    // 609 tpm is exactly 29% of Medium's 2,100; 609 / 2100 * 100 is 28.999… in floating point.
    const rule: LoadRule = {
      metric: 'tpm',
      upAbovePercent: 39,
      upAfterMinutes: 1,
      downBelowPercent: 29,
      downAfterMinutes: 2,
    };
    const policy: ScalingPolicy = { ...flat, load: rule };
    const at = (current: ProfileName, values: number[]) =>
      desiredProfile({ policy, profiles: P, nowMs: NOW, current, samples: series(values) }).profile;
    expect(at('Large', [609, 609])).toBe('Large');
    expect(at('Large', [608, 608])).toBe('Medium');
    // 234 tpm is exactly 39% of Small's 600.
    expect(at('Small', [234])).toBe('Small');
    expect(at('Small', [235])).toBe('Medium');
  });

  it('treats a missing minute or stale samples as unknown load, neither above nor below', () => {
    const high = 0.9 * cap('Small');
    const gap = series([high, high, null, high, high, high]);
    expect(desiredProfile({ ...base, current: 'Small', samples: gap }).profile).toBe('Small');
    // two samples in one minute do not fill another
    const doubled = [...series(repeat(high, 5)).slice(1), { atMs: NOW - MIN + 30_000, tpm: high }];
    expect(desiredProfile({ ...base, current: 'Small', samples: doubled }).profile).toBe('Small');
    // the newest sample may be MAX_SAMPLE_AGE_MINUTES old (metrics arrive late), not older
    const late = series(repeat(high, 5), NOW - (MAX_SAMPLE_AGE_MINUTES - 1) * MIN);
    expect(late.at(-1)!.atMs).toBe(NOW - MAX_SAMPLE_AGE_MINUTES * MIN);
    expect(desiredProfile({ ...base, current: 'Small', samples: late }).profile).toBe('Medium');
    const stale = series(repeat(high, 5), NOW - MAX_SAMPLE_AGE_MINUTES * MIN);
    expect(desiredProfile({ ...base, current: 'Small', samples: stale }).profile).toBe('Small');
    // samples from the future (clock skew) are ignored
    const future = series(repeat(high, 5), NOW + 10 * MIN);
    expect(desiredProfile({ ...base, current: 'Small', samples: future }).profile).toBe('Small');
    const quietWithGap = series([...repeat(100, 7), null, ...repeat(100, 7)]);
    expect(desiredProfile({ ...base, current: 'Medium', samples: quietWithGap }).profile).toBe('Medium');
    expect(desiredProfile({ ...base, current: 'Medium' }).profile).toBe('Medium');
  });

  it("goes down once the load stays below the threshold of the lower profile's capacity, as far as it can", () => {
    const justAbove = series(repeat(0.6 * cap('Small'), 15));
    expect(desiredProfile({ ...base, current: 'Medium', samples: justAbove })).toMatchObject({
      profile: 'Medium',
      source: 'load',
      reason:
        "Medium: kept for load until it stays below 60% of Small's capacity for 15 min " +
        '(Small: default profile, no window open)',
    });
    const below = series(repeat(0.5 * cap('Small'), 15));
    expect(desiredProfile({ ...base, current: 'Medium', samples: below })).toMatchObject({
      profile: 'Small',
      source: 'default',
    });
    // From Large: Medium-level load goes to Medium only; quiet goes straight to Small.
    const mediumLoad = series(repeat(0.5 * cap('Medium'), 15));
    expect(desiredProfile({ ...base, current: 'Large', samples: mediumLoad })).toEqual({
      profile: 'Medium',
      source: 'load',
      reason: "Medium: load 50% of Medium's capacity for 15 min (down from Large)",
      scheduled: { profile: 'Small' },
    });
    expect(desiredProfile({ ...base, current: 'Large', samples: below }).profile).toBe('Small');
  });

  it('never goes below the schedule, and the schedule lifts a member straight up', () => {
    const policy: ScalingPolicy = {
      ...flat,
      windows: [{ name: 'night batch', profile: 'Large', days: ['wed'], from: '02:00', to: '04:00' }],
    };
    const quiet = series(repeat(10, 30));
    expect(desiredProfile({ ...base, policy, current: 'Large', samples: quiet })).toEqual({
      profile: 'Large',
      source: 'schedule',
      reason: "Large: window 'night batch' Wed 02:00–04:00 UTC",
      scheduled: {
        profile: 'Large',
        window: { index: 0, name: 'night batch', description: 'Wed 02:00–04:00 UTC' },
      },
    });
    expect(desiredProfile({ ...base, policy, current: 'Small', samples: quiet }).profile).toBe('Large');
    const noLoadRule = { ...policy, load: undefined };
    expect(
      desiredProfile({ ...base, policy: noLoadRule, current: 'Medium', nowMs: NOW + 2 * HOUR }),
    ).toMatchObject({
      profile: 'Small',
      source: 'default',
    });
  });

  it('honours an override until it expires', () => {
    const override = { profile: 'Large' as const, expiresAt: '2025-03-12T04:00:00Z' };
    expect(desiredProfile({ ...base, current: 'Small', override })).toMatchObject({
      profile: 'Large',
      source: 'override',
      reason: 'Large: manual override until 2025-03-12T04:00:00.000Z',
    });
    const low = { profile: 'Small' as const, expiresAt: NOW + 1 };
    const busy = series(repeat(4000, 10));
    expect(desiredProfile({ ...base, current: 'Medium', override: low, samples: busy }).profile).toBe(
      'Small',
    );
    // expired: the schedule and the load rule decide again (no samples: unknown load holds Large)
    const after = { ...base, nowMs: NOW + HOUR, current: 'Large' as const, override };
    expect(desiredProfile(after)).toMatchObject({ profile: 'Large', source: 'load' });
    const quiet = series(repeat(10, 15), NOW + HOUR);
    expect(desiredProfile({ ...after, samples: quiet })).toMatchObject({
      profile: 'Small',
      source: 'default',
    });
    expect(desiredProfile({ ...base, current: 'Small', override: { ...low, expiresAt: NOW } }).source).toBe(
      'default',
    );
    expect(
      desiredProfile({ ...base, current: 'Small', override: { ...low, expiresAt: 'soon' } }).source,
    ).toBe('default');
  });

  it('reads cpu against the VMs that served each sample', () => {
    const cpu: ScalingPolicy = { ...flat, load: { ...tpmRule, metric: 'cpu' } };
    // Medium has 7 VMs, Small 2: 15% over 7 VMs is 52.5% of Small, below 60%.
    const low = series(repeat(15, 15), NOW, 'cpuPercent');
    expect(desiredProfile({ ...base, policy: cpu, current: 'Medium', samples: low })).toMatchObject({
      profile: 'Small',
    });
    // 20% over 7 VMs is 70% of Small: held.
    const held = series(repeat(20, 15), NOW, 'cpuPercent');
    expect(desiredProfile({ ...base, policy: cpu, current: 'Medium', samples: held }).profile).toBe('Medium');
    // The same 15% measured while Large (15 VMs) served is 107% of Small's VMs: held at Medium.
    const fromLarge = low.map((s) => ({ ...s, profile: 'Large' as const }));
    expect(desiredProfile({ ...base, policy: cpu, current: 'Medium', samples: fromLarge }).profile).toBe(
      'Medium',
    );
    const hot = series(repeat(85, 5), NOW, 'cpuPercent');
    expect(desiredProfile({ ...base, policy: cpu, current: 'Medium', samples: hot })).toMatchObject({
      profile: 'Large',
      reason: "Large: load 85% of Medium's capacity for 5 min",
    });
    // tpm-only samples are gaps for a cpu rule
    expect(
      desiredProfile({ ...base, policy: cpu, current: 'Small', samples: series(repeat(4000, 9)) }).profile,
    ).toBe('Small');
  });

  it('uses the consortium’s own capacities', () => {
    const profiles = resolveCostProfiles({ profiles: { Small: { capacityTpm: 1000 } } });
    const samples = series(repeat(700, 5));
    expect(desiredProfile({ ...base, current: 'Small', samples }).profile).toBe('Medium');
    expect(desiredProfile({ ...base, profiles, current: 'Small', samples }).profile).toBe('Small');
  });
});

describe('desiredProfile: hysteresis properties', () => {
  const ruleArb = fc
    .record({
      metric: fc.constant<'tpm'>('tpm'),
      upAbovePercent: fc.integer({ min: 20, max: 100 }),
      upAfterMinutes: fc.integer({ min: 1, max: 10 }),
      downBelowPercent: fc.integer({ min: 1, max: 90 }),
      downAfterMinutes: fc.integer({ min: 1, max: 20 }),
    })
    .filter((r) => r.downBelowPercent <= r.upAbovePercent - 10);

  it('never changes profile while the load stays within the band of the current profile', () => {
    fc.assert(
      fc.property(
        ruleArb,
        profileArb,
        fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null, freq: 8 }), {
          minLength: 30,
          maxLength: 90,
        }),
        (rule, current, fractions) => {
          const policy: ScalingPolicy = { ...flat, load: rule };
          const rank = profileRank(current);
          const lowest =
            rank === 0
              ? 0
              : (rule.downBelowPercent / 100) * cap(['Small', 'Medium'][rank - 1] as ProfileName);
          const highest = (rule.upAbovePercent / 100) * cap(current);
          // Both edges belong to the band ("above" and "below" are strict); stay a hair inside them so
          // floating-point rounding of the edge itself does not decide.
          const [lo, hi] = [lowest * (1 + 1e-9), highest * (1 - 1e-9)];
          const values = fractions.map((f) => (f === null ? null : lo + f * (hi - lo)));
          for (let n = 1; n <= values.length; n++) {
            const now = NOW + n * MIN;
            const samples = series(values.slice(0, n), now);
            expect(desiredProfile({ policy, profiles: P, nowMs: now, current, samples }).profile).toBe(
              current,
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('in a closed loop, every change is justified by the samples and never reverses sooner than it can', () => {
    fc.assert(
      fc.property(
        ruleArb,
        fc.array(fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null, freq: 10 }), {
          minLength: 60,
          maxLength: 240,
        }),
        (rule, raw) => {
          const policy: ScalingPolicy = { ...flat, load: rule };
          // Smooth the raw values a little so the series has runs, as real load does.
          const values = raw.map((v, i) => (v === null ? null : Math.round((v + (raw[i - 1] ?? v)) / 2)));
          let current: ProfileName = 'Small';
          let lastChange: { anchor: number; up: boolean } | undefined;
          for (let n = 1; n <= values.length; n++) {
            const now = NOW + n * MIN;
            const samples = series(values.slice(0, n), now);
            const d = desiredProfile({ policy, profiles: P, nowMs: now, current, samples });
            if (d.profile === current) continue;
            const up = profileRank(d.profile) > profileRank(current);
            if (up) expect(profileRank(d.profile) - profileRank(current)).toBe(1);
            // The decision rests on the newest sample no older than the age allowance, and the minutes
            // before it: sample i is for minute NOW + i, evaluated at NOW + n.
            let anchor = n - 1;
            while (anchor >= 0 && values[anchor] === null) anchor--;
            expect(n - anchor).toBeLessThanOrEqual(MAX_SAMPLE_AGE_MINUTES);
            const minutes = up ? rule.upAfterMinutes : rule.downAfterMinutes;
            const window = values.slice(anchor - minutes + 1, anchor + 1);
            expect(window).toHaveLength(minutes);
            for (const v of window) {
              expect(v).not.toBeNull();
              // In whole numbers: exact at the thresholds.
              if (up) expect(v! * 100).toBeGreaterThan(rule.upAbovePercent * cap(current));
              else expect(v! * 100).toBeLessThan(rule.downBelowPercent * cap(d.profile));
            }
            // A reversal needs a whole new run of evidence: none of the samples behind the last change.
            if (lastChange && lastChange.up !== up)
              expect(anchor - lastChange.anchor).toBeGreaterThanOrEqual(minutes);
            lastChange = { anchor, up };
            current = d.profile;
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
