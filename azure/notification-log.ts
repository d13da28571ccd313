import { createHash } from 'node:crypto';
import { RestError, type TableClient, type TableEntity } from '@azure/data-tables';
import { GroupCommit } from '../runtime/coalesce';
import { submitTransaction } from './table-transaction';
import { nowMs } from '../runtime/clock';
import { wrapStorage } from './tables';

/**
 * What has been sent, so a replayed orchestration or a retried activity never notifies twice, and how
 * each channel is doing, so one that keeps failing is shown in the status and told to operators.
 *
 * Dedupe: one row per (event id, channel key). The sender first `claim`s it: the row is created
 * "sending" with a lease (create-if-absent, so of concurrent claimants exactly one gets 'send'), then
 * sends, then `markSent`s it. A claim finding "sent" answers 'already-sent'; finding "sending" within its
 * lease answers 'in-flight' (someone else is sending: don't, and ask again after the lease). A "sending"
 * row whose lease has run out, or a "failed" one, can be claimed again (ETag compare-and-swap, so again
 * exactly one claimant wins).
 *
 * At-least-once window: if the process dies after the channel accepted the message but before
 * `markSent`, the row stays "sending"; once its lease has passed, a retry claims it and sends again.
 * That gap (one HTTP answer plus one table write) is the only way a notification goes twice. For email,
 * passing `emailOperationId(eventId, channelKey)` as the ACS operation id narrows it further.
 *
 * Channel keys are hashes (`channelKey()`), never the address: webhook URLs are secrets and must not land
 * in a table that status pages read.
 */

export type ClaimResult = 'send' | 'already-sent' | 'in-flight';
export type DeliveryState = 'sending' | 'sent' | 'failed';

export interface DeliveryRecord {
  eventId: string;
  channelKey: string;
  state: DeliveryState;
  /** How many times it was claimed (1 unless a lease ran out or a failure was retried). */
  claims: number;
  claimedAt: number;
  leaseUntil?: number;
  sentAt?: number;
  messageId?: string;
  errorCode?: string;
  /** Attempts the last failed send made. */
  attempts?: number;
}

export interface ChannelHealth {
  channelKey: string;
  consecutiveFailures: number;
  lastErrorCode?: string;
  lastFailureAt?: number;
  lastSuccessAt?: number;
  /** consecutiveFailures has reached the threshold: report it. */
  failing: boolean;
}

export interface OutcomeResult extends ChannelHealth {
  /** This outcome took the channel to the threshold: tell operators now (once per failing spell). */
  becameFailing: boolean;
}

export interface NotificationLogOptions {
  /** The log's table; created on first use if missing. */
  table: TableClient;
  now?: () => number;
  /** How long a claim holds before another may take over (default 10 minutes). */
  leaseMs?: number;
  /** Consecutive failures after which a channel counts as failing (default 5). */
  failingThreshold?: number;
}

/** A stable, non-reversible key for a channel: its kind and a hash of its address. */
export function channelKey(kind: string, address: string): string {
  const normalised = kind === 'email' ? address.trim().toLowerCase() : address.trim();
  const hash = createHash('sha256').update(`${kind}\n${normalised}`).digest('hex').slice(0, 32);
  return `${kind.replace(/[^a-z0-9]/gi, '').toLowerCase()}-${hash}`;
}

const HEALTH = 'channel-health';
const KEY = /^[A-Za-z0-9._:@=+-]{1,200}$/;

/** Event ids become partition keys as they are when safe, else as a hash (the id is kept in a column). */
function partitionFor(eventId: string): string {
  return KEY.test(eventId) ? `e-${eventId}` : `h-${createHash('sha256').update(eventId).digest('base64url')}`;
}

function checkChannelKey(key: string): void {
  if (!KEY.test(key)) throw new RangeError('A channel key must be a short token such as channelKey() makes.');
}

const statusOf = (e: unknown) => (e instanceof RestError ? e.statusCode : undefined);

type Row = Record<string, unknown> & { etag?: string };

function num(row: Row, field: string): number | undefined {
  const v = row[field];
  return typeof v === 'number' ? v : undefined;
}

function str(row: Row, field: string): string | undefined {
  const v = row[field];
  return typeof v === 'string' ? v : undefined;
}

