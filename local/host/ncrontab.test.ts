import fc from 'fast-check';
import { parseSchedule, ScheduleError, type Schedule } from './ncrontab';

const ORIGIN = new Date('2026-01-01T00:00:00.000Z');

/** The next `count` occurrences after `after`, as ISO strings. */
function occurrences(schedule: Schedule, after: string | Date, count: number): string[] {
  const out: string[] = [];
  let d = new Date(after);
  for (let i = 0; i < count; i++) {
    d = schedule.next(d);
    out.push(d.toISOString());
  }
  return out;
}

function nextAfter(expression: string, after: string): string {
  return parseSchedule(expression, ORIGIN).next(new Date(after)).toISOString();
}

function scheduleError(expression: string): ScheduleError {
  try {
    parseSchedule(expression, ORIGIN);
  } catch (e) {
    expect(e).toBeInstanceOf(ScheduleError);
    return e as ScheduleError;
  }
  throw new Error(`parseSchedule(${JSON.stringify(expression)}) did not throw`);
}

describe('NCRONTAB schedules', () => {
  it('reports its kind and trimmed expression', () => {
    const schedule = parseSchedule('  0 */5 * * * *  ', ORIGIN);
    expect(schedule.kind).toBe('ncrontab');
    expect(schedule.expression).toBe('0 */5 * * * *');
  });

  it('every five minutes: 0 */5 * * * *', () => {
    const schedule = parseSchedule('0 */5 * * * *', ORIGIN);
    expect(occurrences(schedule, '2026-01-01T00:00:00.000Z', 3)).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:15:00.000Z',
    ]);
    expect(occurrences(schedule, '2026-01-01T23:52:30.000Z', 2)).toEqual([
      '2026-01-01T23:55:00.000Z',
      '2026-01-02T00:00:00.000Z',
    ]);
  });

  it('returns the first occurrence strictly after the given instant', () => {
    expect(nextAfter('0 */5 * * * *', '2026-01-01T00:04:59.999Z')).toBe('2026-01-01T00:05:00.000Z');
    expect(nextAfter('0 */5 * * * *', '2026-01-01T00:05:00.000Z')).toBe('2026-01-01T00:10:00.000Z');
    expect(nextAfter('0 */5 * * * *', '2026-01-01T00:05:00.001Z')).toBe('2026-01-01T00:10:00.000Z');
    expect(nextAfter('* * * * * *', '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:01.000Z');
    expect(nextAfter('* * * * * *', '2026-01-01T00:00:00.500Z')).toBe('2026-01-01T00:00:01.000Z');
  });

  it('reads the first field as seconds', () => {
    expect(occurrences(parseSchedule('15,45 * * * * *', ORIGIN), '2026-01-01T00:00:00.000Z', 3)).toEqual([
      '2026-01-01T00:00:15.000Z',
      '2026-01-01T00:00:45.000Z',
      '2026-01-01T00:01:15.000Z',
    ]);
  });

  it('evaluates in UTC', () => {
    expect(nextAfter('0 0 9 * * *', '2026-07-01T09:00:00.000Z')).toBe('2026-07-02T09:00:00.000Z');
    expect(nextAfter('0 0 0 1 * *', '2026-03-15T00:00:00.000Z')).toBe('2026-04-01T00:00:00.000Z');
  });

  it('weekdays at 09:30: 0 30 9 * * 1-5 skips the weekend', () => {
    const schedule = parseSchedule('0 30 9 * * 1-5', ORIGIN);
    // 2 January 2026 is a Friday.
    expect(schedule.next(new Date('2026-01-02T09:30:00.000Z')).toISOString()).toBe(
      '2026-01-05T09:30:00.000Z',
    );
    const week = occurrences(schedule, '2026-01-04T00:00:00.000Z', 10).map((iso) => new Date(iso));
    expect(week.map((d) => d.getUTCDay())).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
    expect(
      week.every((d) => d.getUTCHours() === 9 && d.getUTCMinutes() === 30 && d.getUTCSeconds() === 0),
    ).toBe(true);
  });

  it.each(['0 30 9 * * MON-FRI', '0 30 9 * * mon-fri', '0 30 9 * * Monday-Friday', '0 30 9 * * 1,2,3,4,5'])(
    '%s is the same as 0 30 9 * * 1-5',
    (expression) => {
      const expected = occurrences(parseSchedule('0 30 9 * * 1-5', ORIGIN), ORIGIN, 12);
      expect(occurrences(parseSchedule(expression, ORIGIN), ORIGIN, 12)).toEqual(expected);
    },
  );

  it('takes month names: 0 0 0 1 JAN * fires on New Year only', () => {
    const schedule = parseSchedule('0 0 0 1 JAN *', ORIGIN);
    expect(occurrences(schedule, '2026-01-01T00:00:00.000Z', 2)).toEqual([
      '2027-01-01T00:00:00.000Z',
      '2028-01-01T00:00:00.000Z',
    ]);
    expect(occurrences(parseSchedule('0 0 0 1 jan *', ORIGIN), ORIGIN, 2)).toEqual(
      occurrences(schedule, ORIGIN, 2),
    );
  });

  it('takes month name ranges: 0 0 12 1 MAR-MAY *', () => {
    expect(occurrences(parseSchedule('0 0 12 1 MAR-MAY *', ORIGIN), ORIGIN, 4)).toEqual([
      '2026-03-01T12:00:00.000Z',
      '2026-04-01T12:00:00.000Z',
      '2026-05-01T12:00:00.000Z',
      '2027-03-01T12:00:00.000Z',
    ]);
  });

  it('treats Sunday as 0 and SUN', () => {
    // 4 January 2026 is a Sunday.
    expect(nextAfter('0 0 12 * * 0', '2026-01-01T00:00:00.000Z')).toBe('2026-01-04T12:00:00.000Z');
    expect(nextAfter('0 0 12 * * SUN', '2026-01-01T00:00:00.000Z')).toBe('2026-01-04T12:00:00.000Z');
  });

  it('requires day-of-month AND day-of-week: 0 0 0 13 * 5 is Friday the 13th only', () => {
    const fridays = occurrences(parseSchedule('0 0 0 13 * 5', ORIGIN), ORIGIN, 3);
    expect(fridays).toEqual([
      '2026-02-13T00:00:00.000Z',
      '2026-03-13T00:00:00.000Z',
      '2026-11-13T00:00:00.000Z',
    ]);
    for (const iso of fridays) {
      expect([new Date(iso).getUTCDate(), new Date(iso).getUTCDay()]).toEqual([13, 5]);
    }
    expect(occurrences(parseSchedule('0 0 0 13 * FRI', ORIGIN), ORIGIN, 3)).toEqual(fridays);
    // Without the day-of-week, 13 January (a Tuesday) counts.
    expect(nextAfter('0 0 0 13 * *', '2026-01-01T00:00:00.000Z')).toBe('2026-01-13T00:00:00.000Z');
  });

  it('reads a/step as a-max/step, as NCrontab does', () => {
    expect(occurrences(parseSchedule('0 5/20 * * * *', ORIGIN), ORIGIN, 4)).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:25:00.000Z',
      '2026-01-01T00:45:00.000Z',
      '2026-01-01T01:05:00.000Z',
    ]);
  });

  it('takes ranges with steps and lists', () => {
    expect(occurrences(parseSchedule('0 0 8-16/4 * * *', ORIGIN), ORIGIN, 4)).toEqual([
      '2026-01-01T08:00:00.000Z',
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T16:00:00.000Z',
      '2026-01-02T08:00:00.000Z',
    ]);
    expect(occurrences(parseSchedule('0 0,30 6 * * *', ORIGIN), ORIGIN, 3)).toEqual([
      '2026-01-01T06:00:00.000Z',
      '2026-01-01T06:30:00.000Z',
      '2026-01-02T06:00:00.000Z',
    ]);
  });

  it('swaps a reversed range, as NCrontab does', () => {
    expect(occurrences(parseSchedule('0 0 12 * * 5-1', ORIGIN), ORIGIN, 6)).toEqual(
      occurrences(parseSchedule('0 0 12 * * 1-5', ORIGIN), ORIGIN, 6),
    );
  });

  it('finds a leap day four years out', () => {
    expect(nextAfter('0 0 0 29 2 *', '2026-01-01T00:00:00.000Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(nextAfter('0 0 0 29 2 *', '2028-02-29T00:00:00.000Z')).toBe('2032-02-29T00:00:00.000Z');
  });
});

