import { RestError, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { KeptRows } from '../kept-rows';
import { submitTransaction } from '../../../azure/table-transaction';

/**
 * The emulator's state in one Azurite table, one partition per vault: a head row per key, secret or
 * certificate (`k|name`, `s|name`, `c|name`: latest version, deletion state, and for a certificate its
 * policy and pending operation) and a row per version (`k|name|version`). Names are case-insensitive in Key
 * Vault, so keys are lower-cased; the head keeps the name as first written. Writes to one vault commit
 * as one table transaction guarded by the heads' ETags, so racing requests behave as one after another.
 */

export type Kind = 'k' | 's' | 'c';

export interface Head {
  name: string;
  latest: string;
  /** Deleted (soft): readable under deleted*, name not reusable until purged or recovered. */
  deletedAt?: number;
  /** Owned by a certificate (its key and secret). */
  managed?: boolean;
  /** Certificates only. */
  policy?: Record<string, unknown>;
  op?: CertOperation;
}

export interface Attributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export interface KeyVersion {
  version: string;
  kty: 'EC' | 'RSA';
  crv?: string;
  size?: number;
  keyOps: string[];
  publicJwk: Record<string, unknown>;
  /** PKCS#8 DER, base64: local use only, never returned. */
  privateKey: string;
  exportable: boolean;
  attributes: Attributes;
  tags?: Record<string, string>;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  attributes: Attributes;
  tags?: Record<string, string>;
  /** For a certificate's secret: the key it belongs with. */
  kid?: string;
}

export interface CertVersion {
  version: string;
  /** DER, base64; absent while pending. */
  cer?: string;
  /** The rest of the chain as merged (DER, base64), for the secret. */
  chain?: string[];
  attributes: Attributes;
  tags?: Record<string, string>;
}

export interface CertOperation {
  version: string;
  requestId: string;
  issuer: string;
  /** DER, base64. */
  csr: string;
  status: 'inProgress' | 'completed' | 'cancelled' | 'failed';
  cancellationRequested: boolean;
  /** Self-issued: when (ms) the certificate becomes visible, and the certificate waiting for then. */
  readyAt?: number;
  pendingCer?: string;
}

export interface StoredHead extends Head {
  etag: string;
}

export type Write =
  | { op: 'put-head'; kind: Kind; head: Head; etag?: string; create?: boolean }
  | { op: 'put-version'; kind: Kind; name: string; data: KeyVersion | SecretVersion | CertVersion }
  | { op: 'delete-head'; kind: Kind; name: string; etag?: string }
  | { op: 'delete-version'; kind: Kind; name: string; version: string };

/** Another request changed the same object first. */
export class StoreConflict extends Error {
  constructor() {
    super('The object changed while this request ran.');
    this.name = 'StoreConflict';
  }
}

const CHUNK = 30_000;

function pack(value: unknown): Record<string, string> {
  const text = JSON.stringify(value);
  const out: Record<string, string> = {};
  for (let i = 0, k = 0; i < text.length || k === 0; i += CHUNK, k++) out[`d${k}`] = text.slice(i, i + CHUNK);
  return out;
}

function unpack<T>(entity: Record<string, unknown>): T {
  let text = '';
  for (let k = 0; typeof entity[`d${k}`] === 'string'; k++) text += entity[`d${k}`] as string;
  return JSON.parse(text) as T;
}

const lower = (name: string) => name.toLowerCase();
export const headKey = (kind: Kind, name: string) => `${kind}|${lower(name)}`;
const versionKey = (kind: Kind, name: string, version: string) => `${kind}|${lower(name)}|${version}`;

/** Rows a store keeps copies of before it starts over. */
const MAX_KEPT_ROWS = 20_000;

/** A row as read or written: its JSON and ETag, or undefined when there is none. */
type Kept = { json: string; etag: string } | undefined;

export class VaultStore {
  /**
   * Rows as this store last read or committed them, by vault and row key. Reading a secret reads three
   * rows (the certificate head it may belong to, its head, its version), and a 100-member peering reads
   * a hundred secrets at once. This store is the only writer of its table, so the copy stays exact; every
   * commit still goes to the table first (a restart reads it back).
   */
  readonly #rows = new KeptRows<Kept>(MAX_KEPT_ROWS);

  constructor(private readonly table: () => Promise<TableClient>) {}

  #read(vault: string, rowKey: string): Promise<Kept> {
    return this.#rows.read(`${vault}|${rowKey}`, async () => {
      const t = await this.table();
      try {
        const e = await t.getEntity<Record<string, unknown>>(vault, rowKey);
        return { json: JSON.stringify(unpack(e)), etag: e.etag };
      } catch (err) {
        if (err instanceof RestError && err.statusCode === 404) return undefined;
        throw err;
      }
    });
  }

  async head(vault: string, kind: Kind, name: string): Promise<StoredHead | undefined> {
    const row = await this.#read(vault, headKey(kind, name));
    return row && { ...(JSON.parse(row.json) as Head), etag: row.etag };
  }

  async version<T>(vault: string, kind: Kind, name: string, version: string): Promise<T | undefined> {
    const row = await this.#read(vault, versionKey(kind, name, version));
    return row && (JSON.parse(row.json) as T);
  }

  private async range(
    vault: string,
    prefix: string,
  ): Promise<Array<{ rowKey: string; entity: Record<string, unknown> }>> {
    const t = await this.table();
    // '|' + 1 is '}', so this is every row key starting with the prefix.
    const end = `${prefix.slice(0, -1)}}`;
    const filter = `PartitionKey eq '${vault.replace(/'/g, "''")}' and RowKey ge '${prefix}' and RowKey lt '${end}'`;
    const out: Array<{ rowKey: string; entity: Record<string, unknown> }> = [];
    for await (const e of t.listEntities<Record<string, unknown>>({ queryOptions: { filter } }))
      out.push({ rowKey: e.rowKey!, entity: e });
    return out;
  }

  async versions<T>(vault: string, kind: Kind, name: string): Promise<T[]> {
    const rows = await this.range(vault, `${kind}|${lower(name)}|`);
    return rows.map((r) => unpack<T>(r.entity));
  }

  async heads(vault: string, kind: Kind): Promise<StoredHead[]> {
    const rows = await this.range(vault, `${kind}|`);
    return rows
      .filter((r) => r.rowKey.split('|').length === 2)
      .map((r) => ({ ...unpack<Head>(r.entity), etag: r.entity['etag'] as string }));
  }

  /** Every row of every vault, for the snapshot. */
  async all(): Promise<Array<{ vault: string; rowKey: string; data: unknown }>> {
    const t = await this.table();
    const out: Array<{ vault: string; rowKey: string; data: unknown }> = [];
    for await (const e of t.listEntities<Record<string, unknown>>())
      out.push({ vault: e.partitionKey!, rowKey: e.rowKey!, data: unpack(e) });
    return out;
  }

  async commit(vault: string, writes: Write[]): Promise<void> {
    if (writes.length === 0) return;
    const t = await this.table();
    const actions: TransactionAction[] = writes.map((w) => {
      switch (w.op) {
        case 'put-head': {
          const entity: TableEntity = {
            partitionKey: vault,
            rowKey: headKey(w.kind, w.head.name),
            ...pack(w.head),
          };
          if (w.create) return ['create', entity];
          return w.etag ? ['update', entity, 'Replace', { etag: w.etag }] : ['upsert', entity, 'Replace'];
        }
        case 'put-version':
          return [
            'upsert',
            { partitionKey: vault, rowKey: versionKey(w.kind, w.name, w.data.version), ...pack(w.data) },
            'Replace',
          ];
        case 'delete-head':
          return [
            'delete',
            { partitionKey: vault, rowKey: headKey(w.kind, w.name) },
            ...(w.etag ? [{ etag: w.etag }] : []),
          ] as TransactionAction;
        case 'delete-version':
          return ['delete', { partitionKey: vault, rowKey: versionKey(w.kind, w.name, w.version) }];
      }
    });
    const keys = actions.map((a) => `${vault}|${a[1].rowKey!}`);
    try {
      // A transaction holds at most 100 actions; a vault write here is a handful.
      await this.#rows.write(
        keys,
        () => submitTransaction(t, actions),
        (done, i): { row: Kept } | undefined => {
          const w = writes[i]!;
          if (w.op === 'delete-head' || w.op === 'delete-version') return { row: undefined };
          // Sub-responses come in the order of the actions (only creates name their row). A row's ETag
          // guards the next write to it: without one the next read asks the table.
          const etag =
            done.subResponses.length === actions.length ? done.subResponses[i]!.etag?.trim() : undefined;
          return etag
            ? { row: { json: JSON.stringify(w.op === 'put-head' ? w.head : w.data), etag } }
            : undefined;
        },
      );
    } catch (err) {
      const status = (err as RestError).statusCode;
      if (status === 409 || status === 412) throw new StoreConflict();
      throw err;
    }
  }
}
