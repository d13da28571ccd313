import { createHash, randomUUID } from 'node:crypto';
import {
  type Expr,
  TemplateError,
  expressionText,
  invalidTemplate,
  literalText,
  parseExpression,
} from './expressions';

/**
 * A small ARM template engine: checks parameters the way ARM does, evaluates the template language,
 * expands copy loops and conditions, resolves dependencies, evaluates nested inline deployments and
 * outputs. Pure: everything it needs from the outside world comes through `TemplateHost`, synchronously
 * (the emulator loads what a host call asks for and plans again; see NeedState in the emulator).
 */

export { TemplateError } from './expressions';

export interface ResourceGroupInfo {
  name: string;
  location: string;
  tags?: Record<string, string>;
}

export interface DeploymentTarget {
  subscriptionId: string;
  tenantId: string;
  /** Absent for a subscription-scope deployment. */
  resourceGroup?: ResourceGroupInfo;
  deploymentName: string;
  /** A subscription-scope deployment's own location. */
  location?: string;
}

/** A resource as ARM's GET shows it. */
export interface ResourceView {
  id: string;
  name: string;
  type: string;
  apiVersion?: string;
  location?: string;
  properties: Record<string, unknown>;
  sku?: unknown;
  kind?: unknown;
  identity?: unknown;
  tags?: unknown;
  zones?: unknown;
  plan?: unknown;
}

export interface TemplateHost {
  /** A stored resource, or undefined when there is none. */
  existing(id: string): ResourceView | undefined;
  resourceGroup(subscriptionId: string, name: string): ResourceGroupInfo | undefined;
  tenantOf(subscriptionId: string): string;
  /** What GET would show for a resource this deployment declares (with provider-computed properties). */
  view(resource: ResourceBody): ResourceView;
  now(): number;
}

/** A parameter or output as ARM reports it; secure ones carry no value. */
export interface TypedValue {
  type: string;
  value?: unknown;
}

export interface ResourceBody {
  id: string;
  name: string;
  type: string;
  apiVersion: string;
  location?: string;
  properties: Record<string, unknown>;
  sku?: unknown;
  kind?: unknown;
  identity?: unknown;
  tags?: Record<string, string>;
  zones?: unknown;
  plan?: unknown;
}

export interface PlannedResource {
  node: 'resource';
  /** The id lower-cased: ARM ids compare case-insensitively. */
  key: string;
  subscriptionId: string;
  resourceGroup?: string;
  body: ResourceBody;
  /** Keys of the nodes of the same deployment this one waits for. */
  dependsOn: string[];
}

export interface PlannedDeployment {
  node: 'deployment';
  key: string;
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup?: string;
  location?: string;
  mode: string;
  contentVersion: string;
  templateHash: string;
  parameters: Record<string, TypedValue>;
  outputs: Record<string, TypedValue>;
  resources: PlannedResource[];
  deployments: PlannedDeployment[];
  dependsOn: string[];
}

export interface PlanInput {
  template: unknown;
  /** ARM's parameter object: `{ name: { value } }`. */
  parameters?: unknown;
  target: DeploymentTarget;
  host: TemplateHost;
  mode?: string;
}

// ---------------------------------------------------------------------------------------------------
// Values and helpers

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A function called wrongly; reported as ARM reports it, naming the function. */
class FnError extends Error {}

function getProp(o: Obj, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function hasProp(o: Obj, name: string): boolean {
  const lower = name.toLowerCase();
  return Object.keys(o).some((k) => k.toLowerCase() === lower);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => hasProp(b, k) && deepEqual(a[k], getProp(b, k)));
  }
  return false;
}

/** ARM's string conversion: booleans as True/False, objects and arrays as compact JSON. */
export function armString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'Null';
  if (typeof v === 'string') return 'String';
  if (typeof v === 'boolean') return 'Boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'Integer' : 'Float';
  if (Array.isArray(v)) return 'Array';
  return 'Object';
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Deterministic 13-character id like ARM's uniqueString (not Azure's exact hash). */
export function uniqueString(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  let out = '';
  for (let i = 0; i < 13; i++) out += BASE32[digest[i]! % 32];
  return out;
}

/** Deterministic GUID from strings, like ARM's guid() (a name-based UUID, not Azure's exact one). */
export function guid(...parts: string[]): string {
  const d = createHash('sha1').update(parts.join('\u0000')).digest();
  d[6] = (d[6]! & 0x0f) | 0x50;
  d[8] = (d[8]! & 0x3f) | 0x80;
  const h = d.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function templateHash(template: unknown): string {
  const d = createHash('sha256').update(JSON.stringify(template)).digest();
  return d.readBigUInt64BE(0).toString();
}

/** `/subscriptions/s[/resourceGroups/rg]/providers/ns/type/name[/type/name]`. */
export function buildResourceId(
  subscriptionId: string,
  resourceGroup: string | undefined,
  type: string,
  names: string[],
): string {
  const [ns, ...types] = type.split('/');
  if (!ns || types.length === 0) throw new FnError(`'${type}' is not a resource type.`);
  if (types.length !== names.length)
    throw new FnError(
      `the type '${type}' requires ${types.length} resource name segment(s) but ${names.length} were given.`,
    );
  if (ns.toLowerCase() === 'microsoft.resources' && types.length === 1) {
    if (types[0]!.toLowerCase() === 'resourcegroups')
      return `/subscriptions/${subscriptionId}/resourceGroups/${names[0]}`;
    if (types[0]!.toLowerCase() === 'subscriptions') return `/subscriptions/${names[0]}`;
  }
  const path = types.reduce((p, t, i) => `${p}/${t}/${names[i]}`, ns);
  return resourceGroup
    ? `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${path}`
    : `/subscriptions/${subscriptionId}/providers/${path}`;
}

function extensionId(scope: string, type: string, names: string[]): string {
  const [ns, ...types] = type.split('/');
  if (!ns || types.length !== names.length)
    throw new FnError(`the type '${type}' and the names '${names.join('/')}' do not match.`);
  return `${scope.replace(/\/$/, '')}/providers/${types.reduce((p, t, i) => `${p}/${t}/${names[i]}`, ns)}`;
}

/** Parts of a resource id: its scope (subscription, group) and its type and name. */
export interface ParsedId {
  subscriptionId?: string;
  resourceGroup?: string;
  /** The id of the resource an extension resource sits on, when it is one. */
  parent?: string;
  type: string;
  name: string;
}

export function parseResourceId(id: string): ParsedId | undefined {
  const segs = id.split('/').filter((s) => s !== '');
  let sub: string | undefined;
  let rg: string | undefined;
  let i = 0;
  if (segs[0]?.toLowerCase() === 'subscriptions') {
    sub = segs[1];
    i = 2;
    if (segs[2]?.toLowerCase() === 'resourcegroups') {
      rg = segs[3];
      i = 4;
      if (segs.length === 4)
        return { subscriptionId: sub, type: 'Microsoft.Resources/resourceGroups', name: rg! };
    } else if (segs.length === 2)
      return { subscriptionId: sub, type: 'Microsoft.Resources/subscriptions', name: sub! };
  }
  let last = -1;
  for (let j = i; j < segs.length; j++) if (segs[j]!.toLowerCase() === 'providers') last = j;
  if (last < 0) return undefined;
  const rest = segs.slice(last + 1);
  if (rest.length < 3 || rest.length % 2 === 0) return undefined;
  const types = [rest[0]!];
  const names: string[] = [];
  for (let j = 1; j < rest.length; j += 2) {
    types.push(rest[j]!);
    names.push(rest[j + 1]!);
  }
  const parentSegs = segs.slice(0, last);
  const parent = last > i ? `/${parentSegs.join('/')}` : undefined;
  return {
    ...(sub !== undefined ? { subscriptionId: sub } : {}),
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
    ...(parent ? { parent } : {}),
    type: types.join('/'),
    name: names.join('/'),
  };
}

function str(v: unknown, _fn?: string, what = 'argument'): string {
  if (typeof v !== 'string') throw new FnError(`the ${what} must be a string, not ${typeName(v)}.`);
  return v;
}

function int(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new FnError(`expected an integer, not ${typeName(v)}.`);
  return Math.trunc(v);
}

function deepUnion(a: unknown, b: unknown): unknown {
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepUnion(out[k], v) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const out = [...a];
    for (const x of b) if (!out.some((y) => deepEqual(x, y))) out.push(x);
    return out;
  }
  return b;
}