describe('TimeSpan schedules', () => {
  it('steps from the origin: 00:05:00', () => {
    const schedule = parseSchedule('00:05:00', ORIGIN);
    expect(schedule.kind).toBe('timespan');
    expect(schedule.expression).toBe('00:05:00');
    expect(occurrences(schedule, ORIGIN, 3)).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:15:00.000Z',
    ]);
  });

  it('returns the first step strictly after the given instant', () => {
    const schedule = parseSchedule('00:05:00', ORIGIN);
    expect(schedule.next(new Date('2026-01-01T00:04:59.999Z')).toISOString()).toBe(
      '2026-01-01T00:05:00.000Z',
    );
    expect(schedule.next(new Date('2026-01-01T00:05:00.000Z')).toISOString()).toBe(
      '2026-01-01T00:10:00.000Z',
    );
    expect(schedule.next(new Date('2026-01-01T01:02:03.000Z')).toISOString()).toBe(
      '2026-01-01T01:05:00.000Z',
    );
  });

  it('counts from the origin, not from the clock', () => {
    const schedule = parseSchedule('00:05:00', new Date('2026-01-01T00:01:30.000Z'));
    expect(schedule.next(new Date('2026-01-01T00:02:00.000Z')).toISOString()).toBe(
      '2026-01-01T00:06:30.000Z',
    );
  });

  it('fires first one period after the origin even when asked about an earlier instant', () => {
    const schedule = parseSchedule('00:05:00', ORIGIN);
    expect(schedule.next(new Date('2025-12-31T00:00:00.000Z')).toISOString()).toBe(
      '2026-01-01T00:05:00.000Z',
    );
  });

  it.each<[string, number]>([
    ['00:00:01', 1000],
    ['01:30:00', 90 * 60 * 1000],
    ['23:59:59', (24 * 3600 - 1) * 1000],
    ['1.00:00:00', 24 * 3600 * 1000],
    ['2.12:00:00', 60 * 3600 * 1000],
    ['0.00:00:30', 30 * 1000],
  ])('%s is a period of %d ms', (expression, periodMs) => {
    const schedule = parseSchedule(expression, ORIGIN);
    const [first, second] = occurrences(schedule, ORIGIN, 2).map((iso) => new Date(iso).getTime());
    expect(first! - ORIGIN.getTime()).toBe(periodMs);
    expect(second! - first!).toBe(periodMs);
  });

  it('always lands on a whole number of periods after the origin, strictly after the instant', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 * 24 * 3600 }),
        fc.integer({ min: -1e9, max: 1e10 }),
        (periodSeconds, offsetMs) => {
          const days = Math.floor(periodSeconds / 86400);
          const rest = periodSeconds % 86400;
          const hms = [Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60]
            .map((n) => String(n).padStart(2, '0'))
            .join(':');
          const schedule = parseSchedule(days ? `${days}.${hms}` : hms, ORIGIN);
          const after = new Date(ORIGIN.getTime() + offsetMs);
          const next = schedule.next(after).getTime();
          const periodMs = periodSeconds * 1000;
          const k = (next - ORIGIN.getTime()) / periodMs;
          expect(Number.isInteger(k) && k >= 1).toBe(true);
          expect(next).toBeGreaterThan(after.getTime());
          // No earlier step after the origin is also after the instant.
          expect(k === 1 || next - periodMs <= after.getTime()).toBe(true);
        },
      ),
    );
  });
});