function toRecord(row: Row): DeliveryRecord {
  const out: DeliveryRecord = {
    eventId: str(row, 'eventId') ?? '',
    channelKey: str(row, 'channelKey') ?? '',
    state: (str(row, 'state') ?? 'sending') as DeliveryState,
    claims: num(row, 'claims') ?? 1,
    claimedAt: num(row, 'claimedAt') ?? 0,
  };
  for (const f of ['leaseUntil', 'sentAt', 'attempts'] as const) {
    const v = num(row, f);
    if (v !== undefined) out[f] = v;
  }
  for (const f of ['messageId', 'errorCode'] as const) {
    const v = str(row, f);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

export class NotificationLog {
  private readonly table: TableClient;
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly threshold: number;
  private ready: Promise<void> | undefined;
  /**
   * Row writes of one partition (an event's deliveries, or every channel's health) that a batch of sends
   * makes together go in one transaction. A create that finds its row answers 'exists' (the transaction
   * then falls back to one create each, to tell which); a merge-upsert always lands.
   */
  private readonly creates = new GroupCommit<TableEntity, 'created' | 'exists'>(
    (_partition, rows) => this.writeAll(rows, 'create'),
    { max: 100, rowOf: (r) => r.rowKey },
  );
  private readonly merges = new GroupCommit<TableEntity, 'created' | 'exists'>(
    (_partition, rows) => this.writeAll(rows, 'upsert'),
    { max: 100, rowOf: (r) => r.rowKey },
  );

  constructor(options: NotificationLogOptions) {
    this.table = options.table;
    this.now = options.now ?? nowMs;
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.threshold = Math.max(1, options.failingThreshold ?? 5);
  }

  private async client(): Promise<TableClient> {
    this.ready ??= this.table.createTable().catch((e: unknown) => {
      this.ready = undefined;
      wrapStorage(`create table ${this.table.tableName}`, e);
    });
    await this.ready;
    return this.table;
  }

  private async writeAll(
    rows: TableEntity[],
    kind: 'create' | 'upsert',
  ): Promise<('created' | 'exists' | Error)[]> {
    const t = await this.client();
    const one = async (row: TableEntity): Promise<'created' | 'exists' | Error> => {
      try {
        if (kind === 'create') await t.createEntity(row);
        else await t.upsertEntity(row, 'Merge');
        return 'created';
      } catch (e) {
        if (kind === 'create' && statusOf(e) === 409) return 'exists';
        try {
          wrapStorage('write notification log', e);
        } catch (wrapped) {
          return wrapped as Error;
        }
      }
    };
    if (rows.length === 1) return [await one(rows[0]!)];
    try {
      await submitTransaction(
        t,
        rows.map((r) => (kind === 'create' ? ['create', r] : ['upsert', r, 'Merge'])),
      );
      return rows.map(() => 'created');
    } catch {
      // One of them was refused (a create that exists) or the batch failed: each on its own tells which.
      return Promise.all(rows.map(one));
    }
  }

  private async read(pk: string, rk: string): Promise<Row | undefined> {
    const t = await this.client();
    try {
      return (await t.getEntity<Record<string, unknown>>(pk, rk)) as Row;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      wrapStorage('read notification log', e);
    }
  }

  /**
   * May this event be sent on this channel now? 'send' means "you hold it: send, then markSent or
   * markFailed"; 'already-sent' means it went before; 'in-flight' means another sender holds a live lease.
   */
  async claim(eventId: string, channelKey: string): Promise<ClaimResult> {
    checkChannelKey(channelKey);
    const t = await this.client();
    const partitionKey = partitionFor(eventId);
    for (let round = 0; round < 5; round++) {
      const now = this.now();
      const fresh = {
        partitionKey,
        rowKey: channelKey,
        eventId,
        channelKey,
        state: 'sending',
        claims: 1,
        claimedAt: now,
        leaseUntil: now + this.leaseMs,
      };
      if ((await this.creates.add(partitionKey, fresh)) === 'created') return 'send';
      const row = await this.read(partitionKey, channelKey);
      if (!row) continue; // deleted in between: create again
      const state = str(row, 'state');
      if (state === 'sent') return 'already-sent';
      if (state === 'sending' && (num(row, 'leaseUntil') ?? 0) > now) return 'in-flight';
      // A lapsed lease or an earlier failure: take it over, unless someone else does first.
      try {
        await t.updateEntity(
          {
            partitionKey,
            rowKey: channelKey,
            state: 'sending',
            claims: (num(row, 'claims') ?? 1) + 1,
            claimedAt: now,
            leaseUntil: now + this.leaseMs,
          },
          'Merge',
          { etag: row.etag! },
        );
        return 'send';
      } catch (e) {
        const status = statusOf(e);
        if (status !== 412 && status !== 404) wrapStorage('claim notification', e);
      }
    }
    // Lost every race: someone else is on it.
    return 'in-flight';
  }

  /** The channel accepted it. Idempotent; wins over any concurrent markFailed. */
  async markSent(eventId: string, channelKey: string, detail: { messageId?: string } = {}): Promise<void> {
    checkChannelKey(channelKey);
    const partitionKey = partitionFor(eventId);
    await this.merges.add(partitionKey, {
      partitionKey,
      rowKey: channelKey,
      eventId,
      channelKey,
      state: 'sent',
      sentAt: this.now(),
      leaseUntil: 0,
      ...(detail.messageId ? { messageId: detail.messageId } : {}),
    });
  }

  /**
   * The send failed (with the ChannelError's code and the attempts it made). Frees the claim so a retry
   * can take it at once; never overwrites "sent".
   */
  async markFailed(eventId: string, channelKey: string, code: string, attempts: number): Promise<void> {
    checkChannelKey(channelKey);
    const t = await this.client();
    const partitionKey = partitionFor(eventId);
    for (let round = 0; round < 5; round++) {
      const row = await this.read(partitionKey, channelKey);
      if (str(row ?? {}, 'state') === 'sent') return;
      const entity = {
        partitionKey,
        rowKey: channelKey,
        eventId,
        channelKey,
        state: 'failed',
        errorCode: code,
        attempts,
        leaseUntil: 0,
      };
      try {
        if (row) await t.updateEntity(entity, 'Merge', { etag: row.etag! });
        else await t.createEntity({ ...entity, claims: 1, claimedAt: this.now() });
        return;
      } catch (e) {
        const status = statusOf(e);
        if (status !== 412 && status !== 409 && status !== 404) wrapStorage('mark notification failed', e);
      }
    }
  }

  /** The row for (event, channel), if any. */
  async record(eventId: string, channelKey: string): Promise<DeliveryRecord | undefined> {
    checkChannelKey(channelKey);
    const row = await this.read(partitionFor(eventId), channelKey);
    return row ? toRecord(row) : undefined;
  }

  /** Every channel's row for one event. */
  async deliveries(eventId: string): Promise<DeliveryRecord[]> {
    const t = await this.client();
    const out: DeliveryRecord[] = [];
    try {
      for await (const row of t.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${partitionFor(eventId).replace(/'/g, "''")}'` },
      }))
        out.push(toRecord(row as Row));
    } catch (e) {
      wrapStorage('list notification log', e);
    }
    return out;
  }

  private health(channelKey: string, row: Row | undefined): ChannelHealth {
    const consecutiveFailures = row ? (num(row, 'consecutiveFailures') ?? 0) : 0;
    const out: ChannelHealth = {
      channelKey,
      consecutiveFailures,
      failing: consecutiveFailures >= this.threshold,
    };
    if (!row) return out;
    const code = str(row, 'lastErrorCode');
    if (code !== undefined) out.lastErrorCode = code;
    const failedAt = num(row, 'lastFailureAt');
    if (failedAt !== undefined) out.lastFailureAt = failedAt;
    const okAt = num(row, 'lastSuccessAt');
    if (okAt !== undefined) out.lastSuccessAt = okAt;
    return out;
  }

  async channelHealth(channelKey: string): Promise<ChannelHealth> {
    checkChannelKey(channelKey);
    return this.health(channelKey, await this.read(HEALTH, channelKey));
  }

  /** Channels at or past the threshold, for the status and the operators' report. */
  async failingChannels(): Promise<ChannelHealth[]> {
    const t = await this.client();
    const out: ChannelHealth[] = [];
    try {
      for await (const row of t.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${HEALTH}' and consecutiveFailures ge ${this.threshold}` },
      }))
        out.push(this.health(row.rowKey!, row as Row));
    } catch (e) {
      wrapStorage('list channel health', e);
    }
    return out;
  }

  /**
   * Counts one send's outcome for the channel. A failure is counted by ETag compare-and-swap, so
   * concurrent failures all count and exactly one reports the crossing; a success only resets the count,
   * in one write without a read (a failure racing it then finds its ETag gone and counts again from 0).
   */
  async recordOutcome(channelKey: string, ok: boolean, code?: string): Promise<OutcomeResult> {
    checkChannelKey(channelKey);
    const t = await this.client();
    if (ok) {
      const lastSuccessAt = this.now();
      await this.merges.add(HEALTH, {
        partitionKey: HEALTH,
        rowKey: channelKey,
        consecutiveFailures: 0,
        lastSuccessAt,
      });
      return { channelKey, consecutiveFailures: 0, failing: false, lastSuccessAt, becameFailing: false };
    }
    for (let round = 0; ; round++) {
      const row = await this.read(HEALTH, channelKey);
      const before = this.health(channelKey, row);
      const now = this.now();
      const entity = {
        partitionKey: HEALTH,
        rowKey: channelKey,
        consecutiveFailures: before.consecutiveFailures + 1,
        lastFailureAt: now,
        lastErrorCode: code ?? 'CHANNEL.FAILED',
      };
      try {
        if (row) await t.updateEntity(entity, 'Merge', { etag: row.etag! });
        else await t.createEntity(entity);
        const after = this.health(channelKey, { ...row, ...entity });
        return { ...after, becameFailing: !before.failing && after.failing };
      } catch (e) {
        const status = statusOf(e);
        if ((status !== 412 && status !== 409) || round >= 20) wrapStorage('record channel outcome', e);
      }
    }
  }
}
