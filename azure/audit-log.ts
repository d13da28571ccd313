import {
  RestError,
  odata,
  type TableClient,
  type TableEntity,
  type TableEntityResult,
} from '@azure/data-tables';
import { seal, type AuditDraft, type AuditEntry, type AuditKind } from '../core/audit';
import { submitTransaction } from './table-transaction';

/**
 * The audit log in one Azure table.
 *
 * Rows: partition 'entry', row key = seq zero-padded to 12 digits, one row per entry; and a head row
 * ('head'/'head', fields Seq and Hash) that names the newest entry.
 *
 * Concurrency: the entry row is the commit point. A writer reads the head (seq h, hash H), seals its entry
 * as seq h+1 with prev H, and creates row h+1 with createEntity, which fails with 409 if that row exists.
 * Then it moves the head from h to h+1 by ETag compare-and-swap. Invariants:
 *  - rows are only ever created, never updated or deleted, and the head only ever moves from the version a
 *    writer read (seq s) to s+1, naming a row that exists; so the head always names an existing row and
 *    its hash, and never goes back;
 *  - so a writer that creates row h+1 read the hash of row h, and no other row h+1 can exist: each seq is
 *    taken exactly once, the rows are 0..N without gaps, and each row's prev is the hash of the row before.
 * The head is a pointer that may lag behind the rows (a writer can stop between its row and the head): a
 * writer that gets 409 on row h+1 moves the head to that row on the stopped writer's behalf (helping) and
 * tries h+2, so no one waits for a writer that died. Readers list rows directly: every row is a committed
 * entry. A 409 on a row whose hash equals the writer's own entry is its own earlier, retried create.
 */

export type AuditErrorCode = 'AUDIT.CONTENDED' | 'AUDIT.STORAGE' | 'AUDIT.TOO_LARGE' | 'AUDIT.BAD_PAGE';

export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
    /** HTTP status from Table storage, for AUDIT.STORAGE. */
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'AuditError';
  }
}

export interface AuditPage {
  items: AuditEntry[];
  /** Opaque token for the next page, or null when this page reaches the end of the log. */
  continuation: string | null;
}

export interface AuditListOptions {
  /** Only entries with a greater seq. */
  after?: number;
  /** Page size, 1 to 1000; 100 when not given. */
  limit?: number;
  /** Token from a previous page; takes the place of `after`. */
  continuation?: string | null;
}

export interface AuditLogOptions {
  /** Appends that find their seq taken this many times in a row give up with AUDIT.CONTENDED. */
  maxAttempts?: number;
  /**
   * How long (ms) this process lets the head lag behind its own entries before moving it: moves asked
   * for meanwhile merge into one, so a burst of appends moves the head a few times, not once a group.
   * Default 100.
   */
  headDelayMs?: number;
}

const HEAD_PK = 'head';
const HEAD_RK = 'head';
const ENTRY_PK = 'entry';
/** Characters per string property: 60,000 bytes as UTF-16, under Azure's 64 KiB per property. */
const PART_CHARS = 30000;
/** Characters across an entry's strings: under Azure's 1 MiB per entity, with room for names and keys. */
const MAX_ENTRY_CHARS = 480_000;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const DEFAULT_MAX_ATTEMPTS = 100;
const DEFAULT_HEAD_DELAY_MS = 100;
/** Rows a writer that meets taken rows reads at once to find the newest (the head's lag is small). */
const CATCH_UP_ROWS = 1000;

interface Head {
  seq: number;
  hash: string;
  etag: string;
}

type Row = TableEntity<Record<string, unknown>>;
type StoredRow = TableEntityResult<Record<string, unknown>>;

export function rowKeyOf(seq: number): string {
  return String(seq).padStart(12, '0');
}

export function encodeContinuation(seq: number): string {
  return Buffer.from(String(seq), 'utf8').toString('base64url');
}

export function decodeContinuation(token: string): number {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!/^(0|[1-9]\d{0,11})$/.test(text) || encodeContinuation(Number(text)) !== token) {
    throw new AuditError('AUDIT.BAD_PAGE', 'The continuation token is not valid.');
  }
  return Number(text);
}

function statusOf(e: unknown): number | undefined {
  if (e instanceof RestError || (e as { name?: unknown } | null)?.name === 'RestError') {
    return (e as RestError).statusCode;
  }
  return undefined;
}