function formatString(fmt: string, args: unknown[]): string {
  return fmt.replace(/\{\{|\}\}|\{(\d+)(?::([^}]*))?\}/g, (m, idx: string | undefined, spec?: string) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const i = Number(idx);
    if (i >= args.length)
      throw new FnError(`the format string refers to argument ${i} but only ${args.length} were given.`);
    const v = args[i];
    if (spec && typeof v === 'number') {
      const d = /^[dD](\d+)$/.exec(spec);
      if (d) return String(Math.trunc(v)).padStart(Number(d[1]), '0');
      const n = /^[nN](\d*)$/.exec(spec);
      if (n)
        return v.toLocaleString('en-US', {
          minimumFractionDigits: Number(n[1] || 2),
          maximumFractionDigits: Number(n[1] || 2),
        });
    }
    return armString(v);
  });
}

function utcNow(ms: number, format?: string): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const parts: Record<string, string> = {
    yyyy: String(d.getUTCFullYear()),
    MM: p(d.getUTCMonth() + 1),
    dd: p(d.getUTCDate()),
    HH: p(d.getUTCHours()),
    mm: p(d.getUTCMinutes()),
    ss: p(d.getUTCSeconds()),
  };
  if (!format)
    return `${parts['yyyy']}${parts['MM']}${parts['dd']}T${parts['HH']}${parts['mm']}${parts['ss']}Z`;
  if (format === 'u')
    return `${parts['yyyy']}-${parts['MM']}-${parts['dd']} ${parts['HH']}:${parts['mm']}:${parts['ss']}Z`;
  if (format === 'o') return d.toISOString();
  return format.replace(/yyyy|MM|dd|HH|mm|ss/g, (m) => parts[m]!);
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

interface Instance {
  raw: Obj;
  symbolic?: string;
  loop?: { name: string; index: number };
  type: string;
  name: string;
  id: string;
  key: string;
  subscriptionId: string;
  resourceGroup?: string;
  enabled: boolean;
  isDeployment: boolean;
  parentKey?: string;
  state: 'new' | 'busy' | 'done';
  planned?: PlannedResource | PlannedDeployment;
  implicit: Set<string>;
}

interface Ctx {
  copy: ReadonlyMap<string, number>;
  loop?: string;
  current?: Instance;
}

const EMPTY_CTX: Ctx = { copy: new Map() };

type Fn = (run: Run, args: unknown[], ctx: Ctx) => unknown;
type LazyFn = (run: Run, args: Expr[], ctx: Ctx) => unknown;

const LAZY: Record<string, LazyFn> = {
  if: (run, a, ctx) => {
    if (a.length !== 3) throw new FnError('if takes a condition and two values.');
    const c = run.evalExpr(a[0]!, ctx);
    if (typeof c !== 'boolean') throw new FnError('the condition must be a boolean.');
    return run.evalExpr(c ? a[1]! : a[2]!, ctx);
  },
  and: (run, a, ctx) => {
    if (a.length < 2) throw new FnError('and takes at least two booleans.');
    for (const e of a) {
      const v = run.evalExpr(e, ctx);
      if (typeof v !== 'boolean') throw new FnError('the arguments must be booleans.');
      if (!v) return false;
    }
    return true;
  },
  or: (run, a, ctx) => {
    if (a.length < 2) throw new FnError('or takes at least two booleans.');
    for (const e of a) {
      const v = run.evalExpr(e, ctx);
      if (typeof v !== 'boolean') throw new FnError('the arguments must be booleans.');
      if (v) return true;
    }
    return false;
  },
};

const compare = (a: unknown, b: unknown): number => {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new FnError('both values must be integers or both strings.');
};

