import { CliError } from './errors';
import { durationMs, untilDate } from './time';

const NOW = new Date('2026-03-02T10:00:00.000Z');

describe('--until', () => {
  it.each([
    ['PT8H', 8 * 3_600_000],
    ['PT90M', 90 * 60_000],
    ['P1DT12H', 36 * 3_600_000],
    ['P2W', 14 * 24 * 3_600_000],
    ['pt30s', 30_000],
  ])('reads the duration %s', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
    expect(untilDate(text, NOW).getTime()).toBe(NOW.getTime() + ms);
  });

  it.each(['P', 'PT', 'P1DT', '8h', 'PT-1H', 'P1Y', 'P1.5D'])('is not a duration: %s', (text) => {
    expect(durationMs(text)).toBeUndefined();
  });

  it('takes a date-time with a zone and turns it to UTC', () => {
    expect(untilDate('2026-03-02T18:30:00+01:00', NOW).toISOString()).toBe('2026-03-02T17:30:00.000Z');
    expect(untilDate('2026-03-03T00:00:00Z', NOW).toISOString()).toBe('2026-03-03T00:00:00.000Z');
  });

  it.each([
    ['2026-03-02T18:00:00', /neither a date-time with a zone/],
    ['tomorrow', /neither a date-time with a zone/],
    ['2026-03-02T09:00:00Z', /not in the future \(the platform's time is 2026-03-02T10:00:00.000Z\)/],
    ['PT0S', /not in the future/],
    ['P400D', /more than a year away/],
  ])('refuses %s', (text, message) => {
    let error: unknown;
    try {
      untilDate(text, NOW);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    expect((error as CliError).message).toMatch(message);
  });
});
