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

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: [
      'January',
      'February',
      'March',
      'April',
      'May',
      'June',
      'July',
      'August',
      'September',
      'October',
      'November',
      'December',
    ],
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 6,
    names: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
  },
];

/**
 * Reads one field as NCrontab does (lists, `*`, `a-b`, `/step`, `a/step` = `a-max/step`, names by prefix) and
 * writes it with plain numbers for croner. Croner alone takes what NCrontab refuses (`L`, `#`, `?`, Sunday as
 * 7), refuses `a/step`, and reports day and month values off by one.
 */
function normalizeField(expression: string, text: string, spec: FieldSpec): string {
  const fail = (why: string): never => {
    throw new ScheduleError(expression, `${spec.name} field "${text}": ${why}`);
  };
  const value = (v: string): number => {
    if (/^\d+$/.test(v)) {
      const n = Number(v);
      if (n < spec.min || n > spec.max) fail(`${v} is out of range (${spec.min}-${spec.max})`);
      return n;
    }
    const i = spec.names?.findIndex((name) => name.toLowerCase().startsWith(v.toLowerCase())) ?? -1;
    if (i < 0)
      fail(`"${v}" is not a number from ${spec.min} to ${spec.max}${spec.names ? ' or a name' : ''}`);
    return spec.min + i;
  };
  return text
    .split(',')
    .map((item) => {
      const m = /^(\*|[^-/*]+(?:-[^-/*]+)?)(?:\/(\d+))?$/.exec(item);
      if (!m) return fail(`"${item}" is not a value, a range or a step`);
      const range = m[1]!;
      const step = m[2];
      if (step !== undefined && Number(step) < 1) fail(`the step in "${item}" must be at least 1`);
      const every = step === undefined ? '' : `/${Number(step)}`;
      if (range === '*') return `*${every}`;
      const [a, b] = range.split('-').map((v) => value(v)) as [number, number?];
      if (b !== undefined) return `${Math.min(a, b)}-${Math.max(a, b)}${every}`;
      return step === undefined ? String(a) : `${a}-${spec.max}${every}`;
    })
    .join(',');
}

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
  const pattern = fields.map((f, i) => normalizeField(expression, f, FIELDS[i]!)).join(' ');
  let cron: Cron;
  try {
    cron = new Cron(pattern, { timezone: 'Etc/UTC', domAndDow: true, mode: '6-part', paused: true });
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
