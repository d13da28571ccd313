import fc from 'fast-check';
import { addDuration, DurationError, isZero, parseDuration, type Duration } from './duration';

const ZERO: Duration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
const DAY_MS = 24 * 60 * 60 * 1000;

function at(iso: string): Date {
  return new Date(iso);
}

describe('parseDuration', () => {
  it.each<[string, Partial<Duration>]>([
    ['P7D', { days: 7 }],
    ['PT5M', { minutes: 5 }],
    ['P1DT2H30M', { days: 1, hours: 2, minutes: 30 }],
    ['P2W', { weeks: 2 }],
    ['P1M', { months: 1 }],
    ['P1Y', { years: 1 }],
    ['PT1.5S', { seconds: 1.5 }],
    ['PT0.125S', { seconds: 0.125 }],
    ['PT36H', { hours: 36 }],
    ['P1Y2M3W4DT5H6M7S', { years: 1, months: 2, weeks: 3, days: 4, hours: 5, minutes: 6, seconds: 7 }],
    ['P0D', {}],
    ['p7d', { days: 7 }],
    ['pt5m', { minutes: 5 }],
    ['p1dt2h', { days: 1, hours: 2 }],
    ['  P3D  ', { days: 3 }],
  ])('parses %j', (input, expected) => {
    expect(parseDuration(input)).toEqual({ ...ZERO, ...expected });
  });

  it.each([
    'P',
    'PT',
    'P1DT',
    'pt',
    'p1dt',
    'p',
    '7D',
    '-P1D',
    '',
    '   ',
    'P1H',
    'PT1D',
    'P1D1Y',
    'P1.5D',
    'PT0.0001S',
    'P1DT2',
    'P 1D',
    'one day',
  ])('rejects %j with a DurationError', (input) => {
    expect(() => parseDuration(input)).toThrow(DurationError);
  });

  it('names the bad input and gives examples in the error', () => {
    let caught: unknown;
    try {
      parseDuration('7D');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DurationError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as DurationError;
    expect(err.name).toBe('DurationError');
    expect(err.input).toBe('7D');
    expect(err.message).toBe('"7D" is not an ISO 8601 duration such as P7D, PT5M or P1DT12H.');
  });
});

describe('addDuration', () => {
  it.each<[string, string, string]>([
    ['2026-01-31T10:15:00.000Z', 'P1M', '2026-02-28T10:15:00.000Z'],
    ['2028-01-31T00:00:00.000Z', 'P1M', '2028-02-29T00:00:00.000Z'],
    ['2026-03-31T00:00:00.000Z', 'P1M', '2026-04-30T00:00:00.000Z'],
    ['2026-01-15T00:00:00.000Z', 'P1M', '2026-02-15T00:00:00.000Z'],
    ['2026-12-31T23:59:59.000Z', 'P1M', '2027-01-31T23:59:59.000Z'],
    ['2026-12-15T00:00:00.000Z', 'P13M', '2028-01-15T00:00:00.000Z'],
    ['2026-05-31T00:00:00.000Z', 'P12M', '2027-05-31T00:00:00.000Z'],
    ['2028-02-29T12:00:00.000Z', 'P1Y', '2029-02-28T12:00:00.000Z'],
    ['2028-02-29T12:00:00.000Z', 'P4Y', '2032-02-29T12:00:00.000Z'],
    ['2026-01-31T00:00:00.000Z', 'P1Y1M', '2027-02-28T00:00:00.000Z'],
    // Calendar units first, then the fixed ones: 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar.
    ['2026-01-31T00:00:00.000Z', 'P1M1D', '2026-03-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 'P7D', '2026-01-08T00:00:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 'P2W', '2026-01-15T00:00:00.000Z'],
    ['2026-02-28T00:00:00.000Z', 'P1D', '2026-03-01T00:00:00.000Z'],
    ['2028-02-28T00:00:00.000Z', 'P1D', '2028-02-29T00:00:00.000Z'],
    ['2026-01-01T23:30:00.000Z', 'PT45M', '2026-01-02T00:15:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 'P1DT2H30M', '2026-01-02T02:30:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 'PT1.5S', '2026-01-01T00:00:01.500Z'],
    ['2026-01-01T00:00:00.000Z', 'PT36H', '2026-01-02T12:00:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 'P0D', '2026-01-01T00:00:00.000Z'],
  ])('%s + %s = %s', (from, duration, expected) => {
    expect(addDuration(at(from), parseDuration(duration)).toISOString()).toBe(expected);
  });

  it('counts a day as exactly 24 hours, across what would be a DST change in local time', () => {
    // 29 March 2026 is the EU spring-forward date; in UTC a day is still 24 h.
    const from = at('2026-03-28T12:00:00.000Z');
    expect(addDuration(from, parseDuration('P1D')).getTime() - from.getTime()).toBe(DAY_MS);
    expect(addDuration(from, parseDuration('P2W')).getTime() - from.getTime()).toBe(14 * DAY_MS);
  });

  it('does not change the date it is given', () => {
    const from = at('2026-01-31T00:00:00.000Z');
    addDuration(from, parseDuration('P1M1D'));
    expect(from.toISOString()).toBe('2026-01-31T00:00:00.000Z');
  });

  it('adds P{a}D then P{b}D the same as P{a+b}D', () => {
    fc.assert(
      fc.property(
        fc.date({ min: at('1970-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.nat(5000),
        fc.nat(5000),
        (from, a, b) => {
          const twoSteps = addDuration(addDuration(from, parseDuration(`P${a}D`)), parseDuration(`P${b}D`));
          const oneStep = addDuration(from, parseDuration(`P${a + b}D`));
          expect(twoSteps.getTime()).toBe(oneStep.getTime());
          expect(oneStep.getTime() - from.getTime()).toBe((a + b) * DAY_MS);
        },
      ),
    );
  });

  it('adds P{n}M landing in the right month on the same or a clamped day, at the same time of day', () => {
    fc.assert(
      fc.property(
        fc.date({ min: at('1970-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.nat(240),
        (from, n) => {
          const to = addDuration(from, parseDuration(`P${n}M`));
          const monthIndex = from.getUTCFullYear() * 12 + from.getUTCMonth() + n;
          expect(to.getUTCFullYear()).toBe(Math.floor(monthIndex / 12));
          expect(to.getUTCMonth()).toBe(monthIndex % 12);
          const lastDay = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() + 1, 0)).getUTCDate();
          expect(to.getUTCDate()).toBe(Math.min(from.getUTCDate(), lastDay));
          expect(to.getTime() % DAY_MS).toBe(from.getTime() % DAY_MS);
        },
      ),
    );
  });
});

describe('isZero', () => {
  it.each(['P0D', 'PT0S', 'P0Y0M0W0DT0H0M0S', 'PT0.000S'])('is true for %s', (input) => {
    expect(isZero(parseDuration(input))).toBe(true);
  });

  it.each(['P1D', 'PT1S', 'PT0.001S', 'P1M', 'P1Y', 'P1W', 'PT1H', 'PT1M'])('is false for %s', (input) => {
    expect(isZero(parseDuration(input))).toBe(false);
  });
});