describe('schedule errors', () => {
  it.each<[string, RegExp]>([
    ['*/5 * * * *', /needs six fields .*; found 5/],
    ['0 0 0 1 1 * 2026', /needs six fields .*; found 7/],
    ['', /needs six fields .*; found 1/],
    ['garbage', /needs six fields .*; found 1/],
    ['every five minutes', /needs six fields .*; found 3/],
    ['a b c d e f', /second field "a": "a" is not a number from 0 to 59/],
    ['0 0 0 * * funday', /day-of-week field "funday": "funday" is not a number from 0 to 6 or a name/],
    ['0 0 0 * FOO *', /month field "FOO": "FOO" is not a number from 1 to 12 or a name/],
    ['60 * * * * *', /second field "60": 60 is out of range \(0-59\)/],
    ['0 60 * * * *', /minute field "60": 60 is out of range \(0-59\)/],
    ['0 0 24 * * *', /hour field "24": 24 is out of range \(0-23\)/],
    ['0 0 0 32 * *', /day field "32": 32 is out of range \(1-31\)/],
    ['0 0 0 0 * *', /day field "0": 0 is out of range \(1-31\)/],
    ['0 0 0 * 13 *', /month field "13": 13 is out of range \(1-12\)/],
    ['0 0 0 * 0 *', /month field "0": 0 is out of range \(1-12\)/],
    ['0 0 0 * * 7', /day-of-week field "7": 7 is out of range \(0-6\)/],
    ['0 0 0-24 * * *', /hour field "0-24": 24 is out of range \(0-23\)/],
    ['0 0 0 L * *', /day field "L": "L" is not a number from 1 to 31/],
    ['0 0 0 ? * *', /day field "\?"/],
    ['0 0 0 * * 5#2', /day-of-week field "5#2"/],
    ['0 0 0 15W * *', /day field "15W"/],
    ['*/0 * * * * *', /second field "\*\/0": the step in "\*\/0" must be at least 1/],
    ['0 1,,2 * * * *', /minute field "1,,2": "" is not a value, a range or a step/],
    ['0 1-2-3 * * * *', /minute field "1-2-3"/],
    ['0 0 0 30 2 *', /it never fires/],
    ['00:00:00', /the interval must be longer than zero/],
    ['0.00:00:00', /the interval must be longer than zero/],
    ['24:00:00', /hours, minutes or seconds out of range/],
    ['00:60:00', /hours, minutes or seconds out of range/],
    ['00:00:60', /hours, minutes or seconds out of range/],
  ])('%j', (expression, reason) => {
    const err = scheduleError(expression);
    expect(err.name).toBe('ScheduleError');
    expect(err.message.startsWith(`Schedule "${expression}" is not valid: `)).toBe(true);
    expect(err.message).toMatch(reason);
  });
});

