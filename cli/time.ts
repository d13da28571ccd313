import { usageError } from './errors';

/**
 * `--until` for `trustnet profile`: an ISO 8601 date-time with a zone (`2026-12-01T18:00:00Z`) or a
 * duration from now (`PT8H`, `P1DT12H`, `P2W`). Durations count from the platform's clock, not this
 * machine's, since the platform decides when an override ends.
 */

const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Milliseconds in an ISO 8601 duration of weeks, days, hours, minutes and seconds; undefined if not one. */
export function durationMs(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m || text.toUpperCase() === 'P' || /T$/i.test(text)) return undefined;
  const [w, d, h, min, s] = m.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
  return ((((w! * 7 + d!) * 24 + h!) * 60 + min!) * 60 + s!) * 1000;
}

/** Checks the form of `--until` before anything is sent; whether it lies ahead needs the platform's clock. */
export function checkUntil(text: string): void {
  if (durationMs(text) === undefined && !(DATE_TIME.test(text) && !Number.isNaN(Date.parse(text))))
    throw usageError(
      `--until ${text} is neither a date-time with a zone (2026-12-01T18:00:00Z) nor a duration (PT8H, P1D)`,
    );
}

/** The absolute end of `--until`, checked to lie after `now` (and within a year, as a typo guard). */
export function untilDate(text: string, now: Date): Date {
  checkUntil(text);
  const span = durationMs(text);
  const at = new Date(span !== undefined ? now.getTime() + span : Date.parse(text));
  if (at.getTime() <= now.getTime())
    throw usageError(`--until ${text} is not in the future (the platform's time is ${now.toISOString()})`);
  if (at.getTime() - now.getTime() > 366 * 24 * 3_600_000)
    throw usageError(`--until ${text} is more than a year away; an override is for hours or days`);
  return at;
}
