import { randomUUID } from 'node:crypto';
import type { CapturedFunction, TypedData } from '../functions-core';
import type { HostClock } from '../host-clock';
import { FunctionFailedError, type Invoker } from '../invoke';
import type { HostLogger } from '../logger';
import {
  DurableStore,
  type HistoryEvent,
  type InboxMessage,
  type InstanceRecord,
  type InstanceState,
  type OpenTask,
  type RetryPolicy,
  type RuntimeStatus,
} from './store';

/**
 * Runs durable-functions orchestrations the way the Durable extension does: each episode replays the
 * instance's history through the library's own orchestrator handler, reads back the actions it returns,
 * records them and does the work (activities, timers, sub-orchestrations). The library matches
 * completions to tasks by the ids it hands out in yield order, so the engine mirrors that counter,
 * including the ids the library takes for retries and for timers longer than the short-timer limit.
 */

const enum E {
  ExecutionStarted = 0,
  ExecutionCompleted = 1,
  ExecutionFailed = 2,
  ExecutionTerminated = 3,
  TaskScheduled = 4,
  TaskCompleted = 5,
  TaskFailed = 6,
  SubOrchestrationInstanceCreated = 7,
  SubOrchestrationInstanceCompleted = 8,
  SubOrchestrationInstanceFailed = 9,
  TimerCreated = 10,
  TimerFired = 11,
  OrchestratorStarted = 12,
  OrchestratorCompleted = 13,
  EventRaised = 15,
  ContinueAsNew = 16,
  ExecutionSuspended = 19,
  ExecutionResumed = 20,
}

const enum A {
  CallActivity = 0,
  CallActivityWithRetry = 1,
  CallSubOrchestrator = 2,
  CallSubOrchestratorWithRetry = 3,
  ContinueAsNew = 4,
  CreateTimer = 5,
  WaitForExternalEvent = 6,
  WhenAny = 11,
  WhenAll = 12,
}

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  retryOptions?: RetryPolicy;
  fireAt?: string | Date;
  isCanceled?: boolean;
  compoundActions?: Action[];
}

export interface DurableOptions {
  hubName: string;
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  maximumShortTimerMs: number;
  longRunningTimerIntervalMs: number;
  /** Extra input bindings the host fills in (the durable client) for an activity. */
  extraInputs?: (fn: CapturedFunction) => { name: string; data: TypedData }[];
}

export class DurableError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 410,
    message: string,
  ) {
    super(message);
    this.name = 'DurableError';
  }
}

const TERMINAL: RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];
const SHORT_TIMER = '6.00:00:00';
const LONG_INTERVAL = '3.00:00:00';

class Semaphore {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#active++;
    try {
      return await work();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}

function triggerName(fn: CapturedFunction): string {
  return Object.entries(fn.metadata.bindings).find(
    ([, b]) => b.direction === 'in' && /Trigger$/i.test(String(b.type)),
  )![0];
}

function fromTyped(data: TypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (typeof data.json === 'string') return JSON.parse(data.json);
  if (typeof data.string === 'string') return data.string;
  if (data.bytes) return Buffer.from(data.bytes).toString('base64');
  for (const k of ['int', 'double'] as const)
    if (data[k] !== undefined && data[k] !== null) return Number(data[k]);
  return undefined;
}

const json = (v: unknown): string => JSON.stringify(v === undefined ? null : v);

/** Activity and continue-as-new inputs arrive pre-serialized when they are strings (Utils.processInput). */
function actionInput(action: Action): string | undefined {
  if (action.input === undefined) return undefined;
  const preSerialized = action.actionType <= A.CallActivityWithRetry || action.actionType === A.ContinueAsNew;
  return preSerialized && typeof action.input === 'string' ? action.input : json(action.input);
}

export class DurableEngine {
  readonly store: DurableStore;
  readonly #orchestrators = new Map<string, CapturedFunction>();
  readonly #activities = new Map<string, CapturedFunction>();
  readonly #records = new Map<string, InstanceRecord>();
  readonly #loading = new Map<string, Promise<InstanceRecord | undefined>>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #timers = new Map<string, { instanceId: string; executionId: string; id: number; at: number }>();
  readonly #activitySlots: Semaphore;
  readonly #orchestratorSlots: Semaphore;
  #busy = 0;
  #idleWaiters: (() => void)[] = [];
  #seq = 0;
  #wake: NodeJS.Timeout | undefined;
  #stopped = false;
  /** History events appended per instance, for benchmarks and tests. */
  eventsWritten = 0;

