import { RestError, TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { submitTransaction } from '../../../azure/table-transaction';

/**
 * Durable state in one storage table per task hub. Each instance is one partition holding its state row,
 * its history rows and its inbox rows, so an episode commits with entity-group transactions: history
 * appended, state replaced and consumed inbox rows deleted together.
 */

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

export interface InboxMessage {
  /** Unique and sortable: arrival order. */
  seq: string;
  kind: 'event' | 'terminate' | 'suspend' | 'resume';
  event?: Omit<HistoryEvent, 'IsPlayed' | 'Timestamp' | 'EventId'> & { EventId?: number };
  /** Consumes ids inside the library (retries, long timers): delivered alone in its episode. */
  internal?: boolean;
  reason?: string;
  /**
   * Held in memory only, never written as an inbox row: an activity's result, which reaches storage in
   * the history of the episode that consumes it. Lost in a crash before then, it is made again: a
   * restart runs every open activity that has no result waiting (at least once, as in Azure).
   */
  volatile?: boolean;
}

export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'Suspended' | 'ContinuedAsNew';

export interface RetryPolicy {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** What the host must do for one id the library is waiting on. */
export interface OpenTask {
  kind: 'activity' | 'timer' | 'suborch';
  name?: string;
  input?: string;
  /** Timers: the instant the library waits for; `nextFireAt` is the (sub-)timer now armed. */
  finalFireAt?: string;
  nextFireAt?: string;
  long?: boolean;
  childId?: string;
  retry?: {
    policy: RetryPolicy;
    attempt: number;
    startedAt: number;
    waiting: boolean;
    lastError?: { reason: string; details: string };
  };
}

export interface InstanceState {
  instanceId: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: string;
  lastUpdatedTime: string;
  parent?: { instanceId: string; taskId: number };
  /** Ids the library has handed out so far, and top-level actions it has returned. */
  idCounter: number;
  actionCount: number;
  open: Record<string, OpenTask>;
  historyLength: number;
}

export interface InstanceRecord {
  state: InstanceState;
  history: HistoryEvent[];
  inbox: InboxMessage[];
}

const CHUNK = 30000;
const MAX_BATCH = 100;

function packJson(value: unknown): Record<string, string> {
  const text = JSON.stringify(value);
  const out: Record<string, string> = {};
  for (let i = 0, k = 0; i < text.length || k === 0; i += CHUNK, k++)
    out[`Body${k}`] = text.slice(i, i + CHUNK);
  return out;
}

function unpackJson<T>(entity: Record<string, unknown>): T {
  let text = '';
  for (let k = 0; typeof entity[`Body${k}`] === 'string'; k++) text += entity[`Body${k}`] as string;
  return JSON.parse(text) as T;
}

const historyKey = (executionId: string, index: number) =>
  `h-${executionId}-${String(index).padStart(10, '0')}`;

export class DurableStore {
  #table: TableClient | undefined;
  #ready: Promise<void> | undefined;

  constructor(
    private readonly connectionString: string,
    readonly hubName: string,
  ) {}

  /** Created on first use, so an app without orchestrations never needs the setting. */
  get table(): TableClient {
    const tableName = `${this.hubName.replace(/[^A-Za-z0-9]/g, '')}Durable`.slice(0, 63);
    this.#table ??= TableClient.fromConnectionString(this.connectionString, tableName, {
      allowInsecureConnection: true,
    });
    return this.#table;
  }

  ready(): Promise<void> {
    this.#ready ??= this.table.createTable().catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async load(instanceId: string): Promise<InstanceRecord | undefined> {
    await this.ready();
    let state: InstanceState | undefined;
    const history: { key: string; event: HistoryEvent }[] = [];
    const inbox: InboxMessage[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${instanceId.replace(/'/g, "''")}'` },
    })) {
      const rk = e.rowKey as string;
      if (rk === 'state') state = unpackJson<InstanceState>(e);
      else if (rk.startsWith('h-')) history.push({ key: rk, event: unpackJson<HistoryEvent>(e) });
      else if (rk.startsWith('i-')) inbox.push(unpackJson<InboxMessage>(e));
    }
    if (!state) return undefined;
    const current = history
      .filter((h) => h.key.startsWith(`h-${state!.executionId}-`))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    // Rows past historyLength belong to an episode that did not commit; they are written again.
    return {
      state,
      history: current.slice(0, state.historyLength).map((h) => h.event),
      inbox: inbox.sort((a, b) => (a.seq < b.seq ? -1 : 1)),
    };
  }

  async listStates(): Promise<InstanceState[]> {
    await this.ready();
    const out: InstanceState[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `RowKey eq 'state'` },
    })) {
      out.push(unpackJson<InstanceState>(e));
    }
    return out;
  }

  readonly #pendingInbox = new Map<string, { message: InboxMessage; done: (e?: unknown) => void }[]>();
  readonly #flushing = new Set<string>();

  /**
   * Persists one inbox message. Messages for the same instance that arrive while a write is in flight
   * are written together in one transaction when it returns (group commit), so a fan-out's completions
   * or a burst of events cost a few round trips to storage instead of one each.
   */
  appendInbox(instanceId: string, message: InboxMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      let queue = this.#pendingInbox.get(instanceId);
      if (!queue) this.#pendingInbox.set(instanceId, (queue = []));
      queue.push({ message, done: (e) => (e === undefined ? resolve() : reject(e)) });
      if (!this.#flushing.has(instanceId)) void this.#flushInbox(instanceId);
    });
  }

  async #flushInbox(instanceId: string): Promise<void> {
    this.#flushing.add(instanceId);
    try {
      await this.ready();
      for (;;) {
        const queue = this.#pendingInbox.get(instanceId);
        if (!queue || queue.length === 0) break;
        const batch = queue.splice(0, MAX_BATCH);
        try {
          await submitTransaction(
            this.table,
            batch.map(({ message }): TransactionAction => [
              'create',
              { partitionKey: instanceId, rowKey: `i-${message.seq}`, ...packJson(message) },
            ]),
          );
          batch.forEach((b) => b.done());
        } catch (e) {
          batch.forEach((b) => b.done(e));
        }
      }
    } catch (e) {
      this.#pendingInbox
        .get(instanceId)
        ?.splice(0)
        .forEach((b) => b.done(e));
    } finally {
      this.#flushing.delete(instanceId);
      this.#pendingInbox.delete(instanceId);
    }
  }

  /**
   * Commits an episode: new history rows from `fromIndex`, the state, the inbox rows consumed and any
   * inbox rows the episode adds for itself (the first message of a new instance or execution), so a
   * crash never leaves a state row that is waiting for a message nobody will write.
   */
  async commit(
    state: InstanceState,
    history: HistoryEvent[],
    fromIndex: number,
    consumed: InboxMessage[],
    added: InboxMessage[] = [],
  ): Promise<void> {
    await this.ready();
    const pk = state.instanceId;
    const actions: TransactionAction[] = [];
    for (let i = fromIndex; i < history.length; i++) {
      actions.push([
        'upsert',
        { partitionKey: pk, rowKey: historyKey(state.executionId, i), ...packJson(history[i]) },
        'Replace',
      ]);
    }
    const last: TransactionAction[] = [
      ['upsert', { partitionKey: pk, rowKey: 'state', ...packJson(state) } as TableEntity, 'Replace'],
      ...consumed
        .filter((m) => !m.volatile)
        .map((m): TransactionAction => ['delete', { partitionKey: pk, rowKey: `i-${m.seq}` }]),
      ...added.map((m): TransactionAction => [
        'create',
        { partitionKey: pk, rowKey: `i-${m.seq}`, ...packJson(m) },
      ]),
    ];
    // History rows past the old length are invisible until the state row says otherwise, so writing
    // them first in separate batches is safe; the state and inbox deletes commit together at the end.
    while (actions.length + last.length > MAX_BATCH) {
      await submitTransaction(this.table, actions.splice(0, MAX_BATCH));
    }
    await submitTransaction(this.table, [...actions, ...last]);
  }

  async deleteExecutionHistory(instanceId: string, executionId: string): Promise<void> {
    const batch: TransactionAction[] = [];
    for await (const e of this.table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${instanceId.replace(/'/g, "''")}'` },
    })) {
      if ((e.rowKey as string).startsWith(`h-${executionId}-`))
        batch.push(['delete', { partitionKey: instanceId, rowKey: e.rowKey as string }]);
    }
    while (batch.length) await submitTransaction(this.table, batch.splice(0, MAX_BATCH));
  }

  async purge(instanceId: string): Promise<void> {
    await this.ready();
    const batch: TransactionAction[] = [];
    for await (const e of this.table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${instanceId.replace(/'/g, "''")}'` },
    })) {
      batch.push(['delete', { partitionKey: instanceId, rowKey: e.rowKey as string }]);
    }
    while (batch.length) await submitTransaction(this.table, batch.splice(0, MAX_BATCH));
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404;
}
