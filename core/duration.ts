/**
 * ISO 8601 durations (`P7D`, `PT5M`, `P1DT2H30M`, `P2W`, `P1M`). Years and months are calendar units, so
 * they are applied to a date (UTC) rather than turned into a fixed number of milliseconds.
 */

export interface Duration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const PATTERN =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/;

export class DurationError extends Error {
  constructor(readonly input: string) {
    super(`"${input}" is not an ISO 8601 duration such as P7D, PT5M or P1DT12H.`);
    this.name = 'DurationError';
  }
}

export function parseDuration(input: string): Duration {
  const text = input.trim().toUpperCase();
  const m = PATTERN.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) throw new DurationError(input);
  const n = (i: number) => (m[i] ? Number(m[i]) : 0);
  return { years: n(1), months: n(2), weeks: n(3), days: n(4), hours: n(5), minutes: n(6), seconds: n(7) };
}

/** The instant `duration` after `from`. */
export function addDuration(from: Date, duration: Duration): Date {
  const d = new Date(from.getTime());
  if (duration.years || duration.months) {
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() + duration.years * 12 + duration.months);
    // Clamp to the month's last day, as calendars do (31 Jan + P1M = 28/29 Feb).
    const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, lastDay));
  }
  const ms =
    ((((duration.weeks * 7 + duration.days) * 24 + duration.hours) * 60 + duration.minutes) * 60 +
      duration.seconds) *
    1000;
  return new Date(d.getTime() + Math.round(ms));
}

export function isZero(duration: Duration): boolean {
  return Object.values(duration).every((v) => v === 0);
}