  constructor(
    functions: Iterable<CapturedFunction>,
    private readonly invoker: Invoker,
    private readonly clock: HostClock,
    connectionString: string,
    private readonly options: DurableOptions,
    private readonly log: HostLogger,
  ) {
    for (const fn of functions) {
      const type = String(
        Object.values(fn.metadata.bindings).find(
          (b) => b.direction === 'in' && /Trigger$/i.test(String(b.type)),
        )?.type ?? '',
      );
      if (type === 'orchestrationTrigger') this.#orchestrators.set(fn.metadata.name.toLowerCase(), fn);
      if (type === 'activityTrigger') this.#activities.set(fn.metadata.name.toLowerCase(), fn);
    }
    this.store = new DurableStore(connectionString, options.hubName);
    this.#activitySlots = new Semaphore(options.maxConcurrentActivities);
    this.#orchestratorSlots = new Semaphore(options.maxConcurrentOrchestrations);
  }

  get hasOrchestrations(): boolean {
    return this.#orchestrators.size > 0;
  }

  // ---------- lifecycle ----------

  /** Picks up every unfinished instance from storage: re-arms timers, re-runs unfinished work. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.store.ready();
    for (const s of await this.store.listStates()) {
      if (TERMINAL.includes(s.status)) continue;
      const record = await this.#load(s.instanceId);
      if (!record) continue;
      this.#resumeWork(record);
      this.#schedule(record.state.instanceId);
    }
    this.#armWake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#wake) clearTimeout(this.#wake);
    await Promise.all([...this.#chains.values()]);
  }

  /** Resolves when no episode or activity is running or queued. */
  whenIdle(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #enter(): void {
    this.#busy++;
  }

  #leave(): void {
    if (--this.#busy === 0) this.#idleWaiters.splice(0).forEach((r) => r());
  }

  // ---------- client operations (the Durable HTTP API calls these) ----------

  async startNew(
    name: string,
    instanceId: string | undefined,
    input: unknown,
    parent?: InstanceState['parent'],
  ): Promise<string> {
    const fn = this.#orchestrators.get(name.toLowerCase());
    if (!fn)
      throw new DurableError(
        400,
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const id = instanceId ?? randomUUID().replace(/-/g, '');
    // Instance ids become storage keys and URL segments: no slashes, '#', '?' or control characters.
    // eslint-disable-next-line no-control-regex
    if (!/^[^/\\#?\u0000-\u001f\u007f-\u009f]{1,256}$/.test(id))
      throw new DurableError(400, `Instance id "${id}" is not valid.`);
    // A run that has just finished shows so before its last commit lands: purging under that commit
    // would race it (rows it deletes, a state row it writes back).
    await this.#quiet(id);
    const existing = await this.#load(id);
    if (existing && !TERMINAL.includes(existing.state.status)) {
      throw new DurableError(
        409,
        `An instance with ID '${id}' already exists and is ${existing.state.status}.`,
      );
    }
    const now = new Date(this.clock.now()).toISOString();
    const executionId = randomUUID().replace(/-/g, '');
    if (existing) {
      await this.store.purge(id);
      this.#records.delete(id);
    }
    const state: InstanceState = {
      instanceId: id,
      name: fn.metadata.name,
      executionId,
      status: 'Pending',
      input: input === undefined ? undefined : json(input),
      createdTime: now,
      lastUpdatedTime: now,
      parent,
      idCounter: 0,
      actionCount: 0,
      open: {},
      historyLength: 0,
    };
    const record: InstanceRecord = { state, history: [], inbox: [] };
    const started = this.#message({
      kind: 'event',
      event: {
        EventType: E.ExecutionStarted,
        Name: fn.metadata.name,
        Input: state.input ?? null,
        OrchestrationInstance: { InstanceId: id, ExecutionId: executionId },
      },
    });
    await this.store.commit(state, [], 0, [], [started]);
    record.inbox.push(started);
    this.#records.set(id, record);
    this.#schedule(id);
    return id;
  }

  async raiseEvent(instanceId: string, name: string, data: unknown): Promise<void> {
    const record = await this.#require(instanceId);
    if (TERMINAL.includes(record.state.status))
      throw new DurableError(410, `Instance '${instanceId}' is ${record.state.status}.`);
    await this.#deliver(instanceId, {
      kind: 'event',
      event: { EventType: E.EventRaised, Name: name, Input: json(data) },
    });
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    const record = await this.#require(instanceId);
    if (TERMINAL.includes(record.state.status))
      throw new DurableError(410, `Instance '${instanceId}' is ${record.state.status}.`);
    await this.#deliver(instanceId, { kind: 'terminate', reason });
  }

