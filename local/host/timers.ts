import { TableClient, RestError } from '@azure/data-tables';
import type { HostClock } from './host-clock';
import type { Schedule } from './ncrontab';

/** What the Functions host keeps per timer (its "schedule monitor"), so a missed occurrence is noticed. */
export interface ScheduleStatus {
  last?: string;
  next: string;
  lastUpdated: string;
}

export interface ScheduleStatusStore {
  get(functionName: string): Promise<ScheduleStatus | undefined>;
  set(functionName: string, status: ScheduleStatus): Promise<void>;
}

/** Keeps schedule status in a storage table, one row per app and function. */
export class TableScheduleStatusStore implements ScheduleStatusStore {
  #ready: Promise<void> | undefined;
  constructor(
    private readonly table: TableClient,
    private readonly partition: string,
  ) {}

  #ensure(): Promise<void> {
    this.#ready ??= this.table.createTable().catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async get(functionName: string): Promise<ScheduleStatus | undefined> {
    await this.#ensure();
    try {
      const e = await this.table.getEntity<{ last?: string; next: string; lastUpdated: string }>(
        this.partition,
        functionName,
      );
      return { last: e.last, next: e.next, lastUpdated: e.lastUpdated };
    } catch (e) {
      if (e instanceof RestError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async set(functionName: string, status: ScheduleStatus): Promise<void> {
    await this.#ensure();
    await this.table.upsertEntity(
      { partitionKey: this.partition, rowKey: functionName, ...status },
      'Replace',
    );
  }
}

export class MemoryScheduleStatusStore implements ScheduleStatusStore {
  readonly rows = new Map<string, ScheduleStatus>();
  async get(name: string) {
    return this.rows.get(name);
  }
  async set(name: string, status: ScheduleStatus) {
    this.rows.set(name, status);
  }
}

export interface TimerDefinition {
  functionName: string;
  schedule: Schedule;
  runOnStartup: boolean;
  useMonitor: boolean;
}

export interface TimerFiring {
  functionName: string;
  scheduledFor: string;
  isPastDue: boolean;
}

/** The payload the Functions host sends a timer trigger (PascalCase; the library camel-cases it). */
export interface TimerPayload {
  Schedule: { AdjustForDST: boolean };
  ScheduleStatus: { Last: string; Next: string; LastUpdated: string } | null;
  IsPastDue: boolean;
}

type Fire = (functionName: string, payload: TimerPayload) => Promise<void>;

/** Something else that keeps time on the host clock (durable timers), advanced with the timer triggers. */
export interface ClockSource {
  nextDue(): number | undefined;
  /** Fires what is due at `at` and resolves when the work it started has settled. */
  fireDue(at: number): Promise<void>;
}

interface TimerState {
  def: TimerDefinition;
  next: number;
  last?: number;
  running: Promise<void> | undefined;
}

const MIN_DATE = '0001-01-01T00:00:00.000Z';
// Wakes at least this often, so a change to the virtual clock or a system sleep is noticed.
const MAX_SLEEP_MS = 30_000;

/**
 * Runs timer triggers on the host clock. Each timer runs one invocation at a time, like the Functions
 * host's singleton timer listener. With a virtual clock, `advance` fires every occurrence up to the new
 * time in order, with time standing at each occurrence while it runs.
 */
export class TimerScheduler {
  readonly #timers = new Map<string, TimerState>();
  #handle: NodeJS.Timeout | undefined;
  #stopped = true;
  #advancing: Promise<unknown> = Promise.resolve();
  #isAdvancing = false;
  readonly #sources: ClockSource[] = [];

  constructor(
    defs: TimerDefinition[],
    private readonly clock: HostClock,
    private readonly store: ScheduleStatusStore,
    private readonly fire: Fire,
    private readonly onError: (functionName: string, error: unknown) => void,
  ) {
    const now = clock.now();
    for (const def of defs)
      this.#timers.set(def.functionName, {
        def,
        next: def.schedule.next(new Date(now)).getTime(),
        running: undefined,
      });
  }