const FUNCTIONS: Record<string, Fn> = {
  parameters: (run, [name]) => run.parameter(str(name, 'parameters')),
  variables: (run, [name]) => run.variable(str(name, 'variables')),
  format: (_r, [fmt, ...args]) => formatString(str(fmt, 'format'), args),
  concat: (_r, args) => {
    if (args.length > 0 && Array.isArray(args[0])) {
      const out: unknown[] = [];
      for (const a of args) {
        if (a === null) continue;
        if (!Array.isArray(a)) throw new FnError('concat takes all arrays or all strings.');
        out.push(...a);
      }
      return out;
    }
    return args.map((a) => armString(a)).join('');
  },
  resourceid: (run, args) => run.resourceIdFn(args),
  subscriptionresourceid: (run, args) => {
    const s = args.map((a) => str(a, 'subscriptionResourceId'));
    const t = s.findIndex((x) => x.includes('/'));
    if (t < 0 || t > 1) throw new FnError('a resource type is required.');
    const sub = t === 1 ? s[0]! : run.fnTarget.subscriptionId;
    return buildResourceId(
      sub,
      undefined,
      s[t]!,
      s.slice(t + 1).flatMap((n) => n.split('/')),
    );
  },
  tenantresourceid: (_r, args) => {
    const [type, ...names] = args.map((a) => str(a, 'tenantResourceId'));
    const [ns, ...types] = type!.split('/');
    const ns2 = names.flatMap((n) => n.split('/'));
    if (types.length !== ns2.length) throw new FnError('the type and names do not match.');
    return `/providers/${types.reduce((p, t, i) => `${p}/${t}/${ns2[i]}`, ns!)}`;
  },
  extensionresourceid: (_r, args) => {
    const [scope, type, ...names] = args.map((a) => str(a, 'extensionResourceId'));
    if (!scope || !type) throw new FnError('a scope and a resource type are required.');
    return extensionId(
      scope,
      type,
      names.flatMap((n) => n.split('/')),
    );
  },
  resourcegroup: (run) => {
    const rg = run.fnTarget.resourceGroup;
    if (!rg)
      throw new TemplateError(
        'InvalidTemplate',
        "Deployment template validation failed: 'The template function 'RESOURCEGROUP' is not expected at this location. It can only be used in a resource group deployment.'.",
      );
    return {
      id: `/subscriptions/${run.fnTarget.subscriptionId}/resourceGroups/${rg.name}`,
      name: rg.name,
      type: 'Microsoft.Resources/resourceGroups',
      location: rg.location,
      tags: rg.tags ?? {},
      properties: { provisioningState: 'Succeeded' },
    };
  },
  subscription: (run) => ({
    id: `/subscriptions/${run.fnTarget.subscriptionId}`,
    subscriptionId: run.fnTarget.subscriptionId,
    tenantId: run.fnTarget.tenantId,
    displayName: `Local subscription ${run.fnTarget.subscriptionId.slice(0, 8)}`,
  }),
  tenant: (run) => ({
    id: `/tenants/${run.fnTarget.tenantId}`,
    tenantId: run.fnTarget.tenantId,
    countryCode: 'GB',
    displayName: 'Local tenant',
  }),
  deployment: (run) => ({
    name: run.fnTarget.deploymentName,
    ...(run.fnTarget.location ? { location: run.fnTarget.location } : {}),
    properties: {
      template: { contentVersion: run.contentVersion },
      templateHash: run.hash,
      mode: run.mode,
      provisioningState: 'Accepted',
    },
  }),
  environment: () => ({
    name: 'AzureCloud',
    gallery: 'https://gallery.azure.com/',
    graph: 'https://graph.windows.net/',
    portal: 'https://portal.azure.com',
    resourceManager: 'https://management.azure.com/',
    authentication: {
      loginEndpoint: 'https://login.microsoftonline.com/',
      audiences: ['https://management.core.windows.net/', 'https://management.azure.com/'],
    },
    suffixes: {
      keyvaultDns: '.vault.azure.net',
      storage: 'core.windows.net',
      sqlServerHostname: '.database.windows.net',
      acrLoginServer: '.azurecr.io',
    },
  }),
  uniquestring: (_r, args) => {
    if (args.length === 0) throw new FnError('at least one string is required.');
    return uniqueString(...args.map((a) => str(a, 'uniqueString')));
  },
  guid: (_r, args) => {
    if (args.length === 0) throw new FnError('at least one string is required.');
    return guid(...args.map((a) => str(a, 'guid')));
  },
  newguid: () => randomUUID(),
  utcnow: (run, [format]) => utcNow(run.host.now(), format === undefined ? undefined : str(format, 'utcNow')),
  tolower: (_r, [s]) => str(s, 'toLower').toLowerCase(),
  toupper: (_r, [s]) => str(s, 'toUpper').toUpperCase(),
  trim: (_r, [s]) => str(s, 'trim').trim(),
  take: (_r, [v, n]) => {
    const k = Math.max(0, int(n));
    if (typeof v === 'string' || Array.isArray(v)) return v.slice(0, k);
    throw new FnError('take needs a string or an array.');
  },
  skip: (_r, [v, n]) => {
    const k = Math.max(0, int(n));
    if (typeof v === 'string' || Array.isArray(v)) return v.slice(k);
    throw new FnError('skip needs a string or an array.');
  },
  substring: (_r, [s, start, length]) => {
    const text = str(s, 'substring');
    const a = int(start);
    const n = length === undefined ? text.length - a : int(length);
    if (a < 0 || a > text.length || n < 0 || a + n > text.length)
      throw new FnError(
        `the index and length must refer to a location within the string: start '${a}', length '${n}', string length '${text.length}'.`,
      );
    return text.slice(a, a + n);
  },
  length: (_r, [v]) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isObj(v)) return Object.keys(v).length;
    throw new FnError('length needs a string, an array or an object.');
  },
  equals: (_r, [a, b]) => deepEqual(a, b),
  not: (_r, [a]) => {
    if (typeof a !== 'boolean') throw new FnError('not needs a boolean.');
    return !a;
  },
  empty: (_r, [v]) =>
    v === null ||
    v === undefined ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (isObj(v) && Object.keys(v).length === 0),
  contains: (_r, [c, x]) => {
    if (typeof c === 'string') return c.includes(armString(x));
    if (Array.isArray(c)) return c.some((y) => deepEqual(x, y));
    if (isObj(c)) return hasProp(c, str(x, 'contains'));
    throw new FnError('contains needs a string, an array or an object.');
  },
  union: (_r, args) => {
    if (args.length === 0) throw new FnError('union needs arrays or objects.');
    if (args.every(Array.isArray)) return args.reduce<unknown>((a, b) => deepUnion(a, b), []);
    if (args.every(isObj)) return args.reduce<unknown>((a, b) => deepUnion(a, b), {});
    throw new FnError('union takes all arrays or all objects.');
  },
  intersection: (_r, args) => {
    if (args.every(Array.isArray))
      return (args[0] as unknown[]).filter((x) =>
        args.every((a) => (a as unknown[]).some((y) => deepEqual(x, y))),
      );
    if (args.every(isObj)) {
      const first = args[0] as Obj;
      const out: Obj = {};
      for (const [k, v] of Object.entries(first))
        if (args.every((a) => hasProp(a as Obj, k) && deepEqual(getProp(a as Obj, k), v))) out[k] = v;
      return out;
    }
    throw new FnError('intersection takes all arrays or all objects.');
  },
  createarray: (_r, args) => [...args],
  array: (_r, [v]) => (Array.isArray(v) ? v : [v]),
  createobject: (_r, args) => {
    if (args.length % 2 !== 0) throw new FnError('createObject takes pairs of keys and values.');
    const out: Obj = {};
    for (let i = 0; i < args.length; i += 2) out[str(args[i], 'createObject', 'key')] = args[i + 1];
    return out;
  },
  objectkeys: (_r, [o]) => {
    if (!isObj(o)) throw new FnError('objectKeys needs an object.');
    return Object.keys(o);
  },
  items: (_r, [o]) => {
    if (!isObj(o)) throw new FnError('items needs an object.');
    return Object.keys(o)
      .sort((a, b) => a.localeCompare(b))
      .map((key) => ({ key, value: o[key] }));
  },
  base64: (_r, [s]) => Buffer.from(str(s, 'base64'), 'utf8').toString('base64'),
  base64tostring: (_r, [s]) => Buffer.from(str(s, 'base64ToString'), 'base64').toString('utf8'),
  string: (_r, [v]) => armString(v),
  int: (_r, [v]) => {
    if (typeof v === 'number') return Math.trunc(v);
    const s = str(v, 'int');
    if (!/^[+-]?\d+$/.test(s.trim())) throw new FnError(`'${s}' is not an integer.`);
    return Number(s.trim());
  },
  bool: (_r, [v]) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    const s = str(v, 'bool').toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw new FnError(`'${s}' is not a boolean.`);
  },
  json: (_r, [s]) => {
    try {
      return JSON.parse(str(s, 'json')) as unknown;
    } catch {
      throw new FnError('the argument is not valid JSON.');
    }
  },
  true: () => true,
  false: () => false,
  null: () => null,
  reference: (run, args, ctx) => run.reference(args, ctx),
  copyindex: (run, args, ctx) => run.copyIndex(args, ctx),
  split: (_r, [s, d]) => {
    const text = str(s, 'split');
    const delims = Array.isArray(d) ? d.map((x) => str(x, 'split')) : [str(d, 'split')];
    let parts = [text];
    for (const delim of delims) parts = parts.flatMap((p) => p.split(delim));
    return parts;
  },
  join: (_r, [a, d]) => {
    if (!Array.isArray(a)) throw new FnError('join needs an array.');
    return a.map(armString).join(str(d, 'join'));
  },
  replace: (_r, [s, a, b]) => str(s, 'replace').split(str(a, 'replace')).join(str(b, 'replace')),
  first: (_r, [v]) => {
    if (typeof v === 'string') return v.slice(0, 1);
    if (Array.isArray(v)) return v.length ? v[0] : null;
    throw new FnError('first needs a string or an array.');
  },
  last: (_r, [v]) => {
    if (typeof v === 'string') return v.slice(-1);
    if (Array.isArray(v)) return v.length ? v[v.length - 1] : null;
    throw new FnError('last needs a string or an array.');
  },
  indexof: (_r, [v, x]) => {
    if (typeof v === 'string') return v.toLowerCase().indexOf(str(x, 'indexOf').toLowerCase());
    if (Array.isArray(v)) return v.findIndex((y) => deepEqual(x, y));
    throw new FnError('indexOf needs a string or an array.');
  },
  lastindexof: (_r, [v, x]) => {
    if (typeof v === 'string') return v.toLowerCase().lastIndexOf(str(x, 'lastIndexOf').toLowerCase());
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) if (deepEqual(v[i], x)) return i;
      return -1;
    }
    throw new FnError('lastIndexOf needs a string or an array.');
  },
  startswith: (_r, [s, p]) =>
    str(s, 'startsWith').toLowerCase().startsWith(str(p, 'startsWith').toLowerCase()),
  endswith: (_r, [s, p]) => str(s, 'endsWith').toLowerCase().endsWith(str(p, 'endsWith').toLowerCase()),
  padleft: (_r, [v, n, c]) => armString(v).padStart(int(n), c === undefined ? ' ' : str(c, 'padLeft')),
  greater: (_r, [a, b]) => compare(a, b) > 0,
  greaterorequals: (_r, [a, b]) => compare(a, b) >= 0,
  less: (_r, [a, b]) => compare(a, b) < 0,
  lessorequals: (_r, [a, b]) => compare(a, b) <= 0,
  coalesce: (_r, args) => args.find((a) => a !== null && a !== undefined) ?? null,
  add: (_r, [a, b]) => int(a) + int(b),
  sub: (_r, [a, b]) => int(a) - int(b),
  mul: (_r, [a, b]) => int(a) * int(b),
  div: (_r, [a, b]) => {
    if (int(b) === 0) throw new FnError('division by zero.');
    return Math.trunc(int(a) / int(b));
  },
  mod: (_r, [a, b]) => {
    if (int(b) === 0) throw new FnError('division by zero.');
    return int(a) % int(b);
  },
  min: (_r, args) => Math.min(...(Array.isArray(args[0]) ? (args[0] as unknown[]) : args).map(int)),
  max: (_r, args) => Math.max(...(Array.isArray(args[0]) ? (args[0] as unknown[]) : args).map(int)),
  range: (_r, [start, count]) => Array.from({ length: Math.max(0, int(count)) }, (_x, i) => int(start) + i),
};