  async suspend(instanceId: string, reason: string): Promise<void> {
    const record = await this.#require(instanceId);
    if (TERMINAL.includes(record.state.status))
      throw new DurableError(410, `Instance '${instanceId}' is ${record.state.status}.`);
    await this.#deliver(instanceId, { kind: 'suspend', reason });
  }

  async resume(instanceId: string, reason: string): Promise<void> {
    const record = await this.#require(instanceId);
    if (TERMINAL.includes(record.state.status))
      throw new DurableError(410, `Instance '${instanceId}' is ${record.state.status}.`);
    await this.#deliver(instanceId, { kind: 'resume', reason });
  }

  async purge(instanceId: string): Promise<void> {
    await this.#quiet(instanceId);
    const record = await this.#require(instanceId);
    if (!TERMINAL.includes(record.state.status))
      throw new DurableError(
        400,
        `Instance '${instanceId}' is ${record.state.status}; only finished instances can be purged.`,
      );
    await this.store.purge(instanceId);
    this.#records.delete(instanceId);
  }

  async getState(instanceId: string): Promise<InstanceRecord | undefined> {
    return this.#load(instanceId);
  }

  async listStates(): Promise<InstanceState[]> {
    return this.store.listStates();
  }

  // ---------- timers ----------

  /** The earliest armed durable timer, for the host's virtual clock. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const t of this.#timers.values()) if (min === undefined || t.at < min) min = t.at;
    return min;
  }

  /** Fires every timer due at or before `at` and waits for the work they start. */
  async fireDue(at: number): Promise<void> {
    const due = [...this.#timers.entries()].filter(([, t]) => t.at <= at).sort((a, b) => a[1].at - b[1].at);
    for (const [key, t] of due) {
      this.#timers.delete(key);
      const record = this.#records.get(t.instanceId);
      const task = record?.state.open[String(t.id)];
      if (!record || record.state.executionId !== t.executionId || !task) continue;
      await this.#deliver(t.instanceId, {
        kind: 'event',
        internal: task.kind === 'timer' ? task.long === true : true,
        event: { EventType: E.TimerFired, TimerId: t.id, FireAt: new Date(t.at).toISOString() },
      });
    }
    await this.whenIdle();
  }

  #arm(instanceId: string, executionId: string, id: number, at: number): void {
    this.#timers.set(`${instanceId}|${id}`, { instanceId, executionId, id, at });
    this.#armWake();
  }

  #armWake(): void {
    if (this.#stopped) return;
    if (this.#wake) clearTimeout(this.#wake);
    const next = this.nextDue();
    if (next === undefined) return;
    // Wake at least every second so a moved virtual clock is noticed.
    this.#wake = setTimeout(
      () => {
        this.#wake = undefined;
        void this.fireDue(this.clock.now()).finally(() => this.#armWake());
      },
      Math.max(0, Math.min(next - this.clock.now(), 1000)),
    );
    this.#wake.unref?.();
  }

  // ---------- internals ----------

  #message(m: Omit<InboxMessage, 'seq'>): InboxMessage {
    return {
      ...m,
      seq: `${String(Date.now()).padStart(15, '0')}-${String(this.#seq++).padStart(9, '0')}-${randomUUID().slice(0, 8)}`,
    };
  }

  async #require(instanceId: string): Promise<InstanceRecord> {
    const record = await this.#load(instanceId);
    if (!record) throw new DurableError(404, `No instance with ID '${instanceId}' was found.`);
    return record;
  }

  /**
   * The one in-memory record of an instance. Concurrent loads share one read, and a record that
   * appeared while the read was in flight (a new instance) wins over what the read found: two copies
   * would split the inbox between them, and messages pushed into the stale one would never run.
   */
  async #load(instanceId: string): Promise<InstanceRecord | undefined> {
    const cached = this.#records.get(instanceId);
    if (cached) return cached;
    let reading = this.#loading.get(instanceId);
    if (!reading) {
      reading = this.store.load(instanceId).finally(() => this.#loading.delete(instanceId));
      this.#loading.set(instanceId, reading);
    }
    const record = await reading;
    const current = this.#records.get(instanceId);
    if (current) return current;
    if (record) this.#records.set(instanceId, record);
    return record;
  }

  /** Persists a message for the instance, then processes it. */
  async #deliver(instanceId: string, message: Omit<InboxMessage, 'seq'>): Promise<void> {
    const m = this.#message(message);
    await this.store.appendInbox(instanceId, m);
    const record = await this.#load(instanceId);
    if (!record) return;
    record.inbox.push(m);
    this.#schedule(instanceId);
  }

  /** Waits until no episode or control message of the instance is being processed or committed. */
  async #quiet(instanceId: string): Promise<void> {
    for (let chain = this.#chains.get(instanceId); chain; chain = this.#chains.get(instanceId)) await chain;
  }

  #schedule(instanceId: string): void {
    this.#enter();
    const previous = this.#chains.get(instanceId) ?? Promise.resolve();
    const next = previous
      .then(() => this.#orchestratorSlots.run(() => this.#process(instanceId)))
      .catch((e: unknown) =>
        this.#log('error', `Processing instance ${instanceId} failed: ${(e as Error)?.stack ?? e}`),
      )
      .finally(() => {
        if (this.#chains.get(instanceId) === next) this.#chains.delete(instanceId);
        this.#leave();
      });
    this.#chains.set(instanceId, next);
  }

  #log(level: 'information' | 'warning' | 'error', message: string, instanceId?: string): void {
    this.log({
      time: new Date().toISOString(),
      level,
      category: 'host',
      functionName: instanceId ? `durable ${instanceId}` : 'durable',
      message,
    });
  }

  /** Re-dispatches whatever an instance was waiting on, after a restart. */
  #resumeWork(record: InstanceRecord): void {
    const { state } = record;
    const pending = new Set(
      record.inbox
        .map((m) => m.event && (m.event['TaskScheduledId'] ?? m.event['TimerId']))
        .filter((x) => x !== undefined),
    );
    for (const [key, task] of Object.entries(state.open)) {
      const id = Number(key);
      if (pending.has(id)) continue;
      if (task.kind === 'activity' && !task.retry?.waiting) this.#runActivity(state, id, task);
      else if (task.kind === 'timer' || task.retry?.waiting)
        this.#arm(state.instanceId, state.executionId, id, Date.parse(task.nextFireAt!));
      else if (task.kind === 'suborch') void this.#startChild(state, id, task);
    }
  }

  async #process(instanceId: string): Promise<void> {
    const record = await this.#load(instanceId);
    if (!record) return;
    while (record.inbox.length > 0 && !this.#stopped) {
      const { state } = record;
      if (TERMINAL.includes(state.status)) {
        await this.store.commit(state, record.history, record.history.length, record.inbox.splice(0));
        return;
      }
      const first = record.inbox[0]!;
      if (first.kind !== 'event') {
        record.inbox.shift();
        await this.#control(record, first);
        continue;
      }
      if (state.status === 'Suspended') {
        // Events wait while suspended; a resume or terminate behind them still gets through.
        const i = record.inbox.findIndex((m) => m.kind === 'resume' || m.kind === 'terminate');
        if (i < 0) return;
        await this.#control(record, record.inbox.splice(i, 1)[0]!);
        continue;
      }
      const batch: InboxMessage[] = [];
      if (first.internal) batch.push(record.inbox.shift()!);
      else
        while (record.inbox[0]?.kind === 'event' && !record.inbox[0].internal)
          batch.push(record.inbox.shift()!);
      await this.#episode(record, batch);
    }
  }

  async #control(record: InstanceRecord, m: InboxMessage): Promise<void> {
    const { state } = record;
    const now = new Date(this.clock.now()).toISOString();
    const from = record.history.length;
    if (m.kind === 'terminate') {
      record.history.push({
        EventType: E.ExecutionTerminated,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Input: m.reason ?? '',
      });
      state.status = 'Terminated';
      state.output = json(m.reason ?? '');
      this.#closeOpen(state);
    } else if (m.kind === 'suspend' && state.status !== 'Suspended') {
      record.history.push({
        EventType: E.ExecutionSuspended,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Reason: m.reason ?? '',
      });
      state.status = 'Suspended';
    } else if (m.kind === 'resume' && state.status === 'Suspended') {
      record.history.push({
        EventType: E.ExecutionResumed,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Reason: m.reason ?? '',
      });
      state.status = 'Running';
    }
    state.lastUpdatedTime = now;
    state.historyLength = record.history.length;
    await this.store.commit(state, record.history, from, [m]);
    if (state.status === 'Terminated') await this.#notifyParent(state, false);
  }

  #closeOpen(state: InstanceState): void {
    for (const key of Object.keys(state.open)) this.#timers.delete(`${state.instanceId}|${key}`);
    state.open = {};
  }

  async #episode(record: InstanceRecord, batch: InboxMessage[]): Promise<void> {
    const { state } = record;
    const fn = this.#orchestrators.get(state.name.toLowerCase());
    const nowMs = this.clock.now();
    const now = new Date(nowMs).toISOString();
    const from = record.history.length;
    const fresh: HistoryEvent[] = [
      { EventType: E.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: now },
    ];
    for (const m of batch)
      fresh.push({ EventId: -1, ...m.event!, IsPlayed: false, Timestamp: now } as HistoryEvent);
    if (state.status === 'Pending') state.status = 'Running';

    // Ids the library takes while it processes these events (it does so before running user code).
    const scheduled: HistoryEvent[] = [];
    const work: (() => void)[] = [];
    for (const ev of fresh) this.#bookkeep(state, ev, nowMs, scheduled, work);

    const past = record.history.map((e) => ({ ...e, IsPlayed: true }));
    const payload = {
      history: [...past, ...fresh],
      input: state.input === undefined ? undefined : JSON.parse(state.input),
      instanceId: state.instanceId,
      isReplaying: past.length > 0,
      parentInstanceId: state.parent?.instanceId ?? '',
      upperSchemaVersion: 3,
      upperSchemaVersionNew: 3,
      maximumShortTimerDuration: SHORT_TIMER,
      longRunningTimerIntervalDuration: LONG_INTERVAL,
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    let result:
      | { isDone?: boolean; actions?: Action[][]; output?: unknown; error?: string; customStatus?: unknown }
      | undefined;
    let failure: string | undefined;
    if (!fn) {
      failure = `The orchestrator function '${state.name}' is not registered in this app.`;
    } else {
      try {
        const outcome = await this.invoker.invoke(fn, {
          inputData: [{ name: triggerName(fn), data: { string: JSON.stringify(payload) } }],
        });
        // The handler's own objects keep their identity: a task yielded again inside Task.any/all is
        // the same action object, which the library does not give a new id.
        result = (
          typeof outcome.result === 'object' && outcome.result !== null && 'actions' in outcome.result
            ? outcome.result
            : fromTyped(outcome.response.returnValue)
        ) as typeof result;
      } catch (e) {
        const cause = e instanceof FunctionFailedError ? e.cause : e;
        const message = String((cause as Error)?.message ?? cause);
        const marker = message.indexOf('$OutOfProcData$:');
        let detail = marker >= 0 ? message.slice(0, marker).trim() : message;
        if (marker >= 0) {
          try {
            const st = JSON.parse(message.slice(marker + '$OutOfProcData$:'.length)) as { error?: string };
            if (st.error) detail = st.error;
          } catch {
            // keep the text before the marker
          }
        }
        failure = `Orchestrator function '${state.name}' failed: ${detail}`;
      }
    }

    record.history.push(...fresh);
    if (result && result.customStatus !== undefined) state.customStatus = json(result.customStatus);
    let continueAs: Action | undefined;
    if (result && !failure) {
      const actions = result.actions?.[0] ?? [];
      const seen = new Set<Action>();
      actions.slice(0, state.actionCount).forEach((a) => flatten(a).forEach((leaf) => seen.add(leaf)));
      for (const action of actions.slice(state.actionCount)) {
        for (const leaf of flatten(action)) {
          if (seen.has(leaf)) continue;
          seen.add(leaf);
          if (leaf.actionType === A.ContinueAsNew) {
            continueAs = leaf;
            continue;
          }
          const unsupported = this.#schedule1(state, leaf, nowMs, scheduled, work);
          if (unsupported) failure = unsupported;
        }
      }
      state.actionCount = Math.max(state.actionCount, actions.length);
    }
    record.history.push(...scheduled);
    record.history.push({ EventType: E.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });

    let finished: 'completed' | 'failed' | 'continued' | undefined;
    if (failure) {
      record.history.push({
        EventType: E.ExecutionFailed,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Reason: failure,
      });
      state.status = 'Failed';
      state.output = json(failure);
      finished = 'failed';
      this.#log('error', failure, state.instanceId);
    } else if (result?.isDone && continueAs) {
      finished = 'continued';
    } else if (result?.isDone) {
      record.history.push({
        EventType: E.ExecutionCompleted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Result: json(result.output),
      });
      state.status = 'Completed';
      state.output = json(result.output);
      finished = 'completed';
    }
    state.lastUpdatedTime = now;
    if (finished) this.#closeOpen(state);
    state.historyLength = record.history.length;
    this.eventsWritten += record.history.length - from;

    if (finished === 'continued') {
      const oldExecution = state.executionId;
      state.executionId = randomUUID().replace(/-/g, '');
      state.input = actionInput(continueAs!);
      state.status = 'Running';
      state.idCounter = 0;
      state.actionCount = 0;
      state.historyLength = 0;
      record.history = [];
      const restart = this.#message({
        kind: 'event',
        event: { EventType: E.ExecutionStarted, Name: state.name, Input: state.input ?? null },
      });
      await this.store.commit(state, [], 0, batch, [restart]);
      record.inbox.unshift(restart);
      await this.store.deleteExecutionHistory(state.instanceId, oldExecution);
      return;
    }
    await this.store.commit(state, record.history, from, batch);
    if (finished) {
      await this.#notifyParent(state, finished === 'completed');
      return;
    }
    for (const w of work) w();
  }

  /** Mirrors what the library does with one incoming event that concerns an open task. */
  #bookkeep(
    state: InstanceState,
    ev: HistoryEvent,
    nowMs: number,
    scheduled: HistoryEvent[],
    work: (() => void)[],
  ): void {
    const now = new Date(nowMs).toISOString();
    const idKey =
      ev.EventType === E.TimerFired
        ? 'TimerId'
        : ev.EventType === E.TaskCompleted ||
            ev.EventType === E.TaskFailed ||
            ev.EventType === E.SubOrchestrationInstanceCompleted ||
            ev.EventType === E.SubOrchestrationInstanceFailed
          ? 'TaskScheduledId'
          : undefined;
    if (!idKey) return;
    const id = ev[idKey] as number;
    const task = state.open[String(id)];
    if (!task) return;
    delete state.open[String(id)];
    const failed = ev.EventType === E.TaskFailed || ev.EventType === E.SubOrchestrationInstanceFailed;
    if (task.retry && failed) {
      // RetryableTask: a failed attempt makes the library wait on a timer with the next id.
      const timerId = state.idCounter++;
      const r = task.retry;
      const delay = Math.min(
        r.policy.firstRetryIntervalInMilliseconds * Math.pow(r.policy.backoffCoefficient ?? 1, r.attempt - 1),
        r.policy.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER,
      );
      const timedOut =
        r.policy.retryTimeoutInMilliseconds !== undefined &&
        nowMs - r.startedAt > r.policy.retryTimeoutInMilliseconds;
      const at = nowMs + (timedOut ? 0 : delay);
      const next: OpenTask = {
        ...task,
        nextFireAt: new Date(at).toISOString(),
        retry: {
          ...r,
          waiting: true,
          lastError: { reason: String(ev['Reason'] ?? ''), details: String(ev['Details'] ?? '') },
        },
      };
      if (timedOut) next.retry!.attempt = Math.max(next.retry!.attempt, r.policy.maxNumberOfAttempts);
      state.open[String(timerId)] = next;
      scheduled.push({
        EventType: E.TimerCreated,
        EventId: timerId,
        IsPlayed: false,
        Timestamp: now,
        FireAt: next.nextFireAt,
      });
      work.push(() => this.#arm(state.instanceId, state.executionId, timerId, at));
      return;
    }
    if (task.retry?.waiting && ev.EventType === E.TimerFired) {
      if (task.retry.attempt >= task.retry.policy.maxNumberOfAttempts) return; // the library now fails the task
      const attemptId = state.idCounter++;
      const next: OpenTask = {
        ...task,
        retry: { ...task.retry, attempt: task.retry.attempt + 1, waiting: false },
      };
      state.open[String(attemptId)] = next;
      this.#recordStart(state, attemptId, next, now, scheduled, work);
      return;
    }
    if (task.kind === 'timer' && task.long && ev.EventType === E.TimerFired) {
      const finalAt = Date.parse(task.finalFireAt!);
      if (finalAt > nowMs) {
        // LongTimerTask: the library takes the next id for the next leg of the timer.
        const legId = state.idCounter++;
        const at =
          finalAt - nowMs > this.options.maximumShortTimerMs
            ? nowMs + this.options.longRunningTimerIntervalMs
            : finalAt;
        state.open[String(legId)] = { ...task, nextFireAt: new Date(at).toISOString() };
        scheduled.push({
          EventType: E.TimerCreated,
          EventId: legId,
          IsPlayed: false,
          Timestamp: now,
          FireAt: new Date(at).toISOString(),
        });
        work.push(() => this.#arm(state.instanceId, state.executionId, legId, at));
      }
    }
  }

  /** Records and queues one new action the orchestrator returned; returns an error for unsupported ones. */
  #schedule1(
    state: InstanceState,
    action: Action,
    nowMs: number,
    scheduled: HistoryEvent[],
    work: (() => void)[],
  ): string | undefined {
    const now = new Date(nowMs).toISOString();
    switch (action.actionType) {
      case A.WaitForExternalEvent:
        return undefined;
      case A.CallActivity:
      case A.CallActivityWithRetry:
      case A.CallSubOrchestrator:
      case A.CallSubOrchestratorWithRetry: {
        const id = state.idCounter++;
        const isActivity = action.actionType <= A.CallActivityWithRetry;
        const name = action.functionName!;
        if (isActivity && !this.#activities.has(name.toLowerCase())) {
          return `The activity function '${name}' is not registered in this app.`;
        }
        const task: OpenTask = {
          kind: isActivity ? 'activity' : 'suborch',
          name,
          input: actionInput(action),
          childId: isActivity ? undefined : action.instanceId,
          retry: action.retryOptions
            ? { policy: action.retryOptions, attempt: 1, startedAt: nowMs, waiting: false }
            : undefined,
        };
        state.open[String(id)] = task;
        this.#recordStart(state, id, task, now, scheduled, work);
        return undefined;
      }
      case A.CreateTimer: {
        const id = state.idCounter++;
        const finalAt = new Date(action.fireAt as string | Date).getTime();
        const long = finalAt - nowMs > this.options.maximumShortTimerMs;
        const at = long ? nowMs + this.options.longRunningTimerIntervalMs : finalAt;
        state.open[String(id)] = {
          kind: 'timer',
          finalFireAt: new Date(finalAt).toISOString(),
          nextFireAt: new Date(at).toISOString(),
          long,
        };
        scheduled.push({
          EventType: E.TimerCreated,
          EventId: id,
          IsPlayed: false,
          Timestamp: now,
          FireAt: new Date(at).toISOString(),
        });
        if (!action.isCanceled) work.push(() => this.#arm(state.instanceId, state.executionId, id, at));
        return undefined;
      }
      default:
        return `Action type ${action.actionType} (entities, durable HTTP) is not supported by the local host.`;
    }
  }

  #recordStart(
    state: InstanceState,
    id: number,
    task: OpenTask,
    now: string,
    scheduled: HistoryEvent[],
    work: (() => void)[],
  ): void {
    if (task.kind === 'activity') {
      scheduled.push({
        EventType: E.TaskScheduled,
        EventId: id,
        IsPlayed: false,
        Timestamp: now,
        Name: task.name,
        Input: task.input ?? null,
      });
      work.push(() => this.#runActivity(state, id, task));
    } else {
      const childId =
        task.retry && task.retry.attempt > 1
          ? `${task.childId ?? `${state.instanceId}:${id}`}`
          : (task.childId ?? `${state.instanceId}:${id}`);
      task.childId = task.retry && task.retry.attempt > 1 ? `${state.instanceId}:${id}` : childId;
      scheduled.push({
        EventType: E.SubOrchestrationInstanceCreated,
        EventId: id,
        IsPlayed: false,
        Timestamp: now,
        Name: task.name,
        InstanceId: task.childId,
        Input: task.input ?? null,
      });
      work.push(() => void this.#startChild(state, id, task));
    }
  }

  #runActivity(state: InstanceState, id: number, task: OpenTask): void {
    const fn = this.#activities.get(task.name!.toLowerCase())!;
    const { instanceId, executionId } = state;
    this.#enter();
    void this.#activitySlots
      .run(async () => {
        let message: Omit<InboxMessage, 'seq'>;
        try {
          const outcome = await this.invoker.invoke(fn, {
            inputData: [
              {
                name: triggerName(fn),
                data: task.input === undefined ? { json: 'null' } : { json: task.input },
              },
              ...(this.options.extraInputs?.(fn) ?? []),
            ],
          });
          message = {
            kind: 'event',
            event: {
              EventType: E.TaskCompleted,
              TaskScheduledId: id,
              Result: json(fromTyped(outcome.response.returnValue)),
            },
          };
        } catch (e) {
          const cause = e instanceof FunctionFailedError ? e.cause : e;
          message = {
            kind: 'event',
            internal: task.retry !== undefined,
            event: {
              EventType: E.TaskFailed,
              TaskScheduledId: id,
              Reason: `Activity function '${task.name}' failed: ${(cause as Error)?.message ?? cause}`,
              Details: String((cause as Error)?.stack ?? ''),
            },
          };
        }
        const record = this.#records.get(instanceId);
        if (!record || record.state.executionId !== executionId || TERMINAL.includes(record.state.status))
          return;
        // Straight to the instance, unwritten: the episode that takes it commits it as history, one
        // transaction instead of an inbox row and then the episode (see InboxMessage.volatile).
        record.inbox.push({ ...this.#message(message), volatile: true });
        this.#schedule(instanceId);
      })
      .catch((e: unknown) =>
        this.#log(
          'error',
          `Activity '${task.name}' could not report its result: ${(e as Error)?.message ?? e}`,
          instanceId,
        ),
      )
      .finally(() => this.#leave());
  }

  async #startChild(parent: InstanceState, id: number, task: OpenTask): Promise<void> {
    const childId = task.childId!;
    const existing = await this.#load(childId);
    if (
      existing &&
      existing.state.parent?.instanceId === parent.instanceId &&
      existing.state.parent.taskId === id
    ) {
      // Started before a restart. If it also finished, the host may have died before telling the
      // parent, so tell it now (a second report for a closed task is ignored).
      if (TERMINAL.includes(existing.state.status))
        await this.#notifyParent(existing.state, existing.state.status === 'Completed');
      return;
    }
    try {
      await this.startNew(
        task.name!,
        childId,
        task.input === undefined ? undefined : JSON.parse(task.input),
        { instanceId: parent.instanceId, taskId: id },
      );
    } catch (e) {
      await this.#deliver(parent.instanceId, {
        kind: 'event',
        internal: task.retry !== undefined,
        event: {
          EventType: E.SubOrchestrationInstanceFailed,
          TaskScheduledId: id,
          Reason: (e as Error).message,
          Details: '',
        },
      });
    }
  }

  async #notifyParent(state: InstanceState, succeeded: boolean): Promise<void> {
    if (!state.parent) return;
    const parent = await this.#load(state.parent.instanceId);
    const task = parent?.state.open[String(state.parent.taskId)];
    if (!parent || !task) return;
    await this.#deliver(
      parent.state.instanceId,
      succeeded
        ? {
            kind: 'event',
            event: {
              EventType: E.SubOrchestrationInstanceCompleted,
              TaskScheduledId: state.parent.taskId,
              Result: state.output ?? 'null',
            },
          }
        : {
            kind: 'event',
            internal: task.retry !== undefined,
            event: {
              EventType: E.SubOrchestrationInstanceFailed,
              TaskScheduledId: state.parent.taskId,
              Reason: state.output ? String(JSON.parse(state.output)) : state.status,
              Details: '',
            },
          },
    );
  }
}

function flatten(action: Action): Action[] {
  if (action.actionType === A.WhenAll || action.actionType === A.WhenAny)
    return (action.compoundActions ?? []).flatMap(flatten);
  return [action];
}