/** Only the status and the service's error code are passed on: SDK messages can quote URLs and keys. */
function storageError(operation: string, e: unknown): AuditError {
  if (e instanceof AuditError) return e;
  const status = statusOf(e);
  const code = (e as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? ` ${code}` : '';
  const what = status !== undefined ? `HTTP ${status}${detail}` : `no HTTP status${detail}`;
  return new AuditError('AUDIT.STORAGE', `Audit log storage failed to ${operation} (${what}).`, status);
}

function splitText(text: string): string[] {
  const parts: string[] = [];
  let i = 0;
  do {
    let end = Math.min(i + PART_CHARS, text.length);
    // Never split a surrogate pair across two properties.
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(i, end));
    i = end;
  } while (i < text.length);
  return parts;
}

function packText(field: string, text: string): Record<string, string | number> {
  const parts = splitText(text);
  const out: Record<string, string | number> = { [`${field}Parts`]: parts.length };
  parts.forEach((part, k) => (out[`${field}${k}`] = part));
  return out;
}

function unpackText(row: Record<string, unknown>, field: string): string | undefined {
  const count = Number(row[`${field}Parts`]);
  if (!Number.isInteger(count) || count < 1) return undefined;
  let text = '';
  for (let k = 0; k < count; k++) {
    const part = row[`${field}${k}`];
    if (typeof part !== 'string') return undefined;
    text += part;
  }
  return text;
}

/**
 * JSON with every non-ASCII character escaped (JSON.parse reads it back the same). Azurite decodes a
 * request body chunk by chunk, so a multi-byte character that straddles two chunks of a large entry would
 * come back as U+FFFD; ASCII cannot be split that way.
 */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function toRow(entry: AuditEntry, dataText: string): Row {
  return {
    partitionKey: ENTRY_PK,
    rowKey: rowKeyOf(entry.seq),
    Seq: entry.seq,
    At: entry.at,
    Kind: entry.kind,
    Subject: entry.subject,
    Actor: entry.actor,
    Prev: entry.prev,
    Hash: entry.hash,
    ...packText('Data', dataText),
    ...(entry.jws !== undefined ? packText('Jws', entry.jws) : {}),
  };
}

function fromRow(row: StoredRow): AuditEntry {
  const seq = Number(row.rowKey ?? row['Seq']);
  const text = (name: string) => {
    const value = row[name];
    if (typeof value !== 'string')
      throw new AuditError('AUDIT.STORAGE', `Audit entry ${seq} has no ${name}.`);
    return value;
  };
  const dataText = unpackText(row, 'Data');
  let data: unknown;
  try {
    data = dataText === undefined ? undefined : JSON.parse(dataText);
  } catch {
    data = undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new AuditError('AUDIT.STORAGE', `Audit entry ${seq} has no readable data.`);
  }
  const jws = unpackText(row, 'Jws');
  return {
    seq,
    at: text('At'),
    kind: text('Kind') as AuditKind,
    subject: text('Subject'),
    actor: text('Actor'),
    ...(jws !== undefined ? { jws } : {}),
    data: data as Record<string, unknown>,
    prev: text('Prev'),
    hash: text('Hash'),
  };
}

function checkSize(entry: AuditEntry, dataText: string): void {
  const single = [entry.at, entry.kind, entry.subject, entry.actor];
  const total = single.reduce((n, s) => n + s.length, 0) + dataText.length + (entry.jws?.length ?? 0);
  if (single.some((s) => s.length > PART_CHARS) || total > MAX_ENTRY_CHARS) {
    throw new AuditError(
      'AUDIT.TOO_LARGE',
      `The audit entry is too large to store (${total} characters; at most ${MAX_ENTRY_CHARS}, and ${PART_CHARS} for subject or actor).`,
    );
  }
}

function pause(attempt: number): Promise<void> {
  // Jitter spreads out writers that lost the same seq, so they do not all collide again on the next one.
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(5 * attempt, 50)));
}

/** Entries per entity-group transaction (Azure allows 100 operations and 4 MiB; entries can be large). */
const MAX_BATCH = 25;

export class AuditLog {
  private ready: Promise<void> | undefined;
  private readonly maxAttempts: number;
  private readonly headDelayMs: number;

