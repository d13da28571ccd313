import { Cron } from 'croner';

/**
 * Timer trigger schedules as Azure Functions reads them: six-field NCRONTAB (seconds first; day-of-month
 * and day-of-week must both match, as NCrontab does) or a TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`) counted from
 * host start. Evaluated in UTC.
 */
export interface Schedule {
  readonly expression: string;
  readonly kind: 'ncrontab' | 'timespan';
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

export class ScheduleError extends Error {
  constructor(expression: string, reason: string) {
    super(`Schedule "${expression}" is not valid: ${reason}`);
    this.name = 'ScheduleError';
  }
}

const TIMESPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/;

export function parseSchedule(expression: string, origin: Date = new Date()): Schedule {
  const text = expression.trim();
  const ts = TIMESPAN.exec(text);
  if (ts) {
    const [, d, h, m, s] = ts;
    if (Number(h) > 23 || Number(m) > 59 || Number(s) > 59)
      throw new ScheduleError(expression, 'hours, minutes or seconds out of range');
    const periodMs = (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s)) * 1000;
    if (periodMs <= 0) throw new ScheduleError(expression, 'the interval must be longer than zero');
    const start = origin.getTime();
    return {
      expression: text,
      kind: 'timespan',
      next(after) {
        const k = Math.floor((after.getTime() - start) / periodMs) + 1;
        return new Date(start + Math.max(1, k) * periodMs);
      },
    };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new ScheduleError(
      expression,
      `NCRONTAB needs six fields ({second} {minute} {hour} {day} {month} {day-of-week}); found ${fields.length}`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { timezone: 'Etc/UTC', domAndDow: true, mode: '6-part', paused: true });
  } catch (e) {
    throw new ScheduleError(expression, (e as Error).message);
  }
  if (!cron.nextRun(new Date(0))) throw new ScheduleError(expression, 'it never fires');
  return {
    expression: text,
    kind: 'ncrontab',
    next(after) {
      const n = cron.nextRun(after);
      if (!n) throw new ScheduleError(expression, `no occurrence after ${after.toISOString()}`);
      return n;
    },
  };
}
