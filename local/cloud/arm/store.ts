import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import { packJson, unpackJson } from '../../../azure/tables';
import { KeptRows } from '../kept-rows';
import type { StoredResource } from './resources';
import type { TypedValue } from './template';

/**
 * The ARM emulator's state in Azurite tables, so another emulator on the same tables (a restarted host)
 * sees the same groups, resources, deployments in flight and operations. JSON bodies are split across
 * properties (packJson) to stay under the 64 KiB property limit.
 */

export const TABLE_SUFFIXES = {
  groups: 'CloudArmGroups',
  resources: 'CloudArmResources',
  deployments: 'CloudArmDeployments',
  operations: 'CloudArmOperations',
} as const;

export interface GroupRecord {
  subscriptionId: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  /** The platform may act in it (the bank delegated it, or the group was created through ARM). */
  delegated: boolean;
  /** Lighthouse assignments in the group: it is delegated from the earliest one's completion. */
  lighthouseReadyAt?: number;
  createdAt: number;
  deletingFrom?: number;
  deleteAt?: number;
}

export interface SubscriptionRecord {
  subscriptionId: string;
  tenantId: string;
  /** A Lighthouse assignment on the whole subscription delegates every group in it. */
  lighthouseReadyAt?: number;
}

export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
}

export interface OperationRecord {
  /** One resource (or nested deployment) a deployment creates, as deploymentOperations shows it. */
  operationId: string;
  targetId: string;
  type: string;
  name: string;
  startAt: number;
  endAt: number;
  state: 'Succeeded' | 'Failed';
  error?: ArmErrorBody;
}

export interface RunRecord {
  runId: string;
  correlationId: string;
  startedAt: number;
  /** Until then the deployment shows Accepted. */
  acceptedUntil: number;
  endAt: number;
  failed: boolean;
  error?: ArmErrorBody;
  ops: OperationRecord[];
  outputResources: string[];
}

export interface DeploymentRecord {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup?: string;
  location?: string;
  tags?: Record<string, string>;
  mode: string;
  templateHash: string;
  contentVersion: string;
  /** Secure parameters carry no value (ARM never echoes them). */
  parameters: Record<string, TypedValue>;
  outputs: Record<string, TypedValue>;
  /** Visible from (a nested deployment appears when its parent reaches it). */
  visibleAt: number;
  /** A nested deployment's parent, when it is one. */
  parentId?: string;
  dependencies: Array<{ id: string; resourceType: string; resourceName: string; dependsOn: string[] }>;
  current: RunRecord;
  /** Earlier runs, oldest first (a few are kept). */
  history: Array<Omit<RunRecord, 'ops' | 'outputResources'>>;
}

export interface AsyncOperation {
  id: string;
  subscriptionId: string;
  kind: 'put' | 'patch' | 'delete' | 'whatIf' | 'validate' | 'groupDelete' | 'deploymentDelete';
  targetId: string;
  startedAt: number;
  doneAt: number;
  error?: ArmErrorBody;
  /** What the Location URL answers once done (what-if's result). */
  result?: unknown;
}

