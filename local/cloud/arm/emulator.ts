import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import type { CloudHandler, CloudRequest, CloudResponse } from '../http';
import { type CloudFaults, type FaultSpec, faultResponse } from '../faults';
import {
  EMBEDDED_CHILDREN,
  IN_USE_CODES,
  addressInSubnet,
  dynamicIpConfigs,
  type StoredResource,
  type ViewContext,
  childBody,
  childView,
  connectionStatus,
  durationSeconds,
  exists,
  provisioningState,
  refersTo,
  viewOf,
  gatewayGeneration,
  gatewayTunnelLimit,
  gatewaySkuOf,
  gatewayWriteError,
  isLocalConnectionOf,
  tunnelLimitError,
} from './resources';
import { ScopedLocks } from './locks';
import { type DeploymentScope, type Route, operationNames, parseRoute } from './routes';
import {
  type ArmErrorBody,
  ArmStore,
  type AsyncOperation,
  type DeploymentRecord,
  type GroupRecord,
  type OperationRecord,
  type RunRecord,
  scopeKey,
} from './store';
import {
  type DeploymentTarget,
  type PlannedDeployment,
  type PlannedResource,
  type ResourceBody,
  type ResourceView,
  TemplateError,
  type TemplateHost,
  deepEqual,
  guid,
  parseResourceId,
  planDeployment,
} from './template';

export interface ArmEmulatorOptions {
  /** Tables for the emulator's state (suffixes `CloudArm…`), created by the caller. */
  tables: (suffix: string) => Promise<TableClient>;
  faults: CloudFaults;
  /** Milliseconds; the host's (possibly virtual) clock. */
  now: () => number;
  /** Realistic durations are multiplied by this (0 = instant). */
  latencyFactor: number;
  /** ARM's write budget per subscription (default burst 200, refill 10/s). */
  writeBudget?: { burst: number; perSecond: number };
}

export interface ArmStats {
  writes: number;
  peakWritesPerSecond: number;
  /** Top-level deployment runs started through this emulator, by deployment id. */
  deploymentRuns: Record<string, number>;
  /** 429 answers: the write budget, and injected throttle faults. */
  throttled: number;
}

export interface ArmSnapshot {
  resourceGroups: Array<{
    id: string;
    subscriptionId: string;
    name: string;
    location: string;
    delegated: boolean;
    provisioningState: string;
  }>;
  deployments: Array<{
    id: string;
    name: string;
    subscriptionId: string;
    resourceGroup?: string;
    parentId?: string;
    state: string;
    timestamp: string;
    parameters: Record<string, { type: string; value?: unknown }>;
    outputs: Record<string, { type: string; value?: unknown }>;
    error?: ArmErrorBody;
    runs: Array<{ runId: string; startedAt: string; endsAt: string; state: string; error?: ArmErrorBody }>;
  }>;
  resources: {
    counts: Record<string, number>;
    scaleSets: Array<{
      id: string;
      name: string;
      capacity: unknown;
      vmSize: unknown;
      provisioningState: string;
    }>;
    gateways: Array<{
      id: string;
      name: string;
      sku: unknown;
      generation: string;
      /** Connections whose local end it is (each takes one of its tunnels). */
      connections: number;
      tunnelLimit: number | null;
      provisioningState: string;
    }>;
    connections: Array<{
      id: string;
      name: string;
      gateway1: unknown;
      gateway2: unknown;
      connectionStatus: string;
      provisioningState: string;
    }>;
    networkSecurityGroups: Array<{
      id: string;
      name: string;
      rules: Array<Record<string, unknown>>;
      provisioningState: string;
    }>;
    vaults: Array<{ id: string; name: string; vaultUri: unknown; provisioningState: string }>;
    roleAssignments: Array<{ id: string; principalId: unknown; roleDefinitionId: unknown; scope: string }>;
    lighthouse: Array<{ id: string; type: string; name: string; properties: Record<string, unknown> }>;
    other: Array<{ id: string; type: string; provisioningState: string }>;
  };
}

/** An ARM error answer raised from deep inside a handler. */
class ArmFailure extends Error {
  readonly code = 'ARM.FAILURE';
  constructor(readonly response: CloudResponse) {
    super(`ARM answered ${response.status}`);
  }
}

/** The planner asked for stored state it does not have yet: load it and plan again. */
class NeedState extends Error {
  constructor(readonly load: () => Promise<void>) {
    super('The local ARM planner needs more state.');
  }
}

function fail(
  status: number,
  code: string,
  message: string,
  extra: Partial<ArmErrorBody> = {},
  headers?: Record<string, string>,
): ArmFailure {
  return new ArmFailure({
    status,
    ...(headers ? { headers } : {}),
    body: { error: { code, message, ...extra } },
  });
}