  /** Fires missed occurrences (isPastDue) and runOnStartup timers, then follows the clock. */
  async start(): Promise<void> {
    this.#stopped = false;
    const now = this.clock.now();
    const startup: Promise<void>[] = [];
    for (const t of this.#timers.values()) {
      const saved = t.def.useMonitor ? await this.store.get(t.def.functionName) : undefined;
      if (saved?.last) t.last = Date.parse(saved.last);
      if (saved && Date.parse(saved.next) <= now) {
        startup.push(this.#run(t, Date.parse(saved.next), true));
      } else if (t.def.runOnStartup) {
        startup.push(this.#run(t, now, false, false));
      } else if (t.def.useMonitor) {
        await this.#save(t);
      }
    }
    await Promise.all(startup);
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#handle) clearTimeout(this.#handle);
    this.#handle = undefined;
    await Promise.all([...this.#timers.values()].map((t) => t.running));
  }

  nextOccurrences(): { functionName: string; next: string; schedule: string }[] {
    return [...this.#timers.values()].map((t) => ({
      functionName: t.def.functionName,
      next: new Date(t.next).toISOString(),
      schedule: t.def.schedule.expression,
    }));
  }

  addSource(source: ClockSource): void {
    this.#sources.push(source);
  }

  /** Fires one timer now, outside its schedule (the admin API's manual run). */
  async runNow(functionName: string): Promise<boolean> {
    const t = this.#timers.get(functionName);
    if (!t) return false;
    await this.#run(t, this.clock.now(), false, false);
    return true;
  }

  /** Moves a virtual clock forward by `ms`, firing each due occurrence in time order. */
  advance(ms: number): Promise<TimerFiring[]> {
    const run = this.#advancing.then(() => this.#advanceNow(ms));
    this.#advancing = run.catch(() => undefined);
    return run;
  }

  async #advanceNow(ms: number): Promise<TimerFiring[]> {
    const target = this.clock.now() + ms;
    const fired: TimerFiring[] = [];
    this.#isAdvancing = true;
    if (this.#handle) clearTimeout(this.#handle);
    try {
      for (;;) {
        const due = [...this.#timers.values()]
          .filter((t) => t.next <= target)
          .sort((a, b) => a.next - b.next)[0];
        const source = this.#sources
          .map((src) => ({ src, at: src.nextDue() }))
          .filter((x): x is { src: ClockSource; at: number } => x.at !== undefined && x.at <= target)
          .sort((a, b) => a.at - b.at)[0];
        if (source && (!due || source.at < due.next)) {
          this.clock.freezeAt(source.at);
          await source.src.fireDue(source.at);
          continue;
        }
        if (!due) break;
        const at = due.next;
        this.clock.freezeAt(at);
        fired.push({
          functionName: due.def.functionName,
          scheduledFor: new Date(at).toISOString(),
          isPastDue: false,
        });
        await this.#run(due, at, false);
      }
    } finally {
      this.clock.releaseAt(target);
      this.#isAdvancing = false;
      this.#arm();
    }
    return fired;
  }

  #arm(): void {
    if (this.#stopped || this.#isAdvancing) return;
    if (this.#handle) clearTimeout(this.#handle);
    const earliest = Math.min(...[...this.#timers.values()].map((t) => t.next));
    if (!Number.isFinite(earliest)) return;
    const wait = Math.max(0, Math.min(earliest - this.clock.now(), MAX_SLEEP_MS));
    this.#handle = setTimeout(() => void this.#tick(), wait);
    this.#handle.unref?.();
  }

  async #tick(): Promise<void> {
    this.#handle = undefined;
    if (this.#stopped || this.#isAdvancing) return;
    const now = this.clock.now();
    const due = [...this.#timers.values()]
      .filter((t) => t.next <= now && !t.running)
      .sort((a, b) => a.next - b.next);
    // Each timer runs on its own; one slow timer does not hold back the others.
    for (const t of due) void this.#run(t, t.next, false).finally(() => this.#arm());
    this.#arm();
  }

  /** Runs one occurrence; `advanceSchedule` is false for runs outside the schedule (startup, manual). */
  async #run(t: TimerState, scheduledFor: number, isPastDue: boolean, advanceSchedule = true): Promise<void> {
    while (t.running) await t.running;
    const work = (async () => {
      const now = this.clock.now();
      if (advanceSchedule) t.next = t.def.schedule.next(new Date(Math.max(scheduledFor, now))).getTime();
      const payload: TimerPayload = {
        Schedule: { AdjustForDST: true },
        ScheduleStatus: t.def.useMonitor
          ? {
              Last: t.last ? new Date(t.last).toISOString() : MIN_DATE,
              Next: new Date(t.next).toISOString(),
              LastUpdated: new Date(now).toISOString(),
            }
          : null,
        IsPastDue: isPastDue,
      };
      try {
        await this.fire(t.def.functionName, payload);
      } catch (e) {
        this.onError(t.def.functionName, e);
      }
      t.last = scheduledFor;
      if (t.def.useMonitor) await this.#save(t).catch((e: unknown) => this.onError(t.def.functionName, e));
    })();
    t.running = work;
    try {
      await work;
    } finally {
      if (t.running === work) t.running = undefined;
    }
  }

  #save(t: TimerState): Promise<void> {
    return this.store.set(t.def.functionName, {
      last: t.last ? new Date(t.last).toISOString() : undefined,
      next: new Date(t.next).toISOString(),
      lastUpdated: new Date(this.clock.now()).toISOString(),
    });
  }
}