/** The function names the engine knows, lower-cased (ARM function names are case-insensitive). */
export const TEMPLATE_FUNCTIONS: readonly string[] = [...Object.keys(LAZY), ...Object.keys(FUNCTIONS)].sort();

const PARAM_TYPES: Record<string, { expected: string; check: (v: unknown) => boolean; out: string }> = {
  string: { expected: 'String, Uri', check: (v) => typeof v === 'string', out: 'String' },
  securestring: { expected: 'String, Uri', check: (v) => typeof v === 'string', out: 'SecureString' },
  int: { expected: 'Integer', check: (v) => typeof v === 'number' && Number.isInteger(v), out: 'Int' },
  bool: { expected: 'Boolean', check: (v) => typeof v === 'boolean', out: 'Bool' },
  object: { expected: 'Object', check: isObj, out: 'Object' },
  secureobject: { expected: 'Object', check: isObj, out: 'SecureObject' },
  array: { expected: 'Array', check: Array.isArray, out: 'Array' },
};

const DOCS = 'Please see https://aka.ms/arm-create-parameter-file for usage details.';

class Run {
  readonly params = new Map<string, unknown>();
  private readonly varDefs = new Map<string, unknown>();
  private readonly varValues = new Map<string, unknown>();
  private readonly varBusy = new Set<string>();
  readonly instances: Instance[] = [];
  readonly hash: string;
  readonly contentVersion: string;
  readonly mode: string;
  private readonly templateText: string;
  /** For nested deployments evaluated in the outer scope: whose parameters and variables to use. */
  private readonly source: Run;
  /** The run whose template declares this nested deployment, and the declaring instance. */
  private parent?: { run: Run; owner: Instance };

  constructor(
    readonly template: Obj,
    readonly target: DeploymentTarget,
    readonly host: TemplateHost,
    mode: string | undefined,
    outer?: Run,
  ) {
    this.source = outer ?? this;
    this.hash = templateHash(template);
    this.contentVersion =
      typeof template['contentVersion'] === 'string' ? template['contentVersion'] : '1.0.0.0';
    this.mode = mode ?? 'Incremental';
    this.templateText = JSON.stringify(template);
  }

  /** Where template functions look (the parent's for a nested deployment in the outer scope, as in ARM). */
  get fnTarget(): DeploymentTarget {
    return this.source.target;
  }

  setParent(run: Run, owner: Instance): void {
    this.parent = { run, owner };
  }

  /** A resource declared here or by an enclosing template, evaluated; records the dependency it implies. */
  private findDeclared(key: string, ctx: Ctx): Instance | undefined {
    const here = this.instances.find((i) => i.key === key);
    if (here) {
      if (ctx.current && ctx.current !== here) ctx.current.implicit.add(here.key);
      return here;
    }
    for (let link = this.parent; link; link = link.run.parent) {
      const found = link.run.instances.find((i) => i.key === key);
      if (found) {
        if (link.owner !== found) link.owner.implicit.add(found.key);
        return found;
      }
    }
    return undefined;
  }

  private position(name: string): string {
    const at = this.templateText.indexOf(`"${name}":`);
    return `at line '1' and column '${at < 0 ? 1 : at + 2}'`;
  }

  // ---- parameters ---------------------------------------------------------------------------------

  bindParameters(given: unknown): Record<string, TypedValue> {
    const defs = this.template['parameters'] ?? {};
    if (!isObj(defs)) throw invalidTemplate("The template 'parameters' section must be an object.");
    const provided = given === undefined || given === null ? {} : given;
    if (!isObj(provided))
      throw new TemplateError(
        'InvalidRequestContent',
        'The request content was invalid: parameters must be an object.',
      );
    const names = Object.keys(defs);
    const lower = new Set(names.map((n) => n.toLowerCase()));
    const unknown = Object.keys(provided).filter((n) => !lower.has(n.toLowerCase()));
    if (unknown.length)
      throw invalidTemplate(
        `The template parameters '${unknown.join(', ')}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '${names.join(', ')}'. Please see https://aka.ms/arm-pass-parameter-values for usage details.`,
      );
    const shown: Record<string, TypedValue> = {};
    for (const name of names) {
      const def = defs[name];
      if (!isObj(def) || typeof def['type'] !== 'string')
        throw invalidTemplate(`The template parameter '${name}' ${this.position(name)} has no valid 'type'.`);
      const kind = PARAM_TYPES[def['type'].toLowerCase()];
      if (!kind)
        throw invalidTemplate(
          `The parameter '${name}' ${this.position(name)} has an invalid type '${def['type']}'. The supported types are 'String, SecureString, Int, Bool, Object, SecureObject, Array'.`,
        );
      const entry = Object.entries(provided).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
      let value: unknown;
      if (entry !== undefined) {
        if (!isObj(entry))
          throw new TemplateError(
            'InvalidRequestContent',
            `The request content was invalid: the parameter '${name}' must be an object with a 'value'.`,
          );
        if (hasProp(entry, 'reference'))
          throw invalidTemplate(
            `The parameter '${name}' is a Key Vault reference, which the local cloud does not resolve. Pass the value instead.`,
          );
        value = getProp(entry, 'value');
      }
      if (value === undefined) {
        if (!hasProp(def, 'defaultValue'))
          throw invalidTemplate(
            `The value for the template parameter '${name}' ${this.position(name)} is not provided. ${DOCS}`,
          );
        value = this.evalValue(getProp(def, 'defaultValue'), EMPTY_CTX);
      }
      if (!kind.check(value))
        throw invalidTemplate(
          `Template parameter JToken type is not valid. Expected '${kind.expected}'. Actual '${typeName(value)}'. Please see https://aka.ms/resource-manager-parameter-files for usage details.`,
        );
      this.checkConstraints(name, def, value);
      this.params.set(name.toLowerCase(), value);
      shown[name] = kind.out.startsWith('Secure') ? { type: kind.out } : { type: kind.out, value };
    }
    return shown;
  }