/** One field's text and the values it stands for. */
type Piece = [string, number[]];

const range = (lo: number, hi: number, step = 1): number[] =>
  Array.from({ length: Math.floor((hi - lo) / step) + 1 }, (_, i) => lo + i * step);

const SECONDS: Piece[] = [
  ['0', [0]],
  ['30', [30]],
  ['*/15', range(0, 59, 15)],
  ['10,40', [10, 40]],
  ['*', range(0, 59)],
];
const MINUTES: Piece[] = [
  ['*', range(0, 59)],
  ['0', [0]],
  ['*/5', range(0, 59, 5)],
  ['15-45/15', [15, 30, 45]],
  ['7', [7]],
  ['50-59', range(50, 59)],
];
const HOURS: Piece[] = [
  ['*', range(0, 23)],
  ['0', [0]],
  ['9-17', range(9, 17)],
  ['*/6', [0, 6, 12, 18]],
  ['23', [23]],
];
const DAYS: Piece[] = [
  ['*', range(1, 31)],
  ['1', [1]],
  ['13', [13]],
  ['1-7', range(1, 7)],
  ['*/10', [1, 11, 21, 31]],
  ['31', [31]],
];
const MONTHS: Piece[] = [
  ['*', range(1, 12)],
  ['JAN', [1]],
  ['2', [2]],
  ['6-8', [6, 7, 8]],
  ['*/3', [1, 4, 7, 10]],
];
const WEEKDAYS: Piece[] = [
  ['*', range(0, 6)],
  ['1-5', range(1, 5)],
  ['MON-FRI', range(1, 5)],
  ['0,6', [0, 6]],
  ['5', [5]],
  ['SUN', [0]],
];

/** Brute force: walk day by day, then through the day's hours, minutes and seconds in order. */
function referenceNext(fields: number[][], after: Date): Date | undefined {
  const [seconds, minutes, hours, days, months, weekdays] = fields.map((values) => new Set(values)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  const t0 = after.getTime();
  let day = Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate());
  for (let n = 0; n < 366 * 12; n++, day += 86_400_000) {
    const d = new Date(day);
    if (!months.has(d.getUTCMonth() + 1) || !days.has(d.getUTCDate()) || !weekdays.has(d.getUTCDay()))
      continue;
    for (let h = 0; h < 24; h++) {
      if (!hours.has(h)) continue;
      for (let m = 0; m < 60; m++) {
        if (!minutes.has(m)) continue;
        for (let s = 0; s < 60; s++) {
          const t = day + ((h * 60 + m) * 60 + s) * 1000;
          if (seconds.has(s) && t > t0) return new Date(t);
        }
      }
    }
  }
  return undefined;
}

describe('NCRONTAB next() property', () => {
  it('returns an instant after the given one with no earlier occurrence in between', () => {
    const piece = (pieces: Piece[]) => fc.constantFrom(...pieces);
    fc.assert(
      fc.property(
        fc.tuple(piece(SECONDS), piece(MINUTES), piece(HOURS), piece(DAYS), piece(MONTHS), piece(WEEKDAYS)),
        fc.date({
          min: new Date('2020-01-01T00:00:00.000Z'),
          max: new Date('2035-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        (pieces, after) => {
          const expression = pieces.map(([text]) => text).join(' ');
          const expected = referenceNext(
            pieces.map(([, values]) => values),
            after,
          );
          // Piece combinations such as day 31 in February never fire; the reference gives up after 12 years.
          fc.pre(expected !== undefined);
          const next = parseSchedule(expression, ORIGIN).next(after);
          expect(next.getTime()).toBeGreaterThan(after.getTime());
          expect({ expression, after: after.toISOString(), next: next.toISOString() }).toEqual({
            expression,
            after: after.toISOString(),
            next: expected!.toISOString(),
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
