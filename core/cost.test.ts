import fc from 'fast-check';
import { DEFAULT_COST_PROFILES, type ProfileName, hourlyCost, resolveCostProfiles } from './cost-profiles';
import {
  type ProfileChange,
  CostError,
  addUsage,
  consortiumCost,
  emptyUsage,
  memberCost,
  monthBounds,
  profileAt,
  scheduleHistory,
  usage,
} from './cost';
import { type ScalingPolicy, scheduledProfile } from './schedule';

const HOUR = 3_600_000;
const MIN = 60_000;
const utc = (iso: string) => Date.parse(iso);
const P = DEFAULT_COST_PROFILES;
const price = (p: ProfileName) => hourlyCost(P, p);

describe('usage', () => {
  const h: ProfileChange[] = [
    { fromMs: utc('2025-03-03T00:00:00Z'), profile: 'Small' },
    { fromMs: utc('2025-03-03T08:00:00Z'), profile: 'Large' },
    { fromMs: utc('2025-03-03T18:00:00Z'), profile: 'Medium' },
    { fromMs: utc('2025-03-03T20:00:00Z'), profile: null },
  ];

  it('adds VM-hours, monitoring hours and money segment by segment', () => {
    const u = usage(h, P, utc('2025-03-03T00:00:00Z'), utc('2025-03-04T00:00:00Z'));
    expect(u.hoursByProfile).toEqual({ Small: 8, Medium: 2, Large: 10 });
    expect(u.vmHours).toBeCloseTo(8 * 2 + 2 * 7 + 10 * 15, 9);
    expect(u.monitoringHours).toBeCloseTo(12, 9);
    expect(u.vmCost).toBeCloseTo(u.vmHours * 0.192, 9);
    expect(u.monitoringCost).toBeCloseTo(12 * 0.096, 9);
    expect(u.cost).toBeCloseTo(8 * price('Small') + 2 * price('Medium') + 10 * price('Large'), 9);
  });

  it('clips to the period and counts nothing before the first change or while there is no node', () => {
    const u = usage(h, P, utc('2025-03-02T00:00:00Z'), utc('2025-03-03T09:30:00Z'));
    expect(u.hoursByProfile).toEqual({ Small: 8, Medium: 0, Large: 1.5 });
    expect(usage(h, P, utc('2025-03-03T21:00:00Z'), utc('2025-03-31T00:00:00Z'))).toEqual(emptyUsage());
    expect(usage([], P, 0, HOUR)).toEqual(emptyUsage());
    // the last change runs on to the period's end
    expect(usage([{ fromMs: 0, profile: 'Medium' }], P, HOUR, 3 * HOUR).hoursByProfile.Medium).toBe(2);
  });

  it('uses the consortium’s prices', () => {
    const eur = resolveCostProfiles({ currency: 'EUR', vmHourlyPrice: 0.1, monitoringHourlyPerMember: 0 });
    expect(usage([{ fromMs: 0, profile: 'Large' }], eur, 0, 2 * HOUR).cost).toBeCloseTo(2 * 15 * 0.1, 9);
  });

  it('refuses changes out of time order', () => {
    const bad = [
      { fromMs: 10, profile: 'Small' as const },
      { fromMs: 5, profile: 'Large' as const },
    ];
    expect(() => usage(bad, P, 0, HOUR)).toThrow(CostError);
    expect(() => usage([{ fromMs: Number.NaN, profile: 'Small' }], P, 0, HOUR)).toThrow(/finite/);
  });

  it('is additive over adjacent periods, and money is VMs plus monitoring', () => {
    const change = fc.record({
      fromMs: fc.integer({ min: 0, max: 1000 * HOUR }),
      profile: fc.constantFrom<ProfileName | null>('Small', 'Medium', 'Large', null),
    });
    fc.assert(
      fc.property(
        fc.array(change, { maxLength: 20 }),
        fc.integer({ min: 0, max: 1000 * HOUR }),
        fc.integer({ min: 0, max: 1000 * HOUR }),
        fc.integer({ min: 0, max: 1000 * HOUR }),
        (changes, x, y, z) => {
          const history = [...changes].sort((a, b) => a.fromMs - b.fromMs);
          const [a, b, c] = [x, y, z].sort((p, q) => p - q) as [number, number, number];
          const whole = usage(history, P, a, c);
          const parts = addUsage(usage(history, P, a, b), usage(history, P, b, c));
          for (const k of ['vmHours', 'monitoringHours', 'vmCost', 'monitoringCost', 'cost'] as const) {
            expect(parts[k]).toBeCloseTo(whole[k], 6);
          }
          expect(whole.cost).toBeCloseTo(whole.vmCost + whole.monitoringCost, 6);
          const hours = whole.hoursByProfile.Small + whole.hoursByProfile.Medium + whole.hoursByProfile.Large;
          expect(hours).toBeLessThanOrEqual((c - a) / HOUR + 1e-9);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('months and profiles at a time', () => {
  it('uses UTC calendar months', () => {
    expect(monthBounds(utc('2025-02-14T12:00:00Z'))).toEqual({
      startMs: utc('2025-02-01T00:00:00Z'),
      endMs: utc('2025-03-01T00:00:00Z'),
    });
    expect(monthBounds(utc('2024-12-31T23:59:59Z')).endMs).toBe(utc('2025-01-01T00:00:00Z'));
  });

  it('reads the profile in force at a time', () => {
    const h: ProfileChange[] = [
      { fromMs: 100, profile: 'Small' },
      { fromMs: 200, profile: 'Large' },
      { fromMs: 300, profile: null },
    ];
    expect([99, 100, 199, 200, 300].map((t) => profileAt(h, t))).toEqual([
      null,
      'Small',
      'Small',
      'Large',
      null,
    ]);
  });
});

const london: ScalingPolicy = {
  timeZone: 'Europe/London',
  defaultProfile: 'Small',
  windows: [
    {
      name: 'business hours',
      profile: 'Large',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
    },
  ],
};

describe('memberCost', () => {
  const now = utc('2025-03-16T00:00:00Z'); // March 2025 has 31 days: 15 behind, 16 ahead

  it('projects the current profile to the month end, against static Large', () => {
    const history: ProfileChange[] = [{ fromMs: utc('2025-01-01T00:00:00Z'), profile: 'Small' }];
    const c = memberCost({ memberId: 'bank-a', history, profiles: P, nowMs: now });
    expect(c.memberId).toBe('bank-a');
    expect(c.currency).toBe('USD');
    expect(c.projection).toBe('current');
    expect(c.period).toEqual({
      startMs: utc('2025-03-01T00:00:00Z'),
      endMs: utc('2025-04-01T00:00:00Z'),
      nowMs: now,
    });
    expect(c.toDate.hoursByProfile.Small).toBe(15 * 24);
    expect(c.projected.hoursByProfile.Small).toBe(31 * 24);
    expect(c.staticLarge.toDate.hoursByProfile.Large).toBe(15 * 24);
    expect(c.staticLarge.projected.cost).toBeCloseTo(31 * 24 * price('Large'), 6);
    expect(c.savings.projected).toBeCloseTo(31 * 24 * (price('Large') - price('Small')), 6);
    expect(c.savings.projectedPercent).toBeCloseTo(100 * (1 - price('Small') / price('Large')), 6);
    expect(c.savings.toDatePercent).toBeCloseTo(c.savings.projectedPercent, 6);
  });

  it('projects the schedule when given one, minute for minute', () => {
    const history: ProfileChange[] = [{ fromMs: utc('2025-02-20T00:00:00Z'), profile: 'Medium' }];
    const c = memberCost({ history, profiles: P, nowMs: now + 7 * MIN, policy: london });
    expect(c.projection).toBe('schedule');
    const expected = { Small: 0, Medium: 0, Large: 0 };
    for (let t = now + 7 * MIN; t < utc('2025-04-01T00:00:00Z'); t += MIN) {
      expected[scheduledProfile(london, t).profile] += 1 / 60;
    }
    const rest = {
      Small: c.projected.hoursByProfile.Small - c.toDate.hoursByProfile.Small,
      Medium: c.projected.hoursByProfile.Medium - c.toDate.hoursByProfile.Medium,
      Large: c.projected.hoursByProfile.Large - c.toDate.hoursByProfile.Large,
    };
    expect(rest.Small).toBeCloseTo(expected.Small, 6);
    expect(rest.Medium).toBeCloseTo(0, 9);
    expect(rest.Large).toBeCloseTo(expected.Large, 6);
    // 11 weekdays of 10 hours from Mon 17 to Mon 31 March (BST from the 30th changes nothing locally)
    expect(rest.Large).toBeCloseTo(11 * 10, 6);
  });

  it('counts a member that joined this month from its join, and one removed until its removal', () => {
    const joined = memberCost({
      history: [{ fromMs: utc('2025-03-11T00:00:00Z'), profile: 'Small' }],
      profiles: P,
      nowMs: now,
    });
    expect(joined.toDate.hoursByProfile.Small).toBe(5 * 24);
    expect(joined.staticLarge.toDate.hoursByProfile.Large).toBe(5 * 24);
    const removed = memberCost({
      history: [
        { fromMs: utc('2025-01-01T00:00:00Z'), profile: 'Large' },
        { fromMs: utc('2025-03-05T00:00:00Z'), profile: null },
      ],
      profiles: P,
      nowMs: now,
      policy: london,
    });
    expect(removed.projection).toBe('none');
    expect(removed.projected).toEqual(removed.toDate);
    expect(removed.toDate.hoursByProfile.Large).toBe(4 * 24);
    expect(removed.savings.projected).toBeCloseTo(0, 9);
    // a change recorded after `now` (a clock ahead) is not billed yet
    const ahead = memberCost({
      history: [
        { fromMs: utc('2025-03-01T00:00:00Z'), profile: 'Small' },
        { fromMs: now + HOUR, profile: 'Large' },
      ],
      profiles: P,
      nowMs: now,
    });
    expect(ahead.toDate.hoursByProfile.Large).toBe(0);
  });
});

describe('scheduleHistory', () => {
  it('lists the schedule’s changes in a period, starting with the profile in force', () => {
    const h = scheduleHistory(london, utc('2025-03-28T12:00:00Z'), utc('2025-04-01T00:00:00Z'));
    expect(h.map((c) => [new Date(c.fromMs).toISOString(), c.profile])).toEqual([
      ['2025-03-28T12:00:00.000Z', 'Large'],
      ['2025-03-28T18:00:00.000Z', 'Small'],
      ['2025-03-31T07:00:00.000Z', 'Large'],
      ['2025-03-31T17:00:00.000Z', 'Small'],
    ]);
  });
});

describe('consortiumCost', () => {
  const now = utc('2025-03-16T00:00:00Z');
  const a = memberCost({
    memberId: 'a',
    history: [{ fromMs: 0, profile: 'Small' }],
    profiles: P,
    nowMs: now,
  });
  const b = memberCost({
    memberId: 'b',
    history: [{ fromMs: 0, profile: 'Large' }],
    profiles: P,
    nowMs: now,
  });

  it('sums the members and recomputes the savings on the totals', () => {
    const c = consortiumCost([a, b], P, now);
    expect(c.members).toBe(2);
    expect(c.toDate.cost).toBeCloseTo(a.toDate.cost + b.toDate.cost, 6);
    expect(c.projected.vmHours).toBeCloseTo(31 * 24 * (2 + 15), 6);
    expect(c.staticLarge.projected.cost).toBeCloseTo(2 * 31 * 24 * price('Large'), 6);
    expect(c.savings.projectedPercent).toBeCloseTo(50 * (1 - price('Small') / price('Large')), 6);
    expect(consortiumCost([], P, now).savings.projectedPercent).toBe(0);
  });

  it('refuses members costed at another time or in another currency', () => {
    expect(() => consortiumCost([a], P, now + 1)).toThrow(CostError);
    const eur = resolveCostProfiles({ currency: 'EUR' });
    expect(() => consortiumCost([a], eur, now)).toThrow(/USD/);
  });
});