function errorResponse(status: number, error: ArmErrorBody): CloudResponse {
  return { status, body: { error } };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const iso = (ms: number) => new Date(ms).toISOString();

function isoDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = +(s % 60).toFixed(3);
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${sec}S`;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return b;
}

const RESOURCE_FIELDS = ['location', 'sku', 'kind', 'identity', 'tags', 'zones', 'plan'] as const;

const DEPLOYMENT_FAILED =
  'At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.';

/** The error a `arm:deploy:<type>` fault leaves on the resource it hits. */
function deployFaultError(f: FaultSpec, target: string): ArmErrorBody {
  switch (f.kind) {
    case 'quota':
      return {
        code: 'QuotaExceeded',
        message: 'Operation could not be completed as it results in exceeding approved quota (injected).',
        target,
      };
    case 'server':
      return {
        code: 'InternalServerError',
        message: 'The resource provider failed the request (injected).',
        target,
      };
    case 'timeout':
      return {
        code: 'ResourceDeploymentFailure',
        message:
          "The resource operation completed with terminal provisioning state 'Failed' after a timeout (injected).",
        target,
      };
    default:
      return { code: f.code ?? 'Error', message: f.message ?? 'Injected error.', target };
  }
}

interface Scheduled {
  plan: PlannedDeployment;
  startAt: number;
  endAt: number;
  failed: boolean;
  error?: ArmErrorBody;
  ops: OperationRecord[];
  created: Array<{ node: PlannedResource; startAt: number; endAt: number }>;
  children: Scheduled[];
}

const WRITE_VERBS = new Set(['PUT', 'PATCH', 'DELETE', 'POST']);

/**
 * An in-process Azure Resource Manager for the real ARM SDK clients: resource groups, template
 * deployments (with a template engine), the network and compute calls the platform makes, their
 * long-running operations, access (delegation), faults and write throttling. See README.md.
 */
/** The scope a write locks: its resource group, or its subscription for writes above groups. */
function lockScope(route: Route): string {
  switch (route.kind) {
    case 'deployments':
    case 'deployment':
      return scopeKey(route.scope.subscriptionId, route.scope.resourceGroup);
    case 'group':
    case 'groupResources':
    case 'resource':
    case 'collection':
      return scopeKey(route.subscriptionId, route.resourceGroup);
    case 'groups':
    case 'operation':
      return scopeKey(route.subscriptionId);
    default:
      return '';
  }
}

export class ArmEmulator {
  readonly handle: CloudHandler;
  private readonly store: ArmStore;
  private readonly budget: { burst: number; perSecond: number };
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly counters = { writes: 0, peak: 0, second: Number.NaN, inSecond: 0, throttled: 0 };
  private readonly runs: Record<string, number> = {};
  private readonly tenants = new Map<string, string>();
  private readonly locks = new ScopedLocks();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: ArmEmulatorOptions) {
    this.store = new ArmStore(opts.tables);
    this.budget = opts.writeBudget ?? { burst: 200, perSecond: 10 };
    this.handle = (req) => this.dispatch(req);
  }

  private now(): number {
    return this.opts.now();
  }

  /** Milliseconds a step that takes `seconds` in Azure takes here. */
  private ms(seconds: number): number {
    return Math.round(seconds * 1000 * this.opts.latencyFactor);
  }

  /**
   * Writes to one resource group (or, above groups, one subscription) go one at a time, so concurrent
   * requests there see each other's effects as ARM's would; deployments are the exception, as in ARM:
   * many start side by side in one group (each name one at a time), and other writes to the group wait
   * for them. Writes to different groups never wait for each other. (One lock for the whole cloud made
   * a 100-member peering fan-out queue its 300 writes behind each other.)
   */
  private exclusive<T>(route: Route, fn: () => Promise<T>): Promise<T> {
    const scope = lockScope(route);
    if (route.kind === 'deployment')
      return this.locks.run(
        [
          [scope, 'shared'],
          [`${scope}|deployment|${route.name.toLowerCase()}`, 'exclusive'],
        ],
        fn,
      );
    return this.locks.run([[scope, 'exclusive']], fn);
  }

  stats(): ArmStats {
    return {
      writes: this.counters.writes,
      peakWritesPerSecond: this.counters.peak,
      deploymentRuns: { ...this.runs },
      throttled: this.counters.throttled,
    };
  }

  // ---- entry point -------------------------------------------------------------------------------

  private async dispatch(req: CloudRequest): Promise<CloudResponse> {
    const auth = req.headers['authorization'];
    if (!auth || !/^Bearer\s+\S+/i.test(auth))
      return {
        status: 401,
        headers: {
          'www-authenticate':
            'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
        },
        body: {
          error: {
            code: 'AuthenticationFailed',
            message: "Authentication failed. The 'Authorization' header is missing.",
          },
        },
      };
    const route = parseRoute(req.url);
    if (route.kind !== 'operation' && !req.url.searchParams.get('api-version'))
      return errorResponse(400, {
        code: 'MissingApiVersionParameter',
        message: 'The api-version query parameter (?api-version=) is required for all requests.',
      });
    for (const name of operationNames(route, req.method)) {
      const fault = this.opts.faults.take(`arm:${name}`);
      if (fault) {
        if (fault.kind === 'throttle') this.counters.throttled++;
        return faultResponse(fault, req);
      }
    }
    const subscriptionId =
      'subscriptionId' in route
        ? route.subscriptionId
        : route.kind === 'deployments' || route.kind === 'deployment'
          ? route.scope.subscriptionId
          : undefined;
    let remaining: number | undefined;
    if (WRITE_VERBS.has(req.method) && subscriptionId && route.kind !== 'unknown') {
      const admitted = this.admitWrite(subscriptionId);
      if (typeof admitted !== 'number') return admitted;
      remaining = admitted;
    }
    let res: CloudResponse;
    try {
      res = WRITE_VERBS.has(req.method)
        ? await this.exclusive(route, () => this.route(route, req))
        : await this.route(route, req);
    } catch (e) {
      if (e instanceof ArmFailure) res = e.response;
      else throw e;
    }
    if (remaining !== undefined)
      res = {
        ...res,
        headers: { ...res.headers, 'x-ms-ratelimit-remaining-subscription-writes': String(remaining) },
      };
    return res;
  }

  /** ARM's per-subscription write budget: a token bucket; returns the tokens left or the 429. */
  private admitWrite(subscriptionId: string): number | CloudResponse {
    const now = this.now();
    const { burst, perSecond } = this.budget;
    const key = subscriptionId.toLowerCase();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) {
      this.counters.throttled++;
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
      return {
        status: 429,
        headers: { 'retry-after': String(wait), 'x-ms-ratelimit-remaining-subscription-writes': '0' },
        body: {
          error: {
            code: 'SubscriptionRequestsThrottled',
            message: `Number of 'write' requests for subscription '${subscriptionId}' exceeded. Please try again after '${wait}' seconds after the last request. Please see https://aka.ms/ARMThrottling for usage details.`,
          },
        },
      };
    }
    b.tokens -= 1;
    this.counters.writes++;
    const second = Math.floor(now / 1000);
    if (second !== this.counters.second) {
      this.counters.second = second;
      this.counters.inSecond = 0;
    }
    this.counters.inSecond++;
    this.counters.peak = Math.max(this.counters.peak, this.counters.inSecond);
    return Math.floor(b.tokens);
  }

  private async route(route: Route, req: CloudRequest): Promise<CloudResponse> {
    const m = req.method;
    switch (route.kind) {
      case 'groups':
        if (m === 'GET') return this.listGroups(route.subscriptionId);
        break;
      case 'group':
        if (m === 'GET' || m === 'HEAD')
          return this.getGroup(route.subscriptionId, route.resourceGroup, m === 'HEAD');
        if (m === 'PUT' || m === 'PATCH')
          return this.putGroup(route.subscriptionId, route.resourceGroup, req, m === 'PATCH');
        if (m === 'DELETE') return this.deleteGroup(route.subscriptionId, route.resourceGroup, req);
        break;
      case 'groupResources':
        if (m === 'GET') return this.listGroupResources(route.subscriptionId, route.resourceGroup);
        break;
      case 'deployments':
        if (m === 'GET') return this.listDeployments(route.scope);
        break;
      case 'deployment':
        return this.deployment(route, req);
      case 'operation':
        if (m === 'GET') return this.getOperation(route.subscriptionId, route.id, route.style, req);
        break;
      case 'resource':
        if (m === 'GET' || m === 'HEAD') return this.getResource(route, m === 'HEAD');
        if (m === 'PUT' || m === 'PATCH') return this.putResource(route, req, m === 'PATCH');
        if (m === 'DELETE') return this.deleteResource(route, req);
        break;
      case 'collection':
        if (m === 'GET') return this.listCollection(route);
        break;
      case 'unknown':
        break;
    }
    return errorResponse(404, {
      code: route.kind === 'unknown' ? 'NotFound' : 'InvalidResourceType',
      message: `The local cloud does not emulate ${m} ${req.url.pathname}. Add it to local/cloud/arm if the platform needs it.`,
    });
  }

  // ---- subscriptions, tenants and access -----------------------------------------------------------

  private async tenantOf(subscriptionId: string): Promise<string> {
    const key = subscriptionId.toLowerCase();
    let t = this.tenants.get(key);
    if (!t) {
      t = (await this.store.getSubscription(subscriptionId))?.tenantId ?? guid('tenant', key);
      this.tenants.set(key, t);
    }
    return t;
  }

  private syncTenantOf = (subscriptionId: string): string =>
    this.tenants.get(subscriptionId.toLowerCase()) ?? guid('tenant', subscriptionId.toLowerCase());

  /** A group that exists now (one whose deletion finished is purged on the way). */
  private async liveGroup(subscriptionId: string, name: string): Promise<GroupRecord | undefined> {
    const g = await this.store.getGroup(subscriptionId, name);
    if (!g) return undefined;
    if (g.deleteAt !== undefined && this.now() >= g.deleteAt) {
      await this.purgeGroup(g);
      return undefined;
    }
    return g;
  }

  private async purgeGroup(g: GroupRecord): Promise<void> {
    for (const r of await this.store.listResources({
      subscriptionId: g.subscriptionId,
      resourceGroup: g.name,
    }))
      await this.store.removeResource(r);
    for (const d of await this.store.listDeployments(g.subscriptionId, g.name))
      await this.store.removeDeployment(d.subscriptionId, d.resourceGroup, d.name);
    await this.store.removeGroup(g.subscriptionId, g.name);
  }

  private async delegated(g: GroupRecord): Promise<boolean> {
    const now = this.now();
    if (g.delegated || (g.lighthouseReadyAt !== undefined && now >= g.lighthouseReadyAt)) return true;
    const s = await this.store.getSubscription(g.subscriptionId);
    return s?.lighthouseReadyAt !== undefined && now >= s.lighthouseReadyAt;
  }

  /** The group a call acts in, or ARM's 404 (no such group) or 403 (not delegated to the platform). */
  private async access(
    subscriptionId: string,
    resourceGroup: string,
    action: string,
    scope: string,
  ): Promise<GroupRecord> {
    const g = await this.liveGroup(subscriptionId, resourceGroup);
    if (!g) throw fail(404, 'ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
    if (!(await this.delegated(g)))
      throw fail(
        403,
        'AuthorizationFailed',
        `The client 'local-cloud-platform' with object id '${guid('platform')}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
    return g;
  }

  /** Public: what a bank does in its own tenant before the platform deploys: create and delegate the group. */
  async prepareResourceGroup(p: {
    subscriptionId: string;
    resourceGroup: string;
    location: string;
    tenantId?: string;
    delegated?: boolean;
  }): Promise<void> {
    await this.locks.run([[scopeKey(p.subscriptionId, p.resourceGroup), 'exclusive']], async () => {
      if (p.tenantId) {
        const s = await this.store.getSubscription(p.subscriptionId);
        await this.store.putSubscription({ ...s, subscriptionId: p.subscriptionId, tenantId: p.tenantId });
        this.tenants.set(p.subscriptionId.toLowerCase(), p.tenantId);
      }
      const existing = await this.liveGroup(p.subscriptionId, p.resourceGroup);
      await this.store.putGroup({
        ...existing,
        subscriptionId: p.subscriptionId,
        name: existing?.name ?? p.resourceGroup,
        location: existing?.location ?? p.location,
        delegated: p.delegated ?? true,
        createdAt: existing?.createdAt ?? this.now(),
      });
    });
  }

  // ---- resource groups ---------------------------------------------------------------------------

  private groupView(g: GroupRecord): Obj {
    const deleting = g.deletingFrom !== undefined && this.now() >= g.deletingFrom;
    return {
      id: `/subscriptions/${g.subscriptionId}/resourceGroups/${g.name}`,
      name: g.name,
      type: 'Microsoft.Resources/resourceGroups',
      location: g.location,
      ...(g.tags ? { tags: g.tags } : {}),
      properties: { provisioningState: deleting ? 'Deleting' : 'Succeeded' },
    };
  }

  private groupScope(sub: string, rg: string) {
    return `/subscriptions/${sub}/resourceGroups/${rg}`;
  }

  private async listGroups(subscriptionId: string): Promise<CloudResponse> {
    const now = this.now();
    const value = [];
    for (const g of await this.store.listGroups(subscriptionId))
      if ((g.deleteAt === undefined || now < g.deleteAt) && (await this.delegated(g)))
        value.push(this.groupView(g));
    return { status: 200, body: { value } };
  }

  private async getGroup(sub: string, rg: string, head: boolean): Promise<CloudResponse> {
    if (head) {
      const g = await this.liveGroup(sub, rg);
      if (!g) return { status: 404 };
      if (!(await this.delegated(g))) return { status: 403 };
      return { status: 204 };
    }
    const g = await this.access(
      sub,
      rg,
      'Microsoft.Resources/subscriptions/resourceGroups/read',
      this.groupScope(sub, rg),
    );
    return { status: 200, body: this.groupView(g) };
  }

  private async putGroup(sub: string, rg: string, req: CloudRequest, patch: boolean): Promise<CloudResponse> {
    const body = isObj(req.json) ? req.json : {};
    const existing = await this.liveGroup(sub, rg);
    if (existing) {
      await this.access(
        sub,
        rg,
        'Microsoft.Resources/subscriptions/resourceGroups/write',
        this.groupScope(sub, rg),
      );
      if (existing.deletingFrom !== undefined)
        return errorResponse(409, {
          code: 'ResourceGroupBeingDeleted',
          message: `The resource group '${rg}' is in deprovisioning state and cannot perform this operation.`,
        });
      const location = body['location'];
      if (
        !patch &&
        typeof location === 'string' &&
        location.toLowerCase() !== existing.location.toLowerCase()
      )
        return errorResponse(409, {
          code: 'InvalidResourceGroupLocation',
          message: `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`,
        });
      const updated: GroupRecord = {
        ...existing,
        ...(isObj(body['tags']) ? { tags: body['tags'] as Record<string, string> } : {}),
      };
      await this.store.putGroup(updated);
      return { status: 200, body: this.groupView(updated) };
    }
    if (patch) throw fail(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    if (typeof body['location'] !== 'string' || !body['location'])
      return errorResponse(400, {
        code: 'LocationRequired',
        message: 'The location property is required for this definition.',
      });
    if (!/^[-\w._()]{1,90}$/.test(rg) || rg.endsWith('.'))
      return errorResponse(400, {
        code: 'InvalidResourceGroupName',
        message: `The resource group name '${rg}' is invalid. It can contain alphanumeric characters, periods, underscores, hyphens and parenthesis, cannot end in a period, and be at most 90 characters.`,
      });
    const g: GroupRecord = {
      subscriptionId: sub,
      name: rg,
      location: body['location'],
      ...(isObj(body['tags']) ? { tags: body['tags'] as Record<string, string> } : {}),
      delegated: true,
      createdAt: this.now(),
    };
    await this.store.putGroup(g);
    return { status: 201, body: this.groupView(g) };
  }

  private async deleteGroup(sub: string, rg: string, req: CloudRequest): Promise<CloudResponse> {
    const g = await this.access(
      sub,
      rg,
      'Microsoft.Resources/subscriptions/resourceGroups/delete',
      this.groupScope(sub, rg),
    );
    const now = this.now();
    if (g.deletingFrom === undefined) {
      const resources = (await this.store.listResources({ subscriptionId: sub, resourceGroup: rg })).filter(
        (r) => exists(r, now),
      );
      const longest = Math.max(
        durationSeconds('Microsoft.Resources/resourceGroups'),
        ...resources.map((r) => durationSeconds(r.type)),
      );
      g.deletingFrom = now;
      g.deleteAt = now + this.ms(longest);
      await this.store.putGroup(g);
    }
    const op = await this.newOperation(sub, 'groupDelete', this.groupScope(sub, rg), g.deleteAt!);
    return this.accepted(req, op, { location: true });
  }

  private async listGroupResources(sub: string, rg: string): Promise<CloudResponse> {
    await this.access(
      sub,
      rg,
      'Microsoft.Resources/subscriptions/resourceGroups/resources/read',
      this.groupScope(sub, rg),
    );
    const now = this.now();
    const value = (await this.store.listResources({ subscriptionId: sub, resourceGroup: rg }))
      .filter((r) => exists(r, now))
      .map((r) => {
        const v = viewOf(r, this.viewContext());
        return {
          id: v.id,
          name: v.name,
          type: v.type,
          location: v.location,
          tags: v.tags,
          sku: v.sku,
          kind: v.kind,
        };
      });
    return { status: 200, body: { value } };
  }

  // ---- asynchronous operations ---------------------------------------------------------------------

  private async newOperation(
    subscriptionId: string,
    kind: AsyncOperation['kind'],
    targetId: string,
    doneAt: number,
    extra: Partial<AsyncOperation> = {},
  ): Promise<AsyncOperation> {
    const op: AsyncOperation = {
      id: randomUUID(),
      subscriptionId,
      kind,
      targetId,
      startedAt: this.now(),
      doneAt,
      ...extra,
    };
    await this.store.putOperation(op);
    return op;
  }

  private base(req: CloudRequest): string {
    return `${req.url.protocol}//${req.url.host}`;
  }

  /**
   * Retry-After in whole seconds, as ARM sends it. An operation scaled down to under a second here
   * cannot be said in whole seconds: rounding it up to 1 s made every short operation (a rule, a
   * validation) wait a second, 5–50 times its modelled length, so under a second none is sent and the
   * client polls at its own interval.
   */
  private retryAfter(doneAt: number): Record<string, string> {
    const left = doneAt - this.now();
    return left >= 1000 ? { 'retry-after': String(Math.min(60, Math.floor(left / 1000))) } : {};
  }

  private operationUrls(req: CloudRequest, op: AsyncOperation, namespace: string, location: string) {
    const api = encodeURIComponent(req.url.searchParams.get('api-version') ?? '2024-01-01');
    const base = `${this.base(req)}/subscriptions/${op.subscriptionId}`;
    if (namespace.toLowerCase() === 'microsoft.resources')
      return {
        status: `${base}/operationresults/${op.id}?api-version=${api}`,
        result: `${base}/operationresults/${op.id}?api-version=${api}`,
      };
    const at = `${base}/providers/${namespace}/locations/${encodeURIComponent(location)}`;
    return {
      status: `${at}/operations/${op.id}?api-version=${api}`,
      result: `${at}/operationResults/${op.id}?api-version=${api}`,
    };
  }

  /** 202 with the polling headers the SDK's poller follows. */
  private accepted(
    req: CloudRequest,
    op: AsyncOperation,
    how: { location?: boolean; asyncOperation?: boolean; namespace?: string; region?: string },
    status = 202,
    body?: unknown,
  ): CloudResponse {
    const urls = this.operationUrls(req, op, how.namespace ?? 'Microsoft.Resources', how.region ?? 'local');
    return {
      status,
      headers: {
        ...(how.location ? { location: urls.result } : {}),
        ...(how.asyncOperation ? { 'azure-asyncoperation': urls.status } : {}),
        ...this.retryAfter(op.doneAt),
      },
      ...(body !== undefined ? { body } : {}),
    };
  }

  private async getOperation(
    sub: string,
    id: string,
    style: 'status' | 'result',
    req: CloudRequest,
  ): Promise<CloudResponse> {
    const op = await this.store.getOperation(sub, id);
    if (!op)
      return errorResponse(404, {
        code: 'OperationNotFound',
        message: `The operation '${id}' could not be found.`,
      });
    const now = this.now();
    const done = now >= op.doneAt;
    if (style === 'status') {
      return {
        status: 200,
        headers: done ? {} : this.retryAfter(op.doneAt),
        body: {
          id: req.url.pathname,
          name: op.id,
          status: !done ? 'InProgress' : op.error ? 'Failed' : 'Succeeded',
          startTime: iso(op.startedAt),
          ...(done ? { endTime: iso(op.doneAt) } : {}),
          ...(done && op.error ? { error: op.error } : {}),
        },
      };
    }
    if (!done)
      return { status: 202, headers: { location: req.url.toString(), ...this.retryAfter(op.doneAt) } };
    if (op.error) return errorResponse(400, op.error);
    return { status: 200, ...(op.result !== undefined ? { body: op.result } : {}) };
  }

  // ---- resources -----------------------------------------------------------------------------------

  private viewContext(peers?: StoredResource[]): ViewContext {
    return { now: this.now(), tenantOf: this.syncTenantOf, ...(peers ? { peers } : {}) };
  }

  /**
   * What a connection's status depends on: its two gateways and the connections in the far gateway's
   * group (where the connection back lives), not every connection in the cloud.
   */
  private async peers(connection: StoredResource): Promise<StoredResource[]> {
    const out: StoredResource[] = [];
    for (const end of ['virtualNetworkGateway1', 'virtualNetworkGateway2']) {
      const ref = connection.properties[end];
      if (!isObj(ref) || typeof ref['id'] !== 'string') continue;
      const gw = await this.loadResource(ref['id']);
      if (gw) out.push(gw);
      const p = parseResourceId(ref['id']);
      if (end === 'virtualNetworkGateway2' && p?.subscriptionId && p.resourceGroup)
        out.push(
          ...(await this.store.connectionsIn(p.subscriptionId)).filter(
            (c) => c.resourceGroup?.toLowerCase() === p.resourceGroup!.toLowerCase(),
          ),
        );
    }
    return out;
  }

  private async view(r: StoredResource): Promise<ResourceView & { etag: string }> {
    await this.tenantOf(r.subscriptionId);
    const needsPeers = r.type.toLowerCase() === 'microsoft.network/connections';
    return viewOf(r, this.viewContext(needsPeers ? await this.peers(r) : undefined));
  }

  private async loadResource(id: string): Promise<StoredResource | undefined> {
    const p = parseResourceId(id);
    if (!p?.subscriptionId) return undefined;
    return this.store.getResource(id, p.subscriptionId, p.resourceGroup);
  }

  private embeddedKey(type: string): string | undefined {
    return EMBEDDED_CHILDREN[type.toLowerCase()];
  }

  private parentOf(id: string): string {
    return id.split('/').slice(0, -2).join('/');
  }

  private notFound(route: { type: string; name: string; resourceGroup?: string }): ArmFailure {
    return fail(
      404,
      'ResourceNotFound',
      `The Resource '${route.type}/${route.name}' under resource group '${route.resourceGroup ?? '(none)'}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }

  private async checkAccess(
    route: { subscriptionId: string; resourceGroup?: string; type: string },
    verb: string,
    scope: string,
  ) {
    if (route.resourceGroup)
      await this.access(route.subscriptionId, route.resourceGroup, `${route.type}/${verb}`, scope);
  }

  private async getResource(
    route: Extract<Route, { kind: 'resource' }>,
    head: boolean,
  ): Promise<CloudResponse> {
    await this.checkAccess(route, 'read', route.id);
    const now = this.now();
    const key = this.embeddedKey(route.type);
    if (key) {
      const parent = await this.loadResource(this.parentOf(route.id));
      const item = exists(parent, now)
        ? childView(parent, key, route.name.split('/').pop()!, this.viewContext())
        : undefined;
      if (!item)
        return head
          ? { status: 404 }
          : errorResponse(404, { code: 'NotFound', message: `Resource ${route.id} not found.` });
      return head ? { status: 204 } : { status: 200, body: item };
    }
    const r = await this.loadResource(route.id);
    if (!exists(r, now)) {
      if (head) return { status: 404 };
      throw this.notFound(route);
    }
    return head ? { status: 204 } : { status: 200, body: await this.view(r) };
  }

  private async putResource(
    route: Extract<Route, { kind: 'resource' }>,
    req: CloudRequest,
    patch: boolean,
  ): Promise<CloudResponse> {
    await this.checkAccess(route, 'write', route.id);
    const body = req.json;
    if (!isObj(body))
      return errorResponse(400, {
        code: 'InvalidRequestContent',
        message: 'The request content was invalid: a JSON object is required.',
      });
    const now = this.now();
    const readyAt = now + this.ms(durationSeconds(route.type));
    const region = (r?: StoredResource) => String(r?.location ?? body['location'] ?? 'local');
    const namespace = route.type.split('/')[0]!;
    const key = this.embeddedKey(route.type);
    if (key) {
      const parentId = this.parentOf(route.id);
      const parent = await this.loadResource(parentId);
      if (!exists(parent, now))
        throw fail(
          404,
          'ParentResourceNotFound',
          `Failed to perform 'write' on resource(s) of type '${route.type}', because the parent resource '${parentId}' could not be found.`,
        );
      const name = route.name.split('/').pop()!;
      const list = Array.isArray(parent.properties[key]) ? [...(parent.properties[key] as Obj[])] : [];
      const at = list.findIndex((i) => isObj(i) && String(i['name']).toLowerCase() === name.toLowerCase());
      if (patch && at < 0) throw fail(404, 'NotFound', `Resource ${route.id} not found.`);
      const item = patch ? (deepMerge(list[at], childBody(name, body)) as Obj) : childBody(name, body);
      if (at >= 0) list[at] = item;
      else list.push(item);
      parent.properties = { ...parent.properties, [key]: list };
      parent.childReadyAt = { ...parent.childReadyAt, [`${key}/${name}`.toLowerCase()]: readyAt };
      parent.etagSeq++;
      await this.store.putResource(parent);
      const op = await this.newOperation(route.subscriptionId, 'put', route.id, readyAt);
      return this.accepted(
        req,
        op,
        { asyncOperation: true, namespace, region: region(parent) },
        at >= 0 ? 200 : 201,
        childView(parent, key, name, this.viewContext()),
      );
    }
    if (route.parent === undefined && route.type.split('/').length > 2) {
      const parentId = this.parentOf(route.id);
      if (!exists(await this.loadResource(parentId), now))
        throw fail(
          404,
          'ParentResourceNotFound',
          `Failed to perform 'write' on resource(s) of type '${route.type}', because the parent resource '${parentId}' could not be found.`,
        );
    }
    const existing = await this.loadResource(route.id);
    const live = exists(existing, now) ? existing : undefined;
    if (patch && !live) throw this.notFound(route);
    let r: StoredResource;
    if (patch) {
      r = { ...live! };
      if (isObj(body['properties'])) r.properties = deepMerge(r.properties, body['properties']) as Obj;
      if (body['sku'] !== undefined) r.sku = deepMerge(r.sku, body['sku']);
      if (isObj(body['tags'])) r.tags = body['tags'] as Record<string, string>;
      if (body['identity'] !== undefined) r.identity = body['identity'];
    } else {
      if (route.type.toLowerCase() === 'microsoft.network/connections') {
        const check = await this.checkConnection(body, route.id);
        if (check) return check;
      }
      if (route.type.toLowerCase() === 'microsoft.network/virtualnetworkgateways') {
        const props = isObj(body['properties']) ? body['properties'] : {};
        const refusal = gatewayWriteError(
          live?.deletingFrom === undefined ? live : undefined,
          props,
          body['sku'],
        );
        if (refusal) return errorResponse(400, refusal);
      }
      const props = isObj(body['properties']) ? { ...body['properties'] } : {};
      delete props['provisioningState'];
      r = {
        id: live?.id ?? route.id,
        type: route.type,
        name: route.name,
        subscriptionId: route.subscriptionId,
        ...(route.resourceGroup ? { resourceGroup: route.resourceGroup } : {}),
        properties: props,
        visibleAt: live?.visibleAt ?? now,
        readyAt,
        etagSeq: (existing?.etagSeq ?? 0) + 1,
      };
      for (const f of RESOURCE_FIELDS)
        if (body[f] !== undefined && body[f] !== null) (r as unknown as Obj)[f] = body[f];
      if (r.location === undefined && live?.location !== undefined) r.location = live.location;
    }
    r.readyAt = readyAt;
    delete r.deletingFrom;
    delete r.deleteAt;
    if (patch) r.etagSeq++;
    await this.allocateIps(r, existing?.privateIps);
    await this.store.putResource(r);
    await this.afterWrite(r);
    const op = await this.newOperation(route.subscriptionId, patch ? 'patch' : 'put', route.id, readyAt);
    return this.accepted(
      req,
      op,
      { asyncOperation: true, namespace, region: region(r) },
      live ? 200 : 201,
      await this.view(r),
    );
  }

  /** Gives dynamic IP configurations an address in their subnet, keeping earlier ones. */
  private async allocateIps(r: StoredResource, previous?: Record<string, string>): Promise<void> {
    const configs = dynamicIpConfigs(r);
    if (!configs.length) return;
    const ips: Record<string, string> = {};
    for (const c of configs) {
      const kept = previous?.[c.itemKey];
      if (kept) {
        ips[c.itemKey] = kept;
        continue;
      }
      const vnet = await this.loadResource(this.parentOf(c.subnetId));
      const name = c.subnetId.split('/').pop()!.toLowerCase();
      const subnets =
        vnet && Array.isArray(vnet.properties['subnets']) ? (vnet.properties['subnets'] as Obj[]) : [];
      const subnet = subnets.find((x) => isObj(x) && String(x['name']).toLowerCase() === name);
      const props = isObj(subnet?.['properties']) ? (subnet['properties'] as Obj) : {};
      const prefix =
        props['addressPrefix'] ??
        (Array.isArray(props['addressPrefixes']) ? props['addressPrefixes'][0] : undefined);
      const index = parseInt(guid('ip', r.id.toLowerCase(), c.itemKey).slice(0, 4), 16) % 200;
      const ip = typeof prefix === 'string' ? addressInSubnet(prefix, index) : undefined;
      if (ip) ips[c.itemKey] = ip;
    }
    r.privateIps = ips;
  }

  /** A resource that exists now and is not being deleted. */
  private async liveResource(id: string): Promise<StoredResource | undefined> {
    const r = await this.loadResource(id);
    return exists(r, this.now()) && r.deletingFrom === undefined ? r : undefined;
  }

  /**
   * Connections that take a tunnel of the gateway (it is their local end), apart from `except` (the one
   * being written: rewriting a connection takes no new tunnel). Committed ones count before they show.
   */
  private async tunnelsOf(gatewayId: string, except: ReadonlySet<string> = new Set()): Promise<number> {
    const sub = parseResourceId(gatewayId)?.subscriptionId;
    const now = this.now();
    const all = sub ? await this.store.connectionsIn(sub) : await this.store.connections();
    return all.filter((c) => isLocalConnectionOf(c, gatewayId, now) && !except.has(c.id.toLowerCase()))
      .length;
  }

  /** A VNet-to-VNet connection needs both gateways to exist (the far one may be in another subscription). */
  private async checkConnection(body: Obj, id: string): Promise<CloudResponse | undefined> {
    const props = isObj(body['properties']) ? body['properties'] : {};
    const local = props['virtualNetworkGateway1'];
    if (isObj(local) && typeof local['id'] === 'string') {
      const gateway = await this.liveResource(local['id']);
      const refusal = gateway
        ? tunnelLimitError(gateway, await this.tunnelsOf(local['id'], new Set([id.toLowerCase()])))
        : undefined;
      if (refusal) return errorResponse(400, refusal);
    }
    for (const end of ['virtualNetworkGateway1', 'virtualNetworkGateway2']) {
      const ref = props[end];
      if (!isObj(ref) || typeof ref['id'] !== 'string') continue;
      if (!exists(await this.loadResource(ref['id']), this.now()))
        return errorResponse(400, {
          code: 'InvalidResourceReference',
          message: `Resource ${ref['id']} referenced by resource ${end} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
        });
    }
    return undefined;
  }

  /** Side effects of a stored resource: a Lighthouse assignment delegates its group or subscription. */
  private async afterWrite(r: StoredResource): Promise<void> {
    if (r.type.toLowerCase() !== 'microsoft.managedservices/registrationassignments') return;
    if (r.resourceGroup) {
      const g = await this.store.getGroup(r.subscriptionId, r.resourceGroup);
      if (g)
        await this.store.putGroup({
          ...g,
          lighthouseReadyAt: Math.min(g.lighthouseReadyAt ?? Infinity, r.readyAt),
        });
    } else {
      const s = await this.store.getSubscription(r.subscriptionId);
      await this.store.putSubscription({
        subscriptionId: r.subscriptionId,
        tenantId: s?.tenantId ?? (await this.tenantOf(r.subscriptionId)),
        lighthouseReadyAt: Math.min(s?.lighthouseReadyAt ?? Infinity, r.readyAt),
      });
    }
  }

  /** Withdrawing the last Lighthouse assignment withdraws the delegation it gave. */
  private async afterDelete(r: StoredResource): Promise<void> {
    if (r.type.toLowerCase() !== 'microsoft.managedservices/registrationassignments') return;
    const now = this.now();
    const others = (
      await this.store.listResources({
        subscriptionId: r.subscriptionId,
        ...(r.resourceGroup ? { resourceGroup: r.resourceGroup } : {}),
        type: r.type,
      })
    ).filter(
      (o) =>
        o.id.toLowerCase() !== r.id.toLowerCase() &&
        exists(o, now) &&
        o.deletingFrom === undefined &&
        (o.resourceGroup ?? '') === (r.resourceGroup ?? ''),
    );
    const readyAt = others.length ? Math.min(...others.map((o) => o.readyAt)) : undefined;
    if (r.resourceGroup) {
      const g = await this.store.getGroup(r.subscriptionId, r.resourceGroup);
      if (g) {
        const { lighthouseReadyAt: _old, ...rest } = g;
        await this.store.putGroup(readyAt === undefined ? rest : { ...rest, lighthouseReadyAt: readyAt });
      }
    } else {
      const s = await this.store.getSubscription(r.subscriptionId);
      if (s) {
        const { lighthouseReadyAt: _old, ...rest } = s;
        await this.store.putSubscription(
          readyAt === undefined ? rest : { ...rest, lighthouseReadyAt: readyAt },
        );
      }
    }
  }

  private async deleteResource(
    route: Extract<Route, { kind: 'resource' }>,
    req: CloudRequest,
  ): Promise<CloudResponse> {
    await this.checkAccess(route, 'delete', route.id);
    const now = this.now();
    const namespace = route.type.split('/')[0]!;
    const doneAt = now + this.ms(durationSeconds(route.type));
    const key = this.embeddedKey(route.type);
    if (key) {
      const parent = await this.loadResource(this.parentOf(route.id));
      const name = route.name.split('/').pop()!;
      const list =
        exists(parent, now) && Array.isArray(parent.properties[key]) ? (parent.properties[key] as Obj[]) : [];
      const kept = list.filter((i) => !(isObj(i) && String(i['name']).toLowerCase() === name.toLowerCase()));
      if (!parent || kept.length === list.length) return { status: 204 };
      parent.properties = { ...parent.properties, [key]: kept };
      parent.etagSeq++;
      await this.store.putResource(parent);
      const op = await this.newOperation(route.subscriptionId, 'delete', route.id, doneAt);
      return this.accepted(req, op, {
        asyncOperation: true,
        location: true,
        namespace,
        region: String(parent.location ?? 'local'),
      });
    }
    const r = await this.loadResource(route.id);
    if (!exists(r, now)) return { status: 204 };
    if (r.deletingFrom === undefined) {
      const rule = IN_USE_CODES[r.type.toLowerCase()];
      if (rule) {
        const users: string[] = [];
        for (const t of rule.by)
          for (const o of await this.store.listResources({ type: t }))
            if (
              exists(o, now) &&
              o.deletingFrom === undefined &&
              o.id.toLowerCase() !== r.id.toLowerCase() &&
              refersTo(o, r.id)
            )
              users.push(o.id);
        if (users.length)
          return errorResponse(400, {
            code: rule.code,
            message: `${r.type.split('/').pop()} ${r.name} cannot be deleted because it is in use by ${users.join(', ')}. Delete those resources first.`,
          });
      }
      r.deletingFrom = now;
      r.deleteAt = doneAt;
      await this.store.putResource(r);
      for (const child of await this.store.listResources({
        subscriptionId: r.subscriptionId,
        ...(r.resourceGroup ? { resourceGroup: r.resourceGroup } : {}),
      }))
        if (child.id.toLowerCase().startsWith(`${r.id.toLowerCase()}/`) && exists(child, now)) {
          child.deletingFrom = now;
          child.deleteAt = doneAt;
          await this.store.putResource(child);
        }
      await this.afterDelete(r);
    }
    const op = await this.newOperation(route.subscriptionId, 'delete', route.id, r.deleteAt ?? doneAt);
    return this.accepted(req, op, {
      asyncOperation: true,
      location: true,
      namespace,
      region: String(r.location ?? 'local'),
    });
  }

  private async listCollection(route: Extract<Route, { kind: 'collection' }>): Promise<CloudResponse> {
    const now = this.now();
    if (route.resourceGroup)
      await this.access(route.subscriptionId, route.resourceGroup, `${route.type}/read`, route.path);
    const key = this.embeddedKey(route.type);
    if (key && route.parentId) {
      const parent = await this.loadResource(route.parentId);
      if (!exists(parent, now))
        throw fail(
          404,
          'ParentResourceNotFound',
          `The parent resource '${route.parentId}' could not be found.`,
        );
      const list = viewOf(parent, this.viewContext()).properties[key];
      return { status: 200, body: { value: Array.isArray(list) ? list : [] } };
    }
    const all = await this.store.listResources({
      subscriptionId: route.subscriptionId,
      ...(route.resourceGroup ? { resourceGroup: route.resourceGroup } : {}),
      type: route.type,
    });
    if (route.parentId && all.length === 0)
      return errorResponse(404, {
        code: 'InvalidResourceType',
        message: `The local cloud does not emulate GET ${route.path}.`,
      });
    const value = [];
    for (const r of all)
      if (
        exists(r, now) &&
        (!route.parentId || r.id.toLowerCase().startsWith(`${route.parentId.toLowerCase()}/`))
      )
        value.push(await this.view(r));
    return { status: 200, body: { value } };
  }

  // ---- deployments ---------------------------------------------------------------------------------

  private deploymentId(scope: DeploymentScope, name: string): string {
    return scope.resourceGroup
      ? `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/Microsoft.Resources/deployments/${name}`
      : `/subscriptions/${scope.subscriptionId}/providers/Microsoft.Resources/deployments/${name}`;
  }

  private runState(run: RunRecord & { canceled?: boolean }, now: number): string {
    if (now < run.acceptedUntil) return 'Accepted';
    if (now < run.endAt) return 'Running';
    if (run.canceled) return 'Canceled';
    return run.failed ? 'Failed' : 'Succeeded';
  }

  private deploymentView(d: DeploymentRecord): Obj {
    const now = this.now();
    const run = d.current;
    const state = this.runState(run, now);
    const end = Math.min(now, run.endAt);
    const providers = new Map<string, Set<string>>();
    for (const op of run.ops) {
      const [ns, ...rest] = op.type.split('/');
      if (!providers.has(ns!)) providers.set(ns!, new Set());
      providers.get(ns!)!.add(rest.join('/'));
    }
    return {
      id: d.id,
      name: d.name,
      type: 'Microsoft.Resources/deployments',
      ...(d.location ? { location: d.location } : {}),
      ...(d.tags ? { tags: d.tags } : {}),
      properties: {
        templateHash: d.templateHash,
        parameters: d.parameters,
        mode: d.mode,
        provisioningState: state,
        timestamp: iso(state === 'Accepted' || state === 'Running' ? now : run.endAt),
        duration: isoDuration(end - run.startedAt),
        correlationId: run.correlationId,
        providers: [...providers].map(([namespace, types]) => ({
          namespace,
          resourceTypes: [...types].map((resourceType) => ({ resourceType, locations: [] })),
        })),
        dependencies: d.dependencies.map((x) => ({
          id: x.id,
          resourceType: x.resourceType,
          resourceName: x.resourceName,
          dependsOn: x.dependsOn.map((id) => {
            const p = parseResourceId(id);
            return { id, resourceType: p?.type, resourceName: p?.name };
          }),
        })),
        ...(state === 'Succeeded'
          ? { outputs: d.outputs, outputResources: run.outputResources.map((id) => ({ id })) }
          : {}),
        ...(state === 'Failed' && run.error ? { error: run.error } : {}),
      },
    };
  }

  private async deploymentScopeCheck(scope: DeploymentScope, verb: string, id: string): Promise<void> {
    if (scope.resourceGroup)
      await this.access(
        scope.subscriptionId,
        scope.resourceGroup,
        `Microsoft.Resources/deployments/${verb}`,
        id,
      );
  }

  private async liveDeployment(scope: DeploymentScope, name: string): Promise<DeploymentRecord | undefined> {
    const d = await this.store.getDeployment(scope.subscriptionId, scope.resourceGroup, name);
    return d && this.now() >= d.visibleAt ? d : undefined;
  }

  private deploymentNotFound(name: string): ArmFailure {
    return fail(404, 'DeploymentNotFound', `Deployment '${name}' could not be found.`);
  }

  private async deployment(
    route: Extract<Route, { kind: 'deployment' }>,
    req: CloudRequest,
  ): Promise<CloudResponse> {
    const { scope, name, action } = route;
    const id = this.deploymentId(scope, name);
    const m = req.method;
    const verb =
      m === 'GET' || m === 'HEAD' ? 'read' : m === 'DELETE' ? 'delete' : m === 'POST' ? 'action' : 'write';
    await this.deploymentScopeCheck(scope, verb, id);
    if (!action) {
      if (m === 'PUT') return this.putDeployment(scope, name, req);
      const d = await this.liveDeployment(scope, name);
      if (m === 'HEAD') return { status: d ? 204 : 404 };
      if (!d) throw this.deploymentNotFound(name);
      if (m === 'GET') return { status: 200, body: this.deploymentView(d) };
      if (m === 'DELETE') {
        if (this.now() < d.current.endAt)
          return errorResponse(409, {
            code: 'DeploymentActive',
            message: `The deployment '${name}' is still active and cannot be deleted. Cancel it or wait for it to finish.`,
          });
        await this.store.removeDeployment(scope.subscriptionId, scope.resourceGroup, name);
        const op = await this.newOperation(
          scope.subscriptionId,
          'deploymentDelete',
          id,
          this.now() + this.ms(1),
        );
        return this.accepted(req, op, { location: true });
      }
    } else if (action === 'validate' && m === 'POST') return this.validateDeployment(scope, name, req);
    else if (action === 'whatIf' && m === 'POST') return this.whatIf(scope, name, req);
    else if (action === 'cancel' && m === 'POST') return this.cancelDeployment(scope, name);
    else if (action === 'operations' && m === 'GET')
      return this.deploymentOperations(scope, name, route.item);
    else if (action === 'operationStatuses' && m === 'GET')
      return this.operationStatus(scope, name, route.item!);
    return errorResponse(404, {
      code: 'NotFound',
      message: `The local cloud does not emulate ${m} ${req.url.pathname}.`,
    });
  }

  private async operationStatus(scope: DeploymentScope, name: string, runId: string): Promise<CloudResponse> {
    const d = await this.store.getDeployment(scope.subscriptionId, scope.resourceGroup, name);
    if (!d) throw this.deploymentNotFound(name);
    const run = d.current.runId === runId ? d.current : d.history.find((h) => h.runId === runId);
    if (!run)
      return errorResponse(404, {
        code: 'OperationNotFound',
        message: `The operation '${runId}' could not be found.`,
      });
    const state = this.runState(run as RunRecord, this.now());
    const running = state === 'Accepted' || state === 'Running';
    return {
      status: 200,
      headers: running ? this.retryAfter(run.endAt) : {},
      body: { status: state, ...(state === 'Failed' && run.error ? { error: run.error } : {}) },
    };
  }

  private async deploymentOperations(
    scope: DeploymentScope,
    name: string,
    item?: string,
  ): Promise<CloudResponse> {
    const d = await this.liveDeployment(scope, name);
    if (!d) throw this.deploymentNotFound(name);
    const now = this.now();
    const view = (op: OperationRecord) => {
      const state = now < op.endAt ? 'Running' : op.state;
      return {
        id: `${d.id}/operations/${op.operationId}`,
        operationId: op.operationId,
        properties: {
          provisioningOperation: 'Create',
          provisioningState: state,
          timestamp: iso(Math.min(now, op.endAt)),
          duration: isoDuration(Math.min(now, op.endAt) - op.startAt),
          trackingId: guid('tracking', op.operationId),
          serviceRequestId: guid('request', op.operationId),
          statusCode: state === 'Failed' ? 'Conflict' : state === 'Running' ? 'Accepted' : 'OK',
          statusMessage: state === 'Failed' && op.error ? { status: 'Failed', error: op.error } : {},
          targetResource: {
            id: op.targetId,
            resourceType: op.type,
            resourceName: op.name,
          },
        },
      };
    };
    const started = d.current.ops.filter((o) => o.startAt <= now);
    if (item) {
      const op = started.find((o) => o.operationId === item);
      if (!op)
        return errorResponse(404, {
          code: 'DeploymentOperationNotFound',
          message: `Operation '${item}' could not be found.`,
        });
      return { status: 200, body: view(op) };
    }
    return { status: 200, body: { value: started.map(view) } };
  }

  private async listDeployments(scope: DeploymentScope): Promise<CloudResponse> {
    await this.deploymentScopeCheck(scope, 'read', this.deploymentId(scope, ''));
    const now = this.now();
    const list = (await this.store.listDeployments(scope.subscriptionId, scope.resourceGroup)).filter(
      (d) => now >= d.visibleAt,
    );
    list.sort((a, b) => b.current.startedAt - a.current.startedAt);
    return { status: 200, body: { value: list.map((d) => this.deploymentView(d)) } };
  }

  /** The request body's deployment, checked as ARM checks it before planning. */
  private deploymentBody(
    req: CloudRequest,
    scope: DeploymentScope,
    name: string,
  ): {
    template: unknown;
    parameters: unknown;
    mode: string;
    location?: string;
    tags?: Record<string, string>;
  } {
    if (!/^[-\w._()]{1,64}$/.test(name))
      throw fail(
        400,
        'InvalidDeploymentName',
        `The deployment name '${name}' is invalid. It can contain alphanumeric characters, periods, underscores, hyphens and parenthesis, and be at most 64 characters.`,
      );
    const body = req.json;
    if (!isObj(body) || !isObj(body['properties']))
      throw fail(
        400,
        'InvalidRequestContent',
        "The request content was invalid and could not be deserialized: 'properties' is required.",
      );
    const props = body['properties'];
    if (props['templateLink'] !== undefined)
      throw fail(
        400,
        'InvalidTemplate',
        'The local cloud does not fetch templateLink: send the template inline.',
      );
    if (!isObj(props['template']))
      throw fail(
        400,
        'InvalidRequestContent',
        "The request content was invalid: 'properties.template' is required.",
      );
    const mode = typeof props['mode'] === 'string' ? props['mode'] : 'Incremental';
    if (mode.toLowerCase() !== 'incremental')
      throw fail(
        400,
        'InvalidDeploymentMode',
        `The deployment mode '${mode}' is not supported by the local cloud: only 'Incremental' is.`,
      );
    const location = typeof body['location'] === 'string' ? body['location'] : undefined;
    if (!scope.resourceGroup && !location)
      throw fail(400, 'LocationRequired', 'The location property is required for this definition.');
    return {
      template: props['template'],
      parameters: props['parameters'],
      mode,
      ...(location ? { location } : {}),
      ...(isObj(body['tags']) ? { tags: body['tags'] as Record<string, string> } : {}),
    };
  }

  private async target(scope: DeploymentScope, name: string, location?: string): Promise<DeploymentTarget> {
    const tenantId = await this.tenantOf(scope.subscriptionId);
    if (!scope.resourceGroup)
      return {
        subscriptionId: scope.subscriptionId,
        tenantId,
        deploymentName: name,
        ...(location ? { location } : {}),
      };
    const g = await this.liveGroup(scope.subscriptionId, scope.resourceGroup);
    if (!g)
      throw fail(404, 'ResourceGroupNotFound', `Resource group '${scope.resourceGroup}' could not be found.`);
    return {
      subscriptionId: scope.subscriptionId,
      tenantId,
      deploymentName: name,
      resourceGroup: { name: g.name, location: g.location, ...(g.tags ? { tags: g.tags } : {}) },
    };
  }

  /** Plans with a host that loads stored state on demand (the engine itself is synchronous). */
  private async plan(
    template: unknown,
    parameters: unknown,
    target: DeploymentTarget,
  ): Promise<PlannedDeployment> {
    const now = this.now();
    const resources = new Map<string, StoredResource | null>();
    const groups = new Map<string, GroupRecord | null>();
    const existing = (id: string): ResourceView | undefined => {
      const p = parseResourceId(id);
      const embedded = p ? this.embeddedKey(p.type) : undefined;
      const loadId = embedded ? this.parentOf(id) : id;
      const k = loadId.toLowerCase();
      if (!resources.has(k))
        throw new NeedState(async () => {
          const r = await this.loadResource(loadId);
          if (r) await this.tenantOf(r.subscriptionId);
          resources.set(k, r ?? null);
        });
      const r = resources.get(k);
      if (!r || !exists(r, now)) return undefined;
      if (embedded) {
        const item = childView(r, embedded, p!.name.split('/').pop()!, this.viewContext());
        return item
          ? ({ ...item, properties: (item['properties'] ?? {}) as Obj } as unknown as ResourceView)
          : undefined;
      }
      return viewOf(r, this.viewContext());
    };
    const host: TemplateHost = {
      existing,
      resourceGroup: (sub, name) => {
        const k = `${sub}|${name}`.toLowerCase();
        if (!groups.has(k))
          throw new NeedState(async () => {
            groups.set(k, (await this.liveGroup(sub, name)) ?? null);
          });
        const g = groups.get(k);
        return g ? { name: g.name, location: g.location, ...(g.tags ? { tags: g.tags } : {}) } : undefined;
      },
      tenantOf: (sub) => {
        if (!this.tenants.has(sub.toLowerCase()))
          throw new NeedState(async () => {
            await this.tenantOf(sub);
          });
        return this.syncTenantOf(sub);
      },
      view: (body: ResourceBody) => viewOf(this.fromBody(body, now, now, 0), this.viewContext()),
      now: () => now,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        return planDeployment({ template, parameters, target, host });
      } catch (e) {
        if (e instanceof NeedState && attempt < 200) {
          await e.load();
          continue;
        }
        throw e;
      }
    }
  }

  private fromBody(
    body: ResourceBody,
    visibleAt: number,
    readyAt: number,
    etagSeq: number,
    deployment?: string,
  ): StoredResource {
    const p = parseResourceId(body.id);
    const props = { ...body.properties };
    delete props['provisioningState'];
    const r: StoredResource = {
      id: body.id,
      type: body.type,
      name: body.name,
      apiVersion: body.apiVersion,
      subscriptionId: p?.subscriptionId ?? '',
      ...(p?.resourceGroup ? { resourceGroup: p.resourceGroup } : {}),
      properties: props,
      visibleAt,
      readyAt,
      etagSeq,
      ...(deployment ? { deployment } : {}),
    };
    for (const f of RESOURCE_FIELDS) if (body[f] !== undefined) (r as unknown as Obj)[f] = body[f];
    return r;
  }

  private templateFailure(e: TemplateError): CloudResponse {
    return errorResponse(e.armCode === 'ResourceGroupNotFound' ? 404 : 400, {
      code: e.armCode,
      message: e.message,
      ...(e.details ? { details: e.details } : {}),
    });
  }

  /**
   * Validation is a long-running operation in ARM: 202 with Location, then 200 with the result or 400
   * with the template error (which the SDK's poller reports with its code).
   */
  private async validateDeployment(
    scope: DeploymentScope,
    name: string,
    req: CloudRequest,
  ): Promise<CloudResponse> {
    const body = this.deploymentBody(req, scope, name);
    const target = await this.target(scope, name, body.location);
    const id = this.deploymentId(scope, name);
    const now = this.now();
    let result: Obj | undefined;
    let error: ArmErrorBody | undefined;
    try {
      const plan = await this.plan(body.template, body.parameters, target);
      result = {
        id,
        name,
        type: 'Microsoft.Resources/deployments',
        properties: {
          provisioningState: 'Succeeded',
          mode: plan.mode,
          templateHash: plan.templateHash,
          parameters: plan.parameters,
          timestamp: iso(now),
          duration: 'PT0S',
          correlationId: randomUUID(),
          validatedResources: this.flatten(plan).map((r) => ({ id: r.body.id })),
        },
      };
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      // Runtime failures (a reference to a missing resource) are beyond what ARM's preflight sees.
      if (e.phase === 'runtime')
        result = {
          id,
          name,
          type: 'Microsoft.Resources/deployments',
          properties: { provisioningState: 'Succeeded', mode: 'Incremental' },
        };
      else error = { code: e.armCode, message: e.message, ...(e.details ? { details: e.details } : {}) };
    }
    const op = await this.newOperation(scope.subscriptionId, 'validate', id, now + this.ms(1), {
      ...(result ? { result } : {}),
      ...(error ? { error } : {}),
    });
    return this.accepted(req, op, { location: true });
  }

  private flatten(plan: PlannedDeployment): PlannedResource[] {
    return [...plan.resources, ...plan.deployments.flatMap((d) => this.flatten(d))];
  }

  private async whatIf(scope: DeploymentScope, name: string, req: CloudRequest): Promise<CloudResponse> {
    const body = this.deploymentBody(req, scope, name);
    const target = await this.target(scope, name, body.location);
    let result: unknown;
    try {
      const plan = await this.plan(body.template, body.parameters, target);
      const now = this.now();
      const changes = [];
      for (const node of this.flatten(plan)) {
        const stored = await this.loadResource(node.body.id);
        const after = viewOf(
          this.fromBody(node.body, now, now, (stored?.etagSeq ?? 0) + 1),
          this.viewContext(),
        );
        if (!exists(stored, now) || stored.deletingFrom !== undefined) {
          changes.push({ resourceId: node.body.id, changeType: 'Create', after });
          continue;
        }
        const before = await this.view(stored);
        const delta = [];
        const declared = node.body as unknown as Obj;
        const have = stored as unknown as Obj;
        for (const f of RESOURCE_FIELDS)
          if (declared[f] !== undefined && !deepEqual(declared[f], have[f]))
            delta.push({
              path: f,
              propertyChangeType: have[f] === undefined ? 'Create' : 'Modify',
              before: have[f],
              after: declared[f],
            });
        const keys = new Set([...Object.keys(node.body.properties), ...Object.keys(stored.properties)]);
        for (const k of keys) {
          const a = node.body.properties[k];
          const b = stored.properties[k];
          if (!deepEqual(a, b))
            delta.push({
              path: `properties.${k}`,
              propertyChangeType: b === undefined ? 'Create' : a === undefined ? 'Delete' : 'Modify',
              before: b,
              after: a,
            });
        }
        changes.push(
          delta.length
            ? { resourceId: node.body.id, changeType: 'Modify', before, after, delta }
            : { resourceId: node.body.id, changeType: 'NoChange', before, after },
        );
      }
      result = { status: 'Succeeded', properties: { changes } };
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      if (e.phase !== 'runtime') return this.templateFailure(e);
      result = { status: 'Failed', error: { code: e.armCode, message: e.message } };
    }
    const op = await this.newOperation(
      scope.subscriptionId,
      'whatIf',
      this.deploymentId(scope, name),
      this.now() + this.ms(1),
      { result },
    );
    return this.accepted(req, op, { location: true });
  }

  private async cancelDeployment(scope: DeploymentScope, name: string): Promise<CloudResponse> {
    const d = await this.liveDeployment(scope, name);
    if (!d) throw this.deploymentNotFound(name);
    const now = this.now();
    if (now >= d.current.endAt)
      return errorResponse(409, {
        code: 'DeploymentCannotBeCancelled',
        message: `The deployment '${name}' cannot be cancelled: it is not running.`,
      });
    const run = d.current as RunRecord & { canceled?: boolean };
    for (const op of run.ops.filter((o) => o.startAt > now)) {
      const r = await this.loadResource(op.targetId);
      if (r && r.deployment?.toLowerCase() === d.id.toLowerCase() && r.visibleAt > now)
        await this.store.removeResource(r);
    }
    run.ops = run.ops.filter((o) => o.startAt <= now);
    run.endAt = Math.max(now, ...run.ops.map((o) => o.endAt));
    run.acceptedUntil = Math.min(run.acceptedUntil, now);
    run.canceled = true;
    run.failed = true;
    run.error = { code: 'DeploymentCanceled', message: `The deployment '${name}' was canceled.` };
    await this.store.putDeployment(d);
    return { status: 204 };
  }

  /**
   * What a resource provider refuses when it gets to a resource: a connection to a gateway that is neither
   * stored nor made by this deployment (ARM's preflight does not look across subscriptions).
   */
  private async referenceErrors(plan: PlannedDeployment): Promise<Map<string, ArmErrorBody>> {
    const errors = new Map<string, ArmErrorBody>();
    const all = this.flatten(plan);
    const declared = new Set(all.map((r) => r.key));
    const now = this.now();
    // Tunnels each local gateway takes in this deployment so far (connections are refused in order).
    const taking = new Map<string, number>();
    for (const r of all) {
      if (r.body.type.toLowerCase() === 'microsoft.network/virtualnetworkgateways') {
        const refusal = gatewayWriteError(
          await this.liveResource(r.body.id),
          r.body.properties,
          r.body['sku'],
        );
        if (refusal) errors.set(r.key, { ...refusal, target: r.body.id });
        continue;
      }
      if (r.body.type.toLowerCase() !== 'microsoft.network/connections') continue;
      const local = r.body.properties['virtualNetworkGateway1'];
      if (isObj(local) && typeof local['id'] === 'string') {
        const gatewayId = local['id'];
        const planned = all.find((x) => x.key === gatewayId.toLowerCase());
        const gateway =
          (await this.liveResource(gatewayId)) ??
          (planned
            ? { id: planned.body.id, properties: planned.body.properties, sku: planned.body['sku'] }
            : undefined);
        if (gateway) {
          // Stored ones this deployment rewrites are counted as its own, in order.
          const held = await this.tunnelsOf(gatewayId, declared);
          const before = taking.get(gatewayId.toLowerCase()) ?? 0;
          const refusal = tunnelLimitError(gateway, held + before);
          if (refusal) {
            errors.set(r.key, { ...refusal, target: r.body.id });
            continue;
          }
          taking.set(gatewayId.toLowerCase(), before + 1);
        }
      }
      for (const end of ['virtualNetworkGateway1', 'virtualNetworkGateway2']) {
        const ref = r.body.properties[end];
        if (!isObj(ref) || typeof ref['id'] !== 'string') continue;
        if (declared.has(ref['id'].toLowerCase()) || exists(await this.loadResource(ref['id']), now))
          continue;
        errors.set(r.key, {
          code: 'InvalidResourceReference',
          message: `Resource ${ref['id']} referenced by resource ${r.body.id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
          target: r.body.id,
        });
      }
    }
    return errors;
  }

  private schedule(
    plan: PlannedDeployment,
    startAt: number,
    refused: Map<string, ArmErrorBody> = new Map(),
  ): Scheduled {
    const nodes: Array<PlannedResource | PlannedDeployment> = [...plan.resources, ...plan.deployments];
    const byKey = new Map(nodes.map((n) => [n.key, n]));
    const done = new Map<string, { endAt: number; ok: boolean }>();
    const ops: OperationRecord[] = [];
    const created: Scheduled['created'] = [];
    const children: Scheduled[] = [];
    const order: Array<PlannedResource | PlannedDeployment> = [];
    const seen = new Set<string>();
    const visit = (n: PlannedResource | PlannedDeployment) => {
      if (seen.has(n.key)) return;
      seen.add(n.key);
      for (const d of n.dependsOn) {
        const m = byKey.get(d);
        if (m) visit(m);
      }
      order.push(n);
    };
    nodes.forEach(visit);
    for (const n of order) {
      const deps = n.dependsOn.filter((k) => byKey.has(k)).map((k) => done.get(k)!);
      if (deps.some((d) => !d.ok)) {
        done.set(n.key, { endAt: startAt, ok: false });
        continue;
      }
      const start = Math.max(startAt, ...deps.map((d) => d.endAt));
      const operationId = guid('operation', plan.id.toLowerCase(), n.key, String(startAt))
        .replace(/-/g, '')
        .slice(0, 16)
        .toUpperCase();
      if (n.node === 'resource') {
        const fault = this.opts.faults.take(`arm:deploy:${n.body.type}`);
        let dur = this.ms(durationSeconds(n.body.type));
        // ARM retries a throttled provider itself: the resource just takes longer.
        if (fault?.kind === 'throttle') dur += this.ms(fault.retryAfterSeconds ?? 1);
        const base = { operationId, targetId: n.body.id, type: n.body.type, name: n.body.name };
        const error =
          fault && fault.kind !== 'throttle' ? deployFaultError(fault, n.body.id) : refused.get(n.key);
        if (error) {
          const endAt = start + Math.min(dur, this.ms(1));
          ops.push({ ...base, startAt: start, endAt, state: 'Failed', error });
          done.set(n.key, { endAt, ok: false });
        } else {
          ops.push({ ...base, startAt: start, endAt: start + dur, state: 'Succeeded' });
          created.push({ node: n, startAt: start, endAt: start + dur });
          done.set(n.key, { endAt: start + dur, ok: true });
        }
      } else {
        const child = this.schedule(n, start, refused);
        children.push(child);
        ops.push({
          operationId,
          targetId: n.id,
          type: 'Microsoft.Resources/deployments',
          name: n.name,
          startAt: start,
          endAt: child.endAt,
          state: child.failed ? 'Failed' : 'Succeeded',
          ...(child.error ? { error: child.error } : {}),
        });
        done.set(n.key, { endAt: child.endAt, ok: !child.failed });
      }
    }
    const endAt = Math.max(startAt, ...ops.map((o) => o.endAt)) + this.ms(2);
    const failedOps = ops.filter((o) => o.state === 'Failed');
    return {
      plan,
      startAt,
      endAt,
      failed: failedOps.length > 0,
      ...(failedOps.length
        ? {
            error: {
              code: 'DeploymentFailed',
              target: plan.id,
              message: DEPLOYMENT_FAILED,
              details: failedOps.map((o) => o.error!),
            },
          }
        : {}),
      ops,
      created,
      children,
    };
  }

  private async putDeployment(
    scope: DeploymentScope,
    name: string,
    req: CloudRequest,
  ): Promise<CloudResponse> {
    const body = this.deploymentBody(req, scope, name);
    const id = this.deploymentId(scope, name);
    const now = this.now();
    const previous = await this.store.getDeployment(scope.subscriptionId, scope.resourceGroup, name);
    if (previous && now < previous.current.endAt && previous.visibleAt <= now)
      return errorResponse(409, {
        code: 'DeploymentActive',
        message: `Unable to edit or replace deployment '${name}': previous deployment from '${iso(previous.current.startedAt)}' is still active (expiration time is '${iso(previous.current.startedAt + 14 * 86400_000)}'). Please see https://aka.ms/arm-deploy for usage details.`,
      });
    const target = await this.target(scope, name, body.location);
    let scheduled: Scheduled;
    try {
      const plan = await this.plan(body.template, body.parameters, target);
      scheduled = this.schedule(plan, now, await this.referenceErrors(plan));
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      if (e.phase !== 'runtime') return this.templateFailure(e);
      const endAt = now + this.ms(2);
      scheduled = {
        plan: {
          node: 'deployment',
          key: id.toLowerCase(),
          id,
          name,
          subscriptionId: scope.subscriptionId,
          ...(scope.resourceGroup ? { resourceGroup: scope.resourceGroup } : {}),
          mode: 'Incremental',
          contentVersion: '1.0.0.0',
          templateHash: '',
          parameters: {},
          outputs: {},
          resources: [],
          deployments: [],
          dependsOn: [],
        },
        startAt: now,
        endAt,
        failed: true,
        error: {
          code: 'DeploymentFailed',
          target: id,
          message: DEPLOYMENT_FAILED,
          details: [{ code: e.armCode, message: e.message }],
        },
        ops: [],
        created: [],
        children: [],
      };
    }
    const runId = await this.commit(scheduled, body, previous, undefined);
    this.runs[id] = (this.runs[id] ?? 0) + 1;
    const rec = await this.store.getDeployment(scope.subscriptionId, scope.resourceGroup, name);
    const view = this.deploymentView(rec!) as { properties: Obj };
    view.properties['provisioningState'] = 'Accepted';
    delete view.properties['outputs'];
    delete view.properties['outputResources'];
    delete view.properties['error'];
    const api = encodeURIComponent(req.url.searchParams.get('api-version') ?? '2024-01-01');
    return {
      status: previous ? 200 : 201,
      headers: {
        'azure-asyncoperation': `${this.base(req)}${id}/operationStatuses/${runId}?api-version=${api}`,
        ...this.retryAfter(scheduled.endAt),
      },
      body: view,
    };
  }

  /** Stores a scheduled run: its deployment records (nested ones too) and the resources it makes. */
  private async commit(
    s: Scheduled,
    body: { location?: string; tags?: Record<string, string> },
    previous: DeploymentRecord | undefined,
    parentId: string | undefined,
  ): Promise<string> {
    const plan = s.plan;
    const runId = guid('run', plan.id.toLowerCase(), String(s.startAt), randomUUID()).toUpperCase();
    for (const c of s.created) await this.storeCreated(c, plan.id);
    for (const child of s.children) {
      const prev = await this.store.getDeployment(
        child.plan.subscriptionId,
        child.plan.resourceGroup,
        child.plan.name,
      );
      await this.commit(child, {}, prev, plan.id);
    }
    const outputResources = [
      ...s.created.map((c) => c.node.body.id),
      ...s.children.flatMap((c) => (c.failed ? [] : this.flatten(c.plan).map((r) => r.body.id))),
    ];
    const run: RunRecord = {
      runId,
      correlationId: randomUUID(),
      startedAt: s.startAt,
      acceptedUntil: s.startAt + Math.min(this.ms(1), s.endAt - s.startAt),
      endAt: s.endAt,
      failed: s.failed,
      ...(s.error ? { error: s.error } : {}),
      ops: s.ops,
      outputResources: s.failed ? [] : outputResources,
    };
    const history = previous
      ? [...previous.history, (({ ops: _o, outputResources: _r, ...rest }) => rest)(previous.current)].slice(
          -10,
        )
      : [];
    const record: DeploymentRecord = {
      id: plan.id,
      name: plan.name,
      subscriptionId: plan.subscriptionId,
      ...(plan.resourceGroup ? { resourceGroup: plan.resourceGroup } : {}),
      ...((body.location ?? plan.location) ? { location: body.location ?? plan.location } : {}),
      ...(body.tags ? { tags: body.tags } : {}),
      mode: plan.mode,
      templateHash: plan.templateHash,
      contentVersion: plan.contentVersion,
      parameters: plan.parameters,
      outputs: s.failed ? {} : plan.outputs,
      visibleAt: parentId ? s.startAt : Math.min(s.startAt, previous?.visibleAt ?? s.startAt),
      ...(parentId ? { parentId } : {}),
      dependencies: [
        ...plan.resources.map((r) => ({
          id: r.body.id,
          resourceType: r.body.type,
          resourceName: r.body.name,
          dependsOn: r.dependsOn,
        })),
        ...plan.deployments.map((d) => ({
          id: d.id,
          resourceType: 'Microsoft.Resources/deployments',
          resourceName: d.name,
          dependsOn: d.dependsOn,
        })),
      ]
        .filter((x) => x.dependsOn.length > 0)
        .map((x) => ({ ...x, dependsOn: x.dependsOn.map((k) => this.idOfKey(plan, k)) })),
      current: run,
      history,
    };
    await this.store.putDeployment(record);
    return runId;
  }

  private idOfKey(plan: PlannedDeployment, key: string): string {
    return (
      plan.resources.find((r) => r.key === key)?.body.id ??
      plan.deployments.find((d) => d.key === key)?.id ??
      key
    );
  }

  private async storeCreated(c: Scheduled['created'][number], deploymentId: string): Promise<void> {
    const body = c.node.body;
    const now = this.now();
    const type = body.type.toLowerCase();
    if (type === 'microsoft.resources/resourcegroups') {
      const g = await this.liveGroup(c.node.subscriptionId, body.name);
      await this.store.putGroup({
        ...g,
        subscriptionId: c.node.subscriptionId,
        name: g?.name ?? body.name,
        location: g?.location ?? String(body.location ?? 'local'),
        ...(body.tags ? { tags: body.tags } : {}),
        delegated: g?.delegated ?? true,
        createdAt: g?.createdAt ?? c.startAt,
      });
      return;
    }
    const key = this.embeddedKey(type);
    if (key) {
      const parent = await this.loadResource(this.parentOf(body.id));
      if (parent) {
        const name = body.name.split('/').pop()!;
        const list = Array.isArray(parent.properties[key]) ? [...(parent.properties[key] as Obj[])] : [];
        const at = list.findIndex((i) => isObj(i) && String(i['name']).toLowerCase() === name.toLowerCase());
        const item = childBody(name, { properties: body.properties });
        if (at >= 0) list[at] = item;
        else list.push(item);
        parent.properties = { ...parent.properties, [key]: list };
        parent.childReadyAt = { ...parent.childReadyAt, [`${key}/${name}`.toLowerCase()]: c.endAt };
        parent.etagSeq++;
        await this.store.putResource(parent);
        return;
      }
    }
    const existing = await this.loadResource(body.id);
    const live = exists(existing, now) && existing.deletingFrom === undefined ? existing : undefined;
    const r = this.fromBody(
      body,
      live ? live.visibleAt : c.startAt,
      c.endAt,
      (existing?.etagSeq ?? 0) + 1,
      deploymentId,
    );
    if (live) r.id = live.id;
    await this.allocateIps(r, existing?.privateIps);
    await this.store.putResource(r);
    await this.afterWrite(r);
  }

  // ---- snapshot ------------------------------------------------------------------------------------

  async snapshot(): Promise<ArmSnapshot> {
    const now = this.now();
    const groups = (await this.store.listGroups()).filter(
      (g) => g.deleteAt === undefined || now < g.deleteAt,
    );
    const resourceGroups = [];
    for (const g of groups)
      resourceGroups.push({
        id: this.groupScope(g.subscriptionId, g.name),
        subscriptionId: g.subscriptionId,
        name: g.name,
        location: g.location,
        delegated: await this.delegated(g),
        provisioningState: (this.groupView(g)['properties'] as Obj)['provisioningState'] as string,
      });
    const deployments = (await this.store.listDeployments())
      .filter((d) => now >= d.visibleAt)
      .map((d) => {
        const state = this.runState(d.current, now);
        return {
          id: d.id,
          name: d.name,
          subscriptionId: d.subscriptionId,
          ...(d.resourceGroup ? { resourceGroup: d.resourceGroup } : {}),
          ...(d.parentId ? { parentId: d.parentId } : {}),
          state,
          timestamp: iso(state === 'Running' || state === 'Accepted' ? now : d.current.endAt),
          parameters: d.parameters,
          outputs: state === 'Succeeded' ? d.outputs : {},
          ...(state === 'Failed' && d.current.error ? { error: d.current.error } : {}),
          runs: [...d.history, d.current].map((r) => ({
            runId: r.runId,
            startedAt: iso(r.startedAt),
            endsAt: iso(r.endAt),
            state: this.runState(r as RunRecord, now),
            ...(r.failed && r.error ? { error: r.error } : {}),
          })),
        };
      });
    const all = (await this.store.listResources()).filter((r) => exists(r, now));
    for (const r of all) await this.tenantOf(r.subscriptionId);
    const ctx = this.viewContext(all);
    const counts: Record<string, number> = {};
    const out: ArmSnapshot['resources'] = {
      counts,
      scaleSets: [],
      gateways: [],
      connections: [],
      networkSecurityGroups: [],
      vaults: [],
      roleAssignments: [],
      lighthouse: [],
      other: [],
    };
    for (const r of all) {
      counts[r.type] = (counts[r.type] ?? 0) + 1;
      const v = viewOf(r, ctx);
      const state = provisioningState(r, now);
      const sku = isObj(r.sku) ? r.sku : {};
      switch (r.type.toLowerCase()) {
        case 'microsoft.compute/virtualmachinescalesets':
          out.scaleSets.push({
            id: r.id,
            name: r.name,
            capacity: sku['capacity'],
            vmSize: sku['name'],
            provisioningState: state,
          });
          break;
        case 'microsoft.network/virtualnetworkgateways': {
          // The current SKU (a resize shows its new one while `Updating`) and the tunnels it holds.
          const sku = gatewaySkuOf(r.properties, r.sku);
          out.gateways.push({
            id: r.id,
            name: r.name,
            sku: r.properties['sku'] ?? r.sku,
            generation: gatewayGeneration(r.properties, r.sku),
            connections: all.filter((c) => isLocalConnectionOf(c, r.id, now)).length,
            tunnelLimit: Number.isFinite(gatewayTunnelLimit(sku)) ? gatewayTunnelLimit(sku) : null,
            provisioningState: state,
          });
          break;
        }
        case 'microsoft.network/connections':
          out.connections.push({
            id: r.id,
            name: r.name,
            gateway1: (r.properties['virtualNetworkGateway1'] as Obj | undefined)?.['id'],
            gateway2: (r.properties['virtualNetworkGateway2'] as Obj | undefined)?.['id'],
            connectionStatus: connectionStatus(r, ctx),
            provisioningState: state,
          });
          break;
        case 'microsoft.network/networksecuritygroups': {
          const rules = Array.isArray(v.properties['securityRules'])
            ? (v.properties['securityRules'] as Obj[])
            : [];
          out.networkSecurityGroups.push({
            id: r.id,
            name: r.name,
            rules: rules.map((rule) => ({ name: rule['name'], ...((rule['properties'] ?? {}) as Obj) })),
            provisioningState: state,
          });
          break;
        }
        case 'microsoft.keyvault/vaults':
          out.vaults.push({
            id: r.id,
            name: r.name,
            vaultUri: v.properties['vaultUri'],
            provisioningState: state,
          });
          break;
        case 'microsoft.authorization/roleassignments':
          out.roleAssignments.push({
            id: r.id,
            principalId: r.properties['principalId'],
            roleDefinitionId: r.properties['roleDefinitionId'],
            scope: parseResourceId(r.id)?.parent ?? '',
          });
          break;
        case 'microsoft.managedservices/registrationdefinitions':
        case 'microsoft.managedservices/registrationassignments':
          out.lighthouse.push({ id: r.id, type: r.type, name: r.name, properties: v.properties });
          break;
        default:
          out.other.push({ id: r.id, type: r.type, provisioningState: state });
      }
    }
    return { resourceGroups, deployments, resources: out };
  }
}
