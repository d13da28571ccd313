import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BindingInfo, CapturedFunction, InvocationResponse, TypedData } from './functions-core';
import { compareSpecificity, compileRoute, matchSegments, pathSegments, type CompiledRoute } from './routes';
import { HostStartError } from './errors';

export interface HttpRoute {
  functionName: string;
  fn: CapturedFunction;
  triggerName: string;
  /** The route as served, prefix included, e.g. `api/members/{id}`. */
  template: string;
  compiled: CompiledRoute;
  /** Upper-case methods; empty means every method. */
  methods: string[];
  authLevel: string;
}

export function triggerBinding(fn: CapturedFunction): [string, BindingInfo] | undefined {
  return Object.entries(fn.metadata.bindings).find(
    ([, b]) => b.direction === 'in' && /Trigger$/i.test(String(b.type)),
  );
}

/** Builds the route table, most specific template first. A bad template stops start-up, naming the function. */
export function buildRouteTable(functions: Iterable<CapturedFunction>, routePrefix: string): HttpRoute[] {
  const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    const trigger = triggerBinding(fn);
    if (!trigger || String(trigger[1].type).toLowerCase() !== 'httptrigger') continue;
    const [triggerName, binding] = trigger;
    const route = String(binding['route'] ?? fn.metadata.name).replace(/^\/+/, '');
    const template = [prefix, route].filter(Boolean).join('/');
    let compiled: CompiledRoute;
    try {
      compiled = compileRoute(template);
    } catch (e) {
      throw new HostStartError(`Function "${fn.metadata.name}": ${(e as Error).message}`);
    }
    const methods = Array.isArray(binding['methods'])
      ? (binding['methods'] as string[]).map((m) => m.toUpperCase())
      : [];
    routes.push({
      functionName: fn.metadata.name,
      fn,
      triggerName,
      template,
      compiled,
      methods,
      authLevel: String(binding['authLevel'] ?? 'function'),
    });
  }
  return routes.sort((a, b) => compareSpecificity(a.compiled, b.compiled));
}

export type RouteMatch =
  | { kind: 'found'; route: HttpRoute; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

export function findRoute(routes: HttpRoute[], method: string, path: string): RouteMatch {
  const allow = new Set<string>();
  const segments = pathSegments(path);
  for (const route of routes) {
    const params = matchSegments(route.compiled, segments);
    if (!params) continue;
    if (route.methods.length === 0 || route.methods.includes(method)) return { kind: 'found', route, params };
    route.methods.forEach((m) => allow.add(m));
  }
  return allow.size ? { kind: 'method-not-allowed', allow: [...allow].sort() } : { kind: 'not-found' };
}

/** The RPC shape the Functions host sends for an HTTP trigger. */
export function toRpcHttp(
  req: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  body: Buffer,
): TypedData {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const bodyData: TypedData | undefined = body.length ? { bytes: body } : undefined;
  return {
    http: {
      method: req.method,
      url: url.toString(),
      headers,
      query,
      params,
      body: bodyData,
      rawBody: bodyData,
    },
  };
}

interface RpcHttpResponse {
  statusCode?: string | null;
  headers?: Record<string, string> | null;
  cookies?: RpcCookie[] | null;
  body?: TypedData | null;
}

interface RpcCookie {
  name?: string | null;
  value?: string | null;
  domain?: { value?: string | null } | null;
  path?: { value?: string | null } | null;
  expires?: {
    value?: { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null;
  } | null;
  secure?: { value?: boolean | null } | null;
  httpOnly?: { value?: boolean | null } | null;
  sameSite?: 'none' | 'lax' | 'strict' | 'explicitNone' | null;
  maxAge?: { value?: number | null } | null;
}

function setCookieHeader(c: RpcCookie): string {
  const parts = [`${c.name ?? ''}=${c.value ?? ''}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  const seconds = c.expires?.value?.seconds;
  if (seconds !== undefined && seconds !== null) {
    const s = typeof seconds === 'number' ? seconds : seconds.toNumber();
    parts.push(`Expires=${new Date(s * 1000 + (c.expires?.value?.nanos ?? 0) / 1e6).toUTCString()}`);
  }
  if (c.maxAge?.value !== undefined && c.maxAge?.value !== null) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  if (c.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (c.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (c.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

function typedBytes(data: TypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  if (typeof data.json === 'string') return Buffer.from(data.json);
  return Buffer.alloc(0);
}

/** Finds the HTTP output in an invocation response: `$return`, or a named http output binding. */
export function httpOutput(fn: CapturedFunction, response: InvocationResponse): RpcHttpResponse | undefined {
  const out = Object.entries(fn.metadata.bindings).find(
    ([, b]) => b.direction === 'out' && String(b.type).toLowerCase() === 'http',
  );
  if (!out) return undefined;
  const data =
    out[0] === '$return' ? response.returnValue : response.outputData?.find((o) => o.name === out[0])?.data;
  return (data?.http as RpcHttpResponse | undefined) ?? undefined;
}

export function writeHttpResponse(
  res: ServerResponse,
  output: RpcHttpResponse | undefined,
  isHead: boolean,
): void {
  if (!output) {
    // The handler returned nothing: the host answers 204 with no body.
    res.statusCode = 204;
    res.end();
    return;
  }
  const status = Number(output.statusCode ?? 200);
  res.statusCode = Number.isInteger(status) && status >= 100 && status <= 999 ? status : 500;
  for (const [k, v] of Object.entries(output.headers ?? {})) {
    if (k.toLowerCase() === 'set-cookie') res.appendHeader('set-cookie', v);
    else res.setHeader(k, v);
  }
  for (const c of output.cookies ?? []) res.appendHeader('set-cookie', setCookieHeader(c));
  const body = typedBytes(output.body);
  res.setHeader('content-length', body.length);
  res.end(isHead ? undefined : body);
}