  private checkConstraints(name: string, def: Obj, value: unknown): void {
    const where = `for the template parameter '${name}' ${this.position(name)}`;
    const shown = typeof value === 'string' ? `'${value}' ` : typeof value === 'number' ? `'${value}' ` : '';
    const allowed = getProp(def, 'allowedValues');
    if (Array.isArray(allowed)) {
      const ok =
        Array.isArray(value) && !allowed.some(Array.isArray)
          ? value.every((v) => allowed.some((a) => deepEqual(a, v)))
          : allowed.some((a) => deepEqual(a, value));
      if (!ok)
        throw invalidTemplate(
          `The provided value ${shown}${where} is not valid. The parameter value is not part of the allowed value(s): '${allowed.map(armString).join(',')}'.`,
        );
    }
    const min = getProp(def, 'minValue');
    const max = getProp(def, 'maxValue');
    if (typeof value === 'number') {
      if (typeof min === 'number' && value < min)
        throw invalidTemplate(
          `The provided value ${shown}${where} is not valid. The provided value must be greater than or equal to '${min}'.`,
        );
      if (typeof max === 'number' && value > max)
        throw invalidTemplate(
          `The provided value ${shown}${where} is not valid. The provided value must be less than or equal to '${max}'.`,
        );
    }
    const minLength = getProp(def, 'minLength');
    const maxLength = getProp(def, 'maxLength');
    if (typeof value === 'string' || Array.isArray(value)) {
      const secure = /^secure/i.test(String(def['type']));
      const what = secure ? '' : shown;
      if (typeof minLength === 'number' && value.length < minLength)
        throw invalidTemplate(
          `The provided value ${what}${where} is not valid. The length of the value must be greater than or equal to '${minLength}'. Actual length is '${value.length}'.`,
        );
      if (typeof maxLength === 'number' && value.length > maxLength)
        throw invalidTemplate(
          `The provided value ${what}${where} is not valid. The length of the value must be less than or equal to '${maxLength}'. Actual length is '${value.length}'.`,
        );
    }
  }

  parameter(name: string): unknown {
    const key = name.toLowerCase();
    if (!this.source.params.has(key))
      throw invalidTemplate(
        `The template parameter '${name}' is not found. Please see https://aka.ms/arm-syntax-parameters for usage details.`,
      );
    return this.source.params.get(key);
  }

  // ---- variables ----------------------------------------------------------------------------------

  bindVariables(): void {
    const defs = this.template['variables'] ?? {};
    if (!isObj(defs)) throw invalidTemplate("The template 'variables' section must be an object.");
    for (const [name, raw] of Object.entries(defs)) {
      if (name.toLowerCase() === 'copy' && Array.isArray(raw)) {
        for (const spec of raw) {
          if (!isObj(spec) || typeof spec['name'] !== 'string')
            throw invalidTemplate("A variable 'copy' element needs a 'name', a 'count' and an 'input'.");
          this.varDefs.set(spec['name'].toLowerCase(), { __copy: spec });
        }
      } else this.varDefs.set(name.toLowerCase(), raw);
    }
  }

  variable(name: string): unknown {
    if (this.source !== this) return this.source.variable(name);
    const key = name.toLowerCase();
    if (this.varValues.has(key)) return this.varValues.get(key);
    if (!this.varDefs.has(key))
      throw invalidTemplate(
        `The template variable '${name}' is not found. Please see https://aka.ms/arm-syntax-variables for usage details.`,
      );
    if (this.varBusy.has(key)) throw invalidTemplate(`The template variable '${name}' refers to itself.`);
    this.varBusy.add(key);
    const raw = this.varDefs.get(key);
    const value =
      isObj(raw) && isObj(raw['__copy'])
        ? this.copyArray(raw['__copy'], EMPTY_CTX)
        : this.evalValue(raw, EMPTY_CTX);
    this.varBusy.delete(key);
    this.varValues.set(key, value);
    return value;
  }

  // ---- values and expressions ---------------------------------------------------------------------

  evalValue(value: unknown, ctx: Ctx): unknown {
    if (typeof value === 'string') {
      const text = expressionText(value);
      return text === undefined ? literalText(value) : this.evalExpr(parseCached(text), ctx);
    }
    if (Array.isArray(value)) return value.map((v) => this.evalValue(v, ctx));
    if (isObj(value)) {
      const out: Obj = {};
      for (const [k, v] of Object.entries(value)) {
        if (k === 'copy' && Array.isArray(v) && v.every((s) => isObj(s) && 'input' in s)) {
          for (const spec of v as Obj[]) out[String(spec['name'])] = this.copyArray(spec, ctx);
          continue;
        }
        const key = expressionText(k) !== undefined ? armString(this.evalValue(k, ctx)) : literalText(k);
        out[key] = this.evalValue(v, ctx);
      }
      return out;
    }
    return value;
  }