const key = (s: string) => encodeURIComponent(s.toLowerCase()).replace(/'/g, '%27');

export function scopeKey(subscriptionId: string, resourceGroup?: string): string {
  return key(`${subscriptionId}|${resourceGroup ?? '-'}`);
}

type Entity = TableEntity<Record<string, unknown>>;

const CONNECTION_TYPE = 'microsoft.network/connections';
/** Rows a store keeps copies of before it starts over (about 20 MB of a 100-member cloud's state). */
const MAX_KEPT_ROWS = 50_000;

export class ArmStore {
  private clients = new Map<string, Promise<TableClient>>();

  constructor(private readonly tables: (suffix: string) => Promise<TableClient>) {}

  private table(suffix: string): Promise<TableClient> {
    let c = this.clients.get(suffix);
    if (!c) {
      c = this.tables(suffix);
      c.catch(() => this.clients.delete(suffix));
      this.clients.set(suffix, c);
    }
    return c;
  }

  /**
   * Rows as this store last wrote or read them, by table and key, as JSON: the emulator reads a group,
   * a deployment or a resource several times per request, and at 100 members those point reads were
   * thousands a second. This store is the only writer of its tables, so the copy stays exact.
   */
  readonly #rows = new KeptRows<string | undefined>(MAX_KEPT_ROWS);

  private async get<T>(suffix: string, pk: string, rk: string, field: string): Promise<T | undefined> {
    const json = await this.#rows.read(`${suffix}|${pk}|${rk}`, async () => {
      const t = await this.table(suffix);
      try {
        const e = await t.getEntity<Record<string, unknown>>(pk, rk);
        const v = unpackJson<T>(e, field);
        return v === undefined ? undefined : JSON.stringify(v);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    });
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  /** Runs a write of one row and then keeps `json` as its copy. */
  async #write(k: string, json: string | undefined, write: () => Promise<void>): Promise<void> {
    await this.#rows.write([k], write, () => ({ row: json }));
  }

  private async put(
    suffix: string,
    pk: string,
    rk: string,
    field: string,
    value: unknown,
    extra: Record<string, string> = {},
  ) {
    const t = await this.table(suffix);
    await this.#write(`${suffix}|${pk}|${rk}`, JSON.stringify(value), () =>
      t
        .upsertEntity({ partitionKey: pk, rowKey: rk, ...extra, ...packJson(field, value) }, 'Replace')
        .then(() => undefined),
    );
  }

  private async remove(suffix: string, pk: string, rk: string): Promise<void> {
    const t = await this.table(suffix);
    await this.#write(`${suffix}|${pk}|${rk}`, undefined, async () => {
      try {
        await t.deleteEntity(pk, rk);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      }
    });
  }

  private async list<T>(suffix: string, filter: string | undefined, field: string): Promise<T[]> {
    const t = await this.table(suffix);
    const out: T[] = [];
    for await (const e of t.listEntities<Record<string, unknown>>(
      filter ? { queryOptions: { filter } } : {},
    )) {
      const v = unpackJson<T>(e as Entity, field);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  // ---- subscriptions and groups ---------------------------------------------------------------------

  getSubscription(id: string): Promise<SubscriptionRecord | undefined> {
    return this.get(TABLE_SUFFIXES.groups, '~subscriptions', key(id), 's');
  }

  putSubscription(s: SubscriptionRecord): Promise<void> {
    return this.put(TABLE_SUFFIXES.groups, '~subscriptions', key(s.subscriptionId), 's', s);
  }

  getGroup(subscriptionId: string, name: string): Promise<GroupRecord | undefined> {
    return this.get(TABLE_SUFFIXES.groups, key(subscriptionId), key(name), 'g');
  }

  putGroup(g: GroupRecord): Promise<void> {
    return this.put(TABLE_SUFFIXES.groups, key(g.subscriptionId), key(g.name), 'g', g);
  }

  removeGroup(subscriptionId: string, name: string): Promise<void> {
    return this.remove(TABLE_SUFFIXES.groups, key(subscriptionId), key(name));
  }

  listGroups(subscriptionId?: string): Promise<GroupRecord[]> {
    return this.list<GroupRecord>(
      TABLE_SUFFIXES.groups,
      subscriptionId
        ? odata`PartitionKey eq ${key(subscriptionId)}`
        : odata`PartitionKey ne ${'~subscriptions'}`,
      'g',
    );
  }

  // ---- resources -------------------------------------------------------------------------------------

  getResource(
    id: string,
    subscriptionId: string,
    resourceGroup?: string,
  ): Promise<StoredResource | undefined> {
    return this.get(TABLE_SUFFIXES.resources, scopeKey(subscriptionId, resourceGroup), key(id), 'r');
  }

  async putResource(r: StoredResource): Promise<void> {
    await this.put(TABLE_SUFFIXES.resources, scopeKey(r.subscriptionId, r.resourceGroup), key(r.id), 'r', r, {
      type: r.type.toLowerCase(),
    });
    if (r.type.toLowerCase() === CONNECTION_TYPE) this.#keepConnection(r.subscriptionId, r.id, r);
  }

  async removeResource(r: Pick<StoredResource, 'id' | 'subscriptionId' | 'resourceGroup'>): Promise<void> {
    await this.remove(TABLE_SUFFIXES.resources, scopeKey(r.subscriptionId, r.resourceGroup), key(r.id));
    this.#keepConnection(r.subscriptionId, r.id, undefined);
  }

  /**
   * Every connection in the cloud by subscription, read with one query and then kept up to date by this
   * store's own writes (the only writer of its tables). A gateway's tunnel count reads a subscription's
   * connections for every connection written: reading them from the table each time made onboarding the
   * 101st member scan the whole resource table (10,000 founders' rows) some 200 times, and reading each
   * subscription once still scanned it once per member.
   */
  #connections: Promise<Map<string, Map<string, StoredResource>>> | undefined;

  #connectionIndex(): Promise<Map<string, Map<string, StoredResource>>> {
    if (!this.#connections) {
      const kept = this.listResources({ type: CONNECTION_TYPE }).then((rs) => {
        const bySub = new Map<string, Map<string, StoredResource>>();
        for (const r of rs) this.#index(bySub, r.subscriptionId, r.id, r);
        return bySub;
      });
      this.#connections = kept;
      // A failed read is not kept: the next caller reads again.
      kept.catch(() => {
        if (this.#connections === kept) this.#connections = undefined;
      });
    }
    return this.#connections;
  }

  #index(
    bySub: Map<string, Map<string, StoredResource>>,
    subscriptionId: string,
    id: string,
    r: StoredResource | undefined,
  ): void {
    const sub = subscriptionId.toLowerCase();
    let m = bySub.get(sub);
    if (!m) bySub.set(sub, (m = new Map()));
    if (r) m.set(id.toLowerCase(), r);
    else m.delete(id.toLowerCase());
  }

  async connectionsIn(subscriptionId: string): Promise<StoredResource[]> {
    return [...((await this.#connectionIndex()).get(subscriptionId.toLowerCase())?.values() ?? [])];
  }

  /** Every connection in the cloud. */
  async connections(): Promise<StoredResource[]> {
    return [...(await this.#connectionIndex()).values()].flatMap((m) => [...m.values()]);
  }

  /** Applies a write to the kept connections, after the read they were loaded by (so in order). */
  #keepConnection(subscriptionId: string, id: string, r: StoredResource | undefined): void {
    void this.#connections?.then(
      (bySub) => this.#index(bySub, subscriptionId, id, r),
      () => undefined,
    );
  }

  listResources(
    filter: { subscriptionId?: string; resourceGroup?: string; type?: string } = {},
  ): Promise<StoredResource[]> {
    const parts: string[] = [];
    if (filter.subscriptionId && filter.resourceGroup !== undefined)
      parts.push(odata`PartitionKey eq ${scopeKey(filter.subscriptionId, filter.resourceGroup)}`);
    else if (filter.subscriptionId) {
      const prefix = key(`${filter.subscriptionId}|`);
      parts.push(odata`PartitionKey ge ${prefix} and PartitionKey lt ${`${prefix}~`}`);
    }
    if (filter.type) parts.push(odata`type eq ${filter.type.toLowerCase()}`);
    return this.list<StoredResource>(
      TABLE_SUFFIXES.resources,
      parts.length ? parts.join(' and ') : undefined,
      'r',
    );
  }

  // ---- deployments -----------------------------------------------------------------------------------

  getDeployment(
    subscriptionId: string,
    resourceGroup: string | undefined,
    name: string,
  ): Promise<DeploymentRecord | undefined> {
    return this.get(TABLE_SUFFIXES.deployments, scopeKey(subscriptionId, resourceGroup), key(name), 'd');
  }

  putDeployment(d: DeploymentRecord): Promise<void> {
    return this.put(
      TABLE_SUFFIXES.deployments,
      scopeKey(d.subscriptionId, d.resourceGroup),
      key(d.name),
      'd',
      d,
    );
  }

  removeDeployment(subscriptionId: string, resourceGroup: string | undefined, name: string): Promise<void> {
    return this.remove(TABLE_SUFFIXES.deployments, scopeKey(subscriptionId, resourceGroup), key(name));
  }

  listDeployments(subscriptionId?: string, resourceGroup?: string | null): Promise<DeploymentRecord[]> {
    const filter =
      subscriptionId && resourceGroup !== null
        ? odata`PartitionKey eq ${scopeKey(subscriptionId, resourceGroup)}`
        : undefined;
    return this.list<DeploymentRecord>(TABLE_SUFFIXES.deployments, filter, 'd');
  }

  // ---- asynchronous operations -----------------------------------------------------------------------

  getOperation(subscriptionId: string, id: string): Promise<AsyncOperation | undefined> {
    return this.get(TABLE_SUFFIXES.operations, key(subscriptionId), key(id), 'o');
  }

  putOperation(o: AsyncOperation): Promise<void> {
    return this.put(TABLE_SUFFIXES.operations, key(o.subscriptionId), key(o.id), 'o', o);
  }
}