  constructor(
    private readonly client: TableClient,
    options: AuditLogOptions = {},
  ) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.headDelayMs = Math.max(0, options.headDelayMs ?? DEFAULT_HEAD_DELAY_MS);
  }

  readonly #queue: {
    draft: Omit<AuditDraft, 'at'>;
    clock: () => Date;
    done: (e: unknown, entry?: AuditEntry) => void;
  }[] = [];
  #flushing = false;

  /**
   * Seals the draft as the next entry (time from `clock`) and stores it; returns the stored entry.
   * Appends from this process that arrive while a write is in flight are written together, in one
   * entity-group transaction (group commit), so concurrent votes do not queue on the head one by one.
   */
  append(draft: Omit<AuditDraft, 'at'>, clock: () => Date): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ draft, clock, done: (e, entry) => (e ? reject(e) : resolve(entry!)) });
      if (this.#flushing) return;
      this.#flushing = true;
      // Appends made in the same turn of the event loop (a burst of votes) share the first write.
      setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          const entries = await this.#appendBatch(batch);
          batch.forEach((b, i) => b.done(undefined, entries[i]));
        } catch (e) {
          batch.forEach((b) => b.done(e));
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  #tail: { seq: number; hash: string } | undefined;
  /** Where the head should go next, and the head as this process last wrote it (saves a read). */
  #headTarget: { seq: number; hash: string } | undefined;
  #headMoving = false;
  #headSeen: Head | undefined;

  /**
   * The rows are the commit point; the head (a hint for other writers) follows in the background, after
   * `headDelayMs`. Moves asked for while one waits or is in flight merge into one move to the newest entry.
   * A writer in another process that meets the rows ahead of the head reads them in one query and moves
   * the head past them (see #appendBatch), so a lagging head costs it one extra round, not one per row.
   */
  #advanceHeadLater(to: { seq: number; hash: string }): void {
    if (!this.#headTarget || to.seq > this.#headTarget.seq) this.#headTarget = to;
    if (!this.#headMoving) void this.#moveHeadInBackground();
  }

  async #moveHeadInBackground(): Promise<void> {
    this.#headMoving = true;
    try {
      while (this.#headTarget) {
        if (this.headDelayMs > 0)
          await new Promise<void>((resolve) => setTimeout(resolve, this.headDelayMs).unref());
        const to = this.#headTarget;
        this.#headTarget = undefined;
        try {
          let head = this.#headSeen ?? (await this.readHead());
          if (head && head.seq >= to.seq) continue;
          let moved = await this.moveHead(head, to);
          if (!moved && this.#headSeen) {
            // Another writer moved it since: read it and try once more from there.
            this.#headSeen = undefined;
            head = await this.readHead();
            if (head && head.seq >= to.seq) continue;
            moved = await this.moveHead(head, to);
          }
          if (!moved) this.#headSeen = undefined;
        } catch {
          // A hint only: the next writer that meets a taken row moves it.
          this.#headSeen = undefined;
        }
      }
    } finally {
      this.#headMoving = false;
    }
  }

  async #appendBatch(batch: { draft: Omit<AuditDraft, 'at'>; clock: () => Date }[]): Promise<AuditEntry[]> {
    await this.ensureTable();
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await pause(attempt);
      // This process's own last entry saves reading the head; if another writer got there first, the
      // create below meets its row (409) and the next attempt reads the head.
      const cached = attempt === 0 ? this.#tail : undefined;
      const head = cached ? undefined : await this.readHead();
      const entries: AuditEntry[] = [];
      const rows: TableEntity<Record<string, unknown>>[] = [];
      let previous: { seq: number; hash: string } | undefined = cached ?? head;
      for (const { draft, clock } of batch) {
        const entry = seal({ ...draft, at: clock().toISOString() }, previous);
        const dataText = asciiJson(entry.data);
        checkSize(entry, dataText);
        entries.push(entry);
        rows.push(toRow(entry, dataText));
        previous = entry;
      }
      try {
        if (rows.length === 1) await this.client.createEntity(rows[0]!);
        else
          await submitTransaction(
            this.client,
            rows.map((r) => ['create', r]),
          );
      } catch (e) {
        if (statusOf(e) !== 409) throw storageError(`write audit entries from ${entries[0]!.seq}`, e);
        const taken = await this.rowHashesFrom(entries[0]!.seq);
        // The SDK retries a create whose answer was lost; the rows it then finds taken may be these very entries.
        const last = entries.at(-1)!;
        if (
          taken[0]?.hash === entries[0]!.hash &&
          taken.find((r) => r.seq === last.seq)?.hash === last.hash
        ) {
          this.#tail = { seq: last.seq, hash: last.hash };
          if (cached) this.#advanceHeadLater(last);
          else await this.moveHead(head, last);
          return entries;
        }
        if (cached) {
          this.#tail = undefined;
          continue;
        }
        // Other writers took this seq and maybe more: the head now reaches the newest of their rows (which
        // exist, each chained to the one before), so the next attempt starts after them.
        const newest = taken.at(-1);
        if (newest) await this.moveHead(head, newest);
        continue;
      }
      const last = entries.at(-1)!;
      this.#tail = { seq: last.seq, hash: last.hash };
      if (cached) this.#advanceHeadLater(last);
      else await this.moveHead(head, last);
      return entries;
    }
    throw new AuditError(
      'AUDIT.CONTENDED',
      `The audit log is busy: ${this.maxAttempts} attempts to append found their place taken.`,
    );
  }

  /** Entries in seq order, a page at a time. */
  async list(options: AuditListOptions = {}): Promise<AuditPage> {
    let start = 0;
    if (options.continuation) start = decodeContinuation(options.continuation);
    else if (options.after !== undefined) {
      if (!Number.isInteger(options.after) || options.after < -1) {
        throw new AuditError('AUDIT.BAD_PAGE', '`after` must be a whole number of -1 or more.');
      }
      start = options.after + 1;
    }
    const limit = Math.min(
      MAX_LIMIT,
      Math.max(1, Number.isFinite(options.limit) ? Math.floor(options.limit!) : DEFAULT_LIMIT),
    );
    await this.ensureTable();
    // One more than asked for tells whether there is a next page.
    const rows = await this.rowsFrom(start, limit + 1);
    const items = rows.map(fromRow);
    const next = items.length > limit ? items.pop() : undefined;
    return { items, continuation: next ? encodeContinuation(next.seq) : null };
  }

  /** The newest entry, or undefined when the log is empty. */
  async head(): Promise<AuditEntry | undefined> {
    await this.ensureTable();
    const head = await this.readHead();
    // The head row may lag behind the newest row; the rows from it on are few.
    const rows = await this.rowsFrom(head ? head.seq : 0, Infinity);
    const last = rows.at(-1);
    return last ? fromRow(last) : undefined;
  }

  private ensureTable(): Promise<void> {
    this.ready ??= this.client.createTable().then(
      () => undefined,
      (e: unknown) => {
        this.ready = undefined;
        throw storageError('create the audit table', e);
      },
    );
    return this.ready;
  }

  private async readHead(): Promise<Head | undefined> {
    try {
      const row = await this.client.getEntity<Record<string, unknown>>(HEAD_PK, HEAD_RK);
      const seq = Number(row['Seq']);
      const hash = row['Hash'];
      if (!Number.isInteger(seq) || typeof hash !== 'string' || !row.etag) {
        throw new AuditError('AUDIT.STORAGE', 'The audit log head row is unreadable.');
      }
      return { seq, hash, etag: row.etag };
    } catch (e) {
      if (statusOf(e) === 404 && (e as { code?: unknown }).code !== 'TableNotFound') return undefined;
      throw storageError('read the audit log head', e);
    }
  }

  /** Seq and hash of the rows from `seq` on (at most CATCH_UP_ROWS), in seq order, without their bodies. */
  private async rowHashesFrom(seq: number): Promise<{ seq: number; hash: string }[]> {
    const out: { seq: number; hash: string }[] = [];
    const filter = odata`PartitionKey eq ${ENTRY_PK} and RowKey ge ${rowKeyOf(seq)}`;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['RowKey', 'Hash'] } })
        .byPage({ maxPageSize: CATCH_UP_ROWS });
      const page = await pages.next();
      for (const row of page.done ? [] : page.value) {
        const hash = row['Hash'];
        if (typeof hash !== 'string')
          throw new AuditError('AUDIT.STORAGE', `Audit entry ${row.rowKey} has no Hash.`);
        out.push({ seq: Number(row.rowKey), hash });
      }
    } catch (e) {
      throw storageError(`read audit entries from ${seq}`, e);
    }
    return out;
  }

  /**
   * Moves the head from the version read (`from`) forward to `to`, a row that exists; losing is fine.
   * Returns whether this call moved it (false: another writer moved it first).
   */
  private async moveHead(from: Head | undefined, to: { seq: number; hash: string }): Promise<boolean> {
    if (from && to.seq <= from.seq) return true;
    const row = { partitionKey: HEAD_PK, rowKey: HEAD_RK, Seq: to.seq, Hash: to.hash };
    try {
      const written = from
        ? await this.client.updateEntity(row, 'Replace', { etag: from.etag })
        : await this.client.createEntity(row);
      this.#headSeen = written?.etag ? { seq: to.seq, hash: to.hash, etag: written.etag } : undefined;
      return true;
    } catch (e) {
      // 409/412: another writer moved the head first, to this entry (it can reach no further without it).
      const status = statusOf(e);
      if (status !== 409 && status !== 412) throw storageError('advance the audit log head', e);
      return false;
    }
  }

  private async rowsFrom(start: number, max: number): Promise<StoredRow[]> {
    const rows: StoredRow[] = [];
    const filter = odata`PartitionKey eq ${ENTRY_PK} and RowKey ge ${rowKeyOf(start)}`;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
        .byPage({ maxPageSize: Math.min(Number.isFinite(max) ? max : MAX_LIMIT, MAX_LIMIT) });
      for await (const page of pages) {
        for (const row of page) {
          rows.push(row);
          if (rows.length >= max) return rows;
        }
      }
    } catch (e) {
      throw storageError('list audit entries', e);
    }
    return rows;
  }
}