  private copyArray(spec: Obj, ctx: Ctx): unknown[] {
    const name = spec['name'];
    if (typeof name !== 'string') throw invalidTemplate("A 'copy' element needs a 'name'.");
    const count = this.evalValue(spec['count'], ctx);
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
      throw invalidTemplate(
        `The copy count of '${name}' must be a non-negative integer, not '${armString(count)}'.`,
      );
    const out: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const copy = new Map(ctx.copy);
      copy.set(name.toLowerCase(), i);
      out.push(this.evalValue(spec['input'], { ...ctx, copy }));
    }
    return out;
  }

  evalExpr(e: Expr, ctx: Ctx): unknown {
    switch (e.k) {
      case 'lit':
        return e.v;
      case 'prop': {
        const target = this.evalExpr(e.target, ctx);
        if (!isObj(target))
          throw invalidTemplate(
            `The language expression property '${e.name}' can't be evaluated, property name must be a string.`,
          );
        if (!hasProp(target, e.name))
          throw invalidTemplate(
            `The language expression property '${e.name}' doesn't exist, available properties are '${Object.keys(target).join(', ')}'.`,
          );
        return getProp(target, e.name);
      }
      case 'index': {
        const target = this.evalExpr(e.target, ctx);
        const index = this.evalExpr(e.index, ctx);
        if (Array.isArray(target)) {
          if (typeof index !== 'number' || index < 0 || index >= target.length)
            throw invalidTemplate(
              `The language expression property array index '${armString(index)}' is out of bounds.`,
            );
          return target[index];
        }
        if (isObj(target) && typeof index === 'string') {
          if (!hasProp(target, index))
            throw invalidTemplate(
              `The language expression property '${index}' doesn't exist, available properties are '${Object.keys(target).join(', ')}'.`,
            );
          return getProp(target, index);
        }
        throw invalidTemplate(`The language expression can't index a value of type '${typeName(target)}'.`);
      }
      case 'call': {
        const name = e.name.toLowerCase();
        const lazy = LAZY[name];
        const fn = FUNCTIONS[name];
        if (!lazy && !fn)
          throw invalidTemplate(
            `The template function '${e.name}' is not valid. Please see https://aka.ms/arm-functions for usage details.`,
          );
        try {
          return lazy
            ? lazy(this, e.args, ctx)
            : fn!(
                this,
                e.args.map((a) => this.evalExpr(a, ctx)),
                ctx,
              );
        } catch (err) {
          if (err instanceof FnError)
            throw invalidTemplate(
              `Unable to evaluate template language function '${e.name}': ${err.message}`,
            );
          throw err;
        }
      }
    }
  }

  copyIndex(args: unknown[], ctx: Ctx): number {
    let name: string | undefined;
    let offset = 0;
    if (typeof args[0] === 'string') {
      name = args[0];
      if (args[1] !== undefined) offset = int(args[1]);
    } else if (args[0] !== undefined) offset = int(args[0]);
    const key = (name ?? ctx.loop)?.toLowerCase();
    if (key === undefined || !ctx.copy.has(key))
      throw invalidTemplate(
        `The template function 'copyIndex' is not expected at this location${name ? `: there is no copy loop named '${name}' here` : ''}.`,
      );
    return ctx.copy.get(key)! + offset;
  }

  resourceIdFn(args: unknown[]): string {
    const s = args.map((a) => str(a, 'resourceId'));
    const t = s.findIndex((x) => x.includes('/'));
    if (t < 0 || t > 2) throw new FnError('a resource type (namespace/type) is required.');
    const names = s.slice(t + 1).flatMap((n) => n.split('/'));
    const sub = t === 2 ? s[0]! : this.fnTarget.subscriptionId;
    const rg = t === 2 ? s[1] : t === 1 ? s[0] : this.fnTarget.resourceGroup?.name;
    return buildResourceId(sub, rg, s[t]!, names);
  }

  // ---- resources ----------------------------------------------------------------------------------

  expand(): void {
    const resources = this.template['resources'] ?? [];
    let list: Array<{ raw: Obj; symbolic?: string }>;
    if (Array.isArray(resources)) list = resources.map((r) => ({ raw: r as Obj }));
    else if (isObj(resources))
      list = Object.entries(resources).map(([symbolic, r]) => ({ raw: r as Obj, symbolic }));
    else throw invalidTemplate("The template 'resources' section must be an array.");
    for (const { raw, symbolic } of list) this.expandOne(raw, symbolic, undefined);
  }

  private expandOne(raw: Obj, symbolic: string | undefined, parent: Instance | undefined): void {
    if (!isObj(raw)) throw invalidTemplate('Each template resource must be an object.');
    if (raw['existing'] === true) return this.declareExisting(raw, symbolic);
    for (const req of ['type', 'name', 'apiVersion'])
      if (typeof raw[req] !== 'string')
        throw invalidTemplate(
          `The template resource '${armString(raw['name'] ?? symbolic ?? '?')}' is not valid: required property '${req}' not found.`,
        );
    const copy = raw['copy'];
    if (copy !== undefined) {
      if (!isObj(copy) || typeof copy['name'] !== 'string')
        throw invalidTemplate(
          `The copy of template resource '${String(raw['name'])}' needs a 'name' and a 'count'.`,
        );
      const count = this.evalValue(copy['count'], EMPTY_CTX);
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 800)
        throw invalidTemplate(
          `The copy count of '${copy['name']}' must be an integer from 0 to 800, not '${armString(count)}'.`,
        );
      for (let i = 0; i < count; i++) this.instance(raw, symbolic, parent, { name: copy['name'], index: i });
    } else this.instance(raw, symbolic, parent, undefined);
  }

  private readonly existingSymbols = new Map<string, string>();

  private declareExisting(raw: Obj, symbolic: string | undefined): void {
    if (!symbolic) return;
    const name = armString(this.evalValue(raw['name'], EMPTY_CTX));
    const id = this.instanceId(raw, String(raw['type']), name, EMPTY_CTX).id;
    this.existingSymbols.set(symbolic.toLowerCase(), id);
  }

  private instanceId(
    raw: Obj,
    type: string,
    name: string,
    ctx: Ctx,
  ): { id: string; subscriptionId: string; resourceGroup?: string } {
    const target = this.target;
    const isDeployment = type.toLowerCase() === 'microsoft.resources/deployments';
    let sub = target.subscriptionId;
    let rg = target.resourceGroup?.name;
    if (isDeployment) {
      const s = raw['subscriptionId'] === undefined ? undefined : this.evalValue(raw['subscriptionId'], ctx);
      const g = raw['resourceGroup'] === undefined ? undefined : this.evalValue(raw['resourceGroup'], ctx);
      if (typeof s === 'string' && s) {
        if (s.toLowerCase() !== sub.toLowerCase()) rg = undefined;
        sub = s;
      }
      if (typeof g === 'string' && g) rg = g;
    }
    const names = name.split('/');
    const scope = raw['scope'] === undefined ? undefined : this.evalValue(raw['scope'], ctx);
    if (typeof scope === 'string' && scope) {
      let scopeId = scope;
      if (!scope.startsWith('/')) {
        const segs = scope.split('/');
        const types = [segs[0]!];
        const ns: string[] = [];
        for (let i = 1; i < segs.length; i += 2) {
          types.push(segs[i]!);
          ns.push(segs[i + 1] ?? '');
        }
        scopeId = buildResourceIdSafe(sub, rg, types.join('/'), ns);
      }
      return {
        id: extensionId(scopeId, type, names),
        subscriptionId: sub,
        ...(rg ? { resourceGroup: rg } : {}),
      };
    }
    return {
      id: buildResourceIdSafe(sub, rg, type, names, name),
      subscriptionId: sub,
      ...(rg ? { resourceGroup: rg } : {}),
    };
  }

  private instance(
    raw: Obj,
    symbolic: string | undefined,
    parent: Instance | undefined,
    loop: { name: string; index: number } | undefined,
  ): void {
    const copy = new Map<string, number>();
    if (loop) copy.set(loop.name.toLowerCase(), loop.index);
    const ctx: Ctx = { copy, ...(loop ? { loop: loop.name } : {}) };
    let type = String(raw['type']);
    let name = armString(this.evalValue(raw['name'], ctx));
    if (parent) {
      if (!type.includes('/')) type = `${parent.type}/${type}`;
      if (name.split('/').length < type.split('/').length - 1) name = `${parent.name}/${name}`;
    }
    const segs = type.split('/').length - 1;
    if (name.split('/').length !== segs)
      throw invalidTemplate(
        `The template resource '${name}' for type '${type}' at line '1' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage details.`,
      );
    const cond = raw['condition'] === undefined ? true : this.evalValue(raw['condition'], ctx);
    if (typeof cond !== 'boolean')
      throw invalidTemplate(
        `The condition of template resource '${name}' must be a boolean, not '${armString(cond)}'.`,
      );
    const where = this.instanceId(raw, type, name, ctx);
    const inst: Instance = {
      raw,
      ...(symbolic ? { symbolic } : {}),
      ...(loop ? { loop } : {}),
      type,
      name,
      id: where.id,
      key: where.id.toLowerCase(),
      subscriptionId: where.subscriptionId,
      ...(where.resourceGroup ? { resourceGroup: where.resourceGroup } : {}),
      enabled: cond && (parent?.enabled ?? true),
      isDeployment: type.toLowerCase() === 'microsoft.resources/deployments',
      ...(parent ? { parentKey: parent.key } : {}),
      state: 'new',
      implicit: new Set(),
    };
    if (this.instances.some((i) => i.enabled && inst.enabled && i.key === inst.key))
      throw invalidTemplate(
        `The resource '${inst.id}' is defined multiple times in a template. Please see https://aka.ms/arm-syntax-resources for usage details.`,
      );
    this.instances.push(inst);
    const children = raw['resources'];
    if (Array.isArray(children)) for (const child of children) this.expandOne(child as Obj, undefined, inst);
  }

  private ctxFor(inst: Instance): Ctx {
    const copy = new Map<string, number>();
    if (inst.loop) copy.set(inst.loop.name.toLowerCase(), inst.loop.index);
    return { copy, ...(inst.loop ? { loop: inst.loop.name } : {}), current: inst };
  }

  evaluate(inst: Instance): PlannedResource | PlannedDeployment {
    if (inst.state === 'done') return inst.planned!;
    if (inst.state === 'busy')
      throw invalidTemplate(
        `Circular dependency detected on resource: '${inst.id}'. Please see https://aka.ms/arm-syntax-resources for usage details.`,
      );
    inst.state = 'busy';
    const ctx = this.ctxFor(inst);
    const raw = inst.raw;
    if (inst.isDeployment) inst.planned = this.evaluateDeployment(inst, ctx);
    else {
      const body: ResourceBody = {
        id: inst.id,
        name: inst.name,
        type: inst.type,
        apiVersion: String(raw['apiVersion']),
        properties: {},
      };
      const props = raw['properties'] === undefined ? {} : this.evalValue(raw['properties'], ctx);
      if (!isObj(props))
        throw invalidTemplate(`The properties of template resource '${inst.name}' must be an object.`);
      body.properties = props;
      for (const f of ['location', 'sku', 'kind', 'identity', 'tags', 'zones', 'plan'] as const) {
        if (raw[f] === undefined) continue;
        const v = this.evalValue(raw[f], ctx);
        if (v !== null && v !== undefined) (body as unknown as Obj)[f] = v;
      }
      inst.planned = {
        node: 'resource',
        key: inst.key,
        subscriptionId: inst.subscriptionId,
        ...(inst.resourceGroup ? { resourceGroup: inst.resourceGroup } : {}),
        body,
        dependsOn: [],
      };
    }
    inst.state = 'done';
    return inst.planned;
  }

  private evaluateDeployment(inst: Instance, ctx: Ctx): PlannedDeployment {
    const props = inst.raw['properties'];
    if (!isObj(props)) throw invalidTemplate(`The nested deployment '${inst.name}' needs 'properties'.`);
    if (props['templateLink'] !== undefined)
      throw invalidTemplate(
        `The nested deployment '${inst.name}' uses 'templateLink', which the local cloud does not fetch. Inline the template.`,
      );
    const template = props['template'];
    if (!isObj(template))
      throw invalidTemplate(`The nested deployment '${inst.name}' needs an inline 'template'.`);
    const mode = armString(this.evalValue(props['mode'] ?? 'Incremental', ctx));
    if (mode.toLowerCase() !== 'incremental')
      throw new TemplateError(
        'InvalidDeploymentMode',
        `The deployment mode '${mode}' is not supported by the local cloud: only 'Incremental' is.`,
      );
    const options = props['expressionEvaluationOptions'];
    const inner =
      isObj(options) && armString(this.evalValue(options['scope'], ctx)).toLowerCase() === 'inner';
    let rgInfo: ResourceGroupInfo | undefined;
    if (inst.resourceGroup) {
      if (
        inst.resourceGroup === this.target.resourceGroup?.name &&
        inst.subscriptionId === this.target.subscriptionId
      )
        rgInfo = this.target.resourceGroup;
      else {
        const declared = this.instances.find(
          (i) =>
            i.enabled &&
            i.type.toLowerCase() === 'microsoft.resources/resourcegroups' &&
            i.name.toLowerCase() === inst.resourceGroup!.toLowerCase(),
        );
        if (declared) {
          inst.implicit.add(declared.key);
          const loc = this.evalValue(declared.raw['location'], this.ctxFor(declared));
          rgInfo = { name: declared.name, location: armString(loc) };
        } else rgInfo = this.host.resourceGroup(inst.subscriptionId, inst.resourceGroup);
      }
      if (!rgInfo)
        throw new TemplateError(
          'InvalidTemplateDeployment',
          `The template deployment '${this.target.deploymentName}' is not valid according to the validation procedure. See inner errors for details.`,
          'validation',
          [
            {
              code: 'ResourceGroupNotFound',
              message: `Resource group '${inst.resourceGroup}' could not be found.`,
              target: inst.id,
            },
          ],
        );
    }
    const target: DeploymentTarget = {
      subscriptionId: inst.subscriptionId,
      tenantId: this.host.tenantOf(inst.subscriptionId),
      ...(rgInfo ? { resourceGroup: rgInfo } : {}),
      deploymentName: inst.name,
      ...(!rgInfo && (this.target.location ?? this.target.resourceGroup?.location)
        ? { location: this.target.location ?? this.target.resourceGroup?.location }
        : {}),
    };
    const child = new Run(template, target, this.host, 'Incremental', inner ? undefined : this);
    child.setParent(this, inst);
    const parameters = inner ? this.evalValue(props['parameters'] ?? {}, ctx) : {};
    const planned = child.plan(parameters, inst.id);
    return { ...planned, dependsOn: [] };
  }

  reference(args: unknown[], ctx: Ctx): unknown {
    const target = str(args[0], 'reference');
    const full = args.some((a, i) => i > 0 && typeof a === 'string' && a.toLowerCase() === 'full');
    let inst: Instance | undefined;
    if (target.startsWith('/')) inst = this.findDeclared(target.toLowerCase(), ctx);
    else {
      const lower = target.toLowerCase();
      const existing = this.existingSymbols.get(lower);
      if (existing) return this.referenceExisting(existing, full);
      const named =
        this.instances.find((i) => i.symbolic?.toLowerCase() === lower) ??
        this.instances.find(
          (i) => i.name.toLowerCase() === lower || `${i.type}/${i.name}`.toLowerCase() === lower,
        );
      if (!named)
        throw invalidTemplate(
          `The resource '${target}' referenced by reference() is not defined in the template.`,
        );
      inst = this.findDeclared(named.key, ctx);
    }
    if (!inst) return this.referenceExisting(target, full);
    if (!inst.enabled)
      throw new TemplateError(
        'ResourceNotFound',
        `The resource '${inst.id}' is not deployed: its condition is false. Guard the reference with if().`,
        'runtime',
      );
    const owner = this.instances.includes(inst) ? this : this.ancestorOf(inst);
    const planned = owner.evaluate(inst);
    if (planned.node === 'deployment') {
      const properties = {
        provisioningState: 'Succeeded',
        mode: planned.mode,
        templateHash: planned.templateHash,
        parameters: planned.parameters,
        outputs: planned.outputs,
      };
      return full
        ? { id: planned.id, name: planned.name, type: 'Microsoft.Resources/deployments', properties }
        : properties;
    }
    const view = this.host.view(planned.body);
    return full ? view : view.properties;
  }

  private ancestorOf(inst: Instance): Run {
    for (let link = this.parent; link; link = link.run.parent)
      if (link.run.instances.includes(inst)) return link.run;
    return this;
  }

  private referenceExisting(id: string, full: boolean): unknown {
    const view = this.host.existing(id);
    if (!view) {
      const p = parseResourceId(id);
      throw new TemplateError(
        'ResourceNotFound',
        `The Resource '${p ? `${p.type}/${p.name}` : id}' under resource group '${p?.resourceGroup ?? '(none)'}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
        'runtime',
      );
    }
    return full ? view : view.properties;
  }

  private resolveDependsOn(inst: Instance): string[] {
    const out = new Set<string>(inst.implicit);
    if (inst.parentKey) out.add(inst.parentKey);
    const raw = inst.raw['dependsOn'];
    if (raw !== undefined) {
      const list = this.evalValue(raw, this.ctxFor(inst));
      if (!Array.isArray(list)) throw invalidTemplate(`The dependsOn of '${inst.name}' must be an array.`);
      for (const entry of list) {
        const v = armString(entry);
        const lower = v.toLowerCase();
        let matches: Instance[];
        if (v.startsWith('/')) matches = this.instances.filter((i) => i.key === lower);
        else {
          matches = this.instances.filter(
            (i) =>
              i.symbolic?.toLowerCase() === lower ||
              i.loop?.name.toLowerCase() === lower ||
              i.name.toLowerCase() === lower ||
              `${i.type}/${i.name}`.toLowerCase() === lower ||
              i.name.split('/').pop()!.toLowerCase() === lower,
          );
          if (matches.length === 0 && this.existingSymbols.has(lower)) continue;
        }
        if (matches.length === 0)
          throw invalidTemplate(
            `The resource '${v}' is not defined in the template. Please see https://aka.ms/arm-syntax for usage details.`,
          );
        for (const m of matches) out.add(m.key);
      }
    }
    out.delete(inst.key);
    const enabled = new Set(this.instances.filter((i) => i.enabled).map((i) => i.key));
    return [...out].filter((k) => enabled.has(k));
  }

  private checkCycles(nodes: Array<PlannedResource | PlannedDeployment>): void {
    const byKey = new Map(nodes.map((n) => [n.key, n]));
    const state = new Map<string, 1 | 2>();
    const visit = (n: PlannedResource | PlannedDeployment): void => {
      const s = state.get(n.key);
      if (s === 2) return;
      if (s === 1)
        throw invalidTemplate(
          `Circular dependency detected on resource: '${n.node === 'resource' ? n.body.id : n.id}'.`,
        );
      state.set(n.key, 1);
      for (const d of n.dependsOn) {
        const m = byKey.get(d);
        if (m) visit(m);
      }
      state.set(n.key, 2);
    };
    nodes.forEach(visit);
  }

  plan(parameters: unknown, id?: string): PlannedDeployment {
    const shownParameters = this.source === this ? this.bindParameters(parameters) : {};
    if (this.source === this) this.bindVariables();
    this.expand();
    const nodes: Array<PlannedResource | PlannedDeployment> = [];
    for (const inst of this.instances) if (inst.enabled) nodes.push(this.evaluate(inst));
    for (const inst of this.instances)
      if (inst.enabled) inst.planned!.dependsOn = this.resolveDependsOn(inst);
    this.checkCycles(nodes);
    const outputs = this.outputs();
    const t = this.target;
    const depId =
      id ??
      (t.resourceGroup
        ? `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup.name}/providers/Microsoft.Resources/deployments/${t.deploymentName}`
        : `/subscriptions/${t.subscriptionId}/providers/Microsoft.Resources/deployments/${t.deploymentName}`);
    return {
      node: 'deployment',
      key: depId.toLowerCase(),
      id: depId,
      name: t.deploymentName,
      subscriptionId: t.subscriptionId,
      ...(t.resourceGroup ? { resourceGroup: t.resourceGroup.name } : {}),
      ...(t.location ? { location: t.location } : {}),
      mode: this.mode,
      contentVersion: this.contentVersion,
      templateHash: this.hash,
      parameters: shownParameters,
      outputs,
      resources: nodes.filter((n): n is PlannedResource => n.node === 'resource'),
      deployments: nodes.filter((n): n is PlannedDeployment => n.node === 'deployment'),
      dependsOn: [],
    };
  }

  private outputs(): Record<string, TypedValue> {
    const defs = this.template['outputs'] ?? {};
    if (!isObj(defs)) throw invalidTemplate("The template 'outputs' section must be an object.");
    const out: Record<string, TypedValue> = {};
    for (const [name, def] of Object.entries(defs)) {
      if (!isObj(def) || typeof def['type'] !== 'string')
        throw invalidTemplate(`The template output '${name}' needs a 'type'.`);
      const kind = PARAM_TYPES[def['type'].toLowerCase()];
      if (!kind) throw invalidTemplate(`The template output '${name}' has an invalid type '${def['type']}'.`);
      if (def['condition'] !== undefined && this.evalValue(def['condition'], EMPTY_CTX) === false) continue;
      const copy = def['copy'];
      const value = isObj(copy)
        ? this.copyArray({ name: '__output', ...copy }, { copy: new Map(), loop: '__output' })
        : this.evalValue(def['value'], EMPTY_CTX);
      if (!kind.check(value))
        throw new TemplateError(
          'DeploymentOutputEvaluationFailed',
          `Unable to evaluate the template output '${name}': the value is of type '${typeName(value)}', not '${def['type']}'.`,
          'runtime',
        );
      out[name] = kind.out.startsWith('Secure') ? { type: kind.out } : { type: kind.out, value };
    }
    return out;
  }
}

