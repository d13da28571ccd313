import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { maskWebhookUrl } from '../../../azure/teams-webhook';
import { packJson, unpackJson } from '../../../azure/tables';
import { nowMs } from '../../../runtime/clock';

/**
 * Everything the local platform "sent": each email the email emulator accepted and each Teams card the
 * platform posted, in send order, for `GET /admin/cloud/outbox` and for tests.
 *
 * Given a table, every entry is written through to it and `list()` reads the table, so a restarted local
 * host (same Azurite data) still lists what was sent before. Without one it lives in memory only.
 * Webhook URLs are never stored: a card's channel is a label or the URL's masked form.
 */

export type OutboxEmailStatus = 'Running' | 'Succeeded' | 'Failed';

export interface OutboxEmail {
  kind: 'email';
  /** The ACS operation id, which the email adapter returns as its messageId. */
  id: string;
  /** ISO 8601. */
  at: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  plainText?: string;
  html?: string;
  status: OutboxEmailStatus;
  error?: { code: string; message: string };
}

export interface OutboxCard {
  kind: 'card';
  id: string;
  at: string;
  /** Masked URL or label; never the webhook URL itself. */
  channel: string;
  eventId?: string;
  card: unknown;
}

export type OutboxEntry = OutboxEmail | OutboxCard;

export interface OutboxOptions {
  /** A table, or how to get one (e.g. the local cloud's `tables('CloudOutbox')`); created if missing. */
  table?: TableClient | (() => Promise<TableClient>);
  /** Default time for entries recorded without one. */
  now?: () => number;
}

const PARTITION = 'outbox';

/** A URL is masked; anything else is taken as an already safe label. */
function safeChannel(urlOrLabel: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(urlOrLabel.trim()) ? maskWebhookUrl(urlOrLabel.trim()) : urlOrLabel;
}

function iso(at: number | Date | string | undefined, now: () => number): string {
  if (at instanceof Date) return at.toISOString();
  if (typeof at === 'string') return new Date(at).toISOString();
  return new Date(at ?? now()).toISOString();
}

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class Outbox {
  private readonly memory: Array<{ rowKey: string; entry: OutboxEntry }> = [];
  /**
   * Emails whose operation is still running: their row and, once written, its ETag, so the status change
   * is one write (this outbox is the rows' only writer). Dropped when the status is set.
   */
  private readonly running = new Map<string, { rowKey: string; entry: OutboxEmail; etag?: string }>();
  private readonly table: OutboxOptions['table'];
  private readonly now: () => number;
  private ready: Promise<TableClient> | undefined;
  private seq = 0;
  // Row keys sort in send order, across restarts too: the time sent first, then a per-process counter.
  private readonly instance = randomUUID().slice(0, 8);

  constructor(options: OutboxOptions = {}) {
    this.table = options.table;
    this.now = options.now ?? nowMs;
  }

  private async tableReady(): Promise<TableClient | undefined> {
    const source = this.table;
    if (!source) return undefined;
    this.ready ??= (async () => {
      const table = typeof source === 'function' ? await source() : source;
      await table.createTable();
      return table;
    })().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private rowKey(at: string): string {
    this.seq += 1;
    return `${String(Date.parse(at)).padStart(15, '0')}-${String(this.seq).padStart(9, '0')}-${this.instance}`;
  }

  private async add(entry: OutboxEntry): Promise<void> {
    const rowKey = this.rowKey(entry.at);
    const running: { rowKey: string; entry: OutboxEmail; etag?: string } | undefined =
      entry.kind === 'email' && entry.status === 'Running' ? { rowKey, entry } : undefined;
    if (running) this.running.set(entry.id, running);
    const table = await this.tableReady();
    if (table) {
      const written = await table.upsertEntity(
        { partitionKey: PARTITION, rowKey, kind: entry.kind, ...packJson('entry', entry) },
        'Replace',
      );
      if (running) running.etag = written.etag;
    } else this.memory.push({ rowKey, entry });
  }

  /** Records an email as the emulator accepted it (status Running until its operation ends). */
  async recordEmail(
    email: Omit<OutboxEmail, 'kind' | 'at' | 'status'> & {
      at?: number | Date | string;
      status?: OutboxEmailStatus;
    },
  ): Promise<OutboxEmail> {
    const entry: OutboxEmail = {
      ...email,
      kind: 'email',
      at: iso(email.at, this.now),
      status: email.status ?? 'Running',
    };
    await this.add(entry);
    return entry;
  }

  /** The email's operation ended (or moved on). Unknown ids are ignored. */
  async setEmailStatus(
    id: string,
    status: OutboxEmailStatus,
    error?: { code: string; message: string },
  ): Promise<void> {
    const running = this.running.get(id);
    if (!running) return;
    this.running.delete(id);
    const { rowKey } = running;
    const table = await this.tableReady();
    if (!table) {
      const found = this.memory.find((m) => m.rowKey === rowKey)?.entry as OutboxEmail | undefined;
      if (found) {
        found.status = status;
        if (error) found.error = error;
      }
      return;
    }
    const next: OutboxEmail = { ...running.entry, status, ...(error ? { error } : {}) };
    await table.updateEntity(
      { partitionKey: PARTITION, rowKey, kind: 'email', ...packJson('entry', next) },
      'Replace',
      // The row as this outbox wrote it; without its ETag (the write had not answered), whatever is there.
      running.etag ? { etag: running.etag } : {},
    );
  }

  /**
   * Records a Teams card the platform posted. `url` may be the webhook URL (it is masked here) or a label.
   */
  async recordCard(input: {
    url: string;
    card: unknown;
    at?: number | Date | string;
    eventId?: string;
  }): Promise<OutboxCard> {
    const entry: OutboxCard = {
      kind: 'card',
      id: randomUUID(),
      at: iso(input.at, this.now),
      channel: safeChannel(input.url),
      ...(input.eventId !== undefined ? { eventId: input.eventId } : {}),
      card: input.card,
    };
    await this.add(entry);
    return entry;
  }

  /** Every email and card, in send order (by the time each was sent, then by when it was recorded). */
  async list(): Promise<OutboxEntry[]> {
    const table = await this.tableReady();
    if (!table)
      return [...this.memory].sort((a, b) => byKey(a.rowKey, b.rowKey)).map((m) => structuredClone(m.entry));
    const rows: Array<{ rowKey: string; entry: OutboxEntry }> = [];
    for await (const row of table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${PARTITION}'` },
    })) {
      const entry = unpackJson<OutboxEntry>(row, 'entry');
      if (entry) rows.push({ rowKey: row.rowKey!, entry });
    }
    // The service returns rows in key order already; sorting keeps that true for any backend.
    rows.sort((a, b) => byKey(a.rowKey, b.rowKey));
    return rows.map((r) => r.entry);
  }

  async clear(): Promise<void> {
    this.memory.length = 0;
    this.running.clear();
    const table = await this.tableReady();
    if (!table) return;
    for await (const row of table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${PARTITION}'` },
    }))
      await table.deleteEntity(PARTITION, row.rowKey!);
  }
}