function buildResourceIdSafe(
  sub: string,
  rg: string | undefined,
  type: string,
  names: string[],
  shown?: string,
): string {
  try {
    return buildResourceId(sub, rg, type, names);
  } catch (e) {
    if (e instanceof FnError)
      throw invalidTemplate(
        `The template resource '${shown ?? names.join('/')}' for type '${type}' is not valid: ${e.message}`,
      );
    throw e;
  }
}

const parsed = new Map<string, Expr>();

function parseCached(text: string): Expr {
  let e = parsed.get(text);
  if (!e) {
    e = parseExpression(text);
    if (parsed.size > 5000) parsed.clear();
    parsed.set(text, e);
  }
  return e;
}

/**
 * Plans a deployment: checks the parameters, evaluates every resource (nested deployments included)
 * and the outputs. Throws TemplateError the way ARM refuses a template or fails a deployment.
 */
export function planDeployment(input: PlanInput): PlannedDeployment {
  if (!isObj(input.template))
    throw new TemplateError(
      'InvalidRequestContent',
      "The request content was invalid: 'template' must be an object.",
    );
  const mode = input.mode ?? 'Incremental';
  if (mode.toLowerCase() !== 'incremental')
    throw new TemplateError(
      'InvalidDeploymentMode',
      `The deployment mode '${mode}' is not supported by the local cloud: only 'Incremental' is.`,
    );
  const run = new Run(input.template, input.target, input.host, 'Incremental');
  return run.plan(input.parameters);
}

/** Evaluates one template-language string or value with no template around it (for tests and tools). */
export function evaluateExpression(
  value: unknown,
  opts: {
    target: DeploymentTarget;
    host: TemplateHost;
    parameters?: Record<string, unknown>;
    variables?: Obj;
  },
): unknown {
  const template: Obj = {
    parameters: Object.fromEntries(
      Object.entries(opts.parameters ?? {}).map(([k, v]) => [
        k,
        {
          type: Array.isArray(v)
            ? 'array'
            : typeof v === 'number'
              ? 'int'
              : typeof v === 'boolean'
                ? 'bool'
                : isObj(v)
                  ? 'object'
                  : 'string',
        },
      ]),
    ),
    variables: opts.variables ?? {},
    resources: [],
  };
  const run = new Run(template, opts.target, opts.host, 'Incremental');
  run.bindParameters(
    Object.fromEntries(Object.entries(opts.parameters ?? {}).map(([k, v]) => [k, { value: v }])),
  );
  run.bindVariables();
  return run.evalValue(value, EMPTY_CTX);
}
