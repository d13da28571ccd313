import { performance } from 'node:perf_hooks';
import { CliError, EXIT, clean, usageError } from './errors';

/** How the CLI talks to TrustNet: one base URL, an optional function key, JSON in and out. */

export const REQUEST_TIMEOUT_MS = 30_000;

export interface ApiOptions {
  url: string;
  functionKey?: string;
  fetch: typeof fetch;
  timeoutMs?: number;
}

/** The base URL without a trailing slash; only http and https. */
export function baseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`--url ${text} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usageError(`--url must be an http or https address; got ${text}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

interface ProblemBody {
  code?: unknown;
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
  problems?: unknown;
}

/** `409 VOTE.DUPLICATE: bank-a has already voted on …`, then one line per field error. */
function problemError(status: number, body: ProblemBody): CliError {
  const code = typeof body.code === 'string' ? body.code : undefined;
  const text =
    typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : '';
  // Schema errors come as { pointer, detail }; scaling-policy problems may come as { path, message }.
  const list = Array.isArray(body.errors) ? body.errors : Array.isArray(body.problems) ? body.problems : [];
  const details = list.map(
    (e: { pointer?: unknown; path?: unknown; detail?: unknown; message?: unknown }) => {
      const at = e?.pointer ?? e?.path;
      const pointer = typeof at === 'string' && at !== '' ? at : '/';
      return `  ${clean(pointer)}: ${clean(e?.detail ?? e?.message ?? 'is invalid')}`;
    },
  );
  return new CliError(`${status} ${clean(code ?? 'ERROR')}: ${clean(text)}`, EXIT.refused, details, code);
}

export class Api {
  readonly base: string;

  constructor(private readonly options: ApiOptions) {
    this.base = baseUrl(options.url);
  }

  /** Sends one request; a network failure or time-out is exit 3, naming the server. */
  async send(method: string, path: string, jws?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (jws !== undefined) headers['content-type'] = 'application/jose';
    if (this.options.functionKey) headers['x-functions-key'] = this.options.functionKey;
    const timeout = this.options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    try {
      return await this.options.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(jws !== undefined ? { body: jws } : {}),
        signal: AbortSignal.timeout(timeout),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
      const why =
        err.name === 'TimeoutError'
          ? `no answer within ${timeout / 1000} s`
          : String(err.cause?.code ?? err.cause?.message ?? err.message);
      throw new CliError(`cannot reach ${this.base}: ${clean(why)}`, EXIT.unreachable);
    }
  }

  /** The answer's JSON body on success; a problem answer becomes a CliError (exit 1). */
  async answer(method: string, path: string, response: Response): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      throw new CliError(
        `cannot reach ${this.base}: the answer to ${method} ${path} broke off (${clean((e as Error).message)})`,
        EXIT.unreachable,
      );
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.ok) {
      if (body === undefined)
        throw new CliError(`${method} ${path} answered ${response.status} without JSON`, EXIT.refused);
      return body;
    }
    if (body !== null && typeof body === 'object' && ('code' in body || 'title' in body))
      throw problemError(response.status, body as ProblemBody);
    const hint =
      (response.status === 401 || response.status === 403) && !this.options.functionKey
        ? ' (this route may need --function-key)'
        : '';
    throw new CliError(
      `${response.status} ${clean(response.statusText || 'HTTP error')} from ${method} ${path}${hint}`,
      EXIT.refused,
    );
  }

  async get(path: string): Promise<unknown> {
    return this.answer('GET', path, await this.send('GET', path));
  }

  async post(path: string, jws: string): Promise<unknown> {
    return this.answer('POST', path, await this.send('POST', path, jws));
  }

  async put(path: string, jws: string): Promise<unknown> {
    return this.answer('PUT', path, await this.send('PUT', path, jws));
  }

  /** Every item of a paged list (`{ items, continuation }`), following continuation tokens. */
  async all(path: string): Promise<unknown[]> {
    const items: unknown[] = [];
    const seen = new Set<string>();
    let continuation: string | null = null;
    for (;;) {
      const page = (await this.get(
        continuation === null ? path : `${path}?continuation=${encodeURIComponent(continuation)}`,
      )) as { items?: unknown; continuation?: unknown };
      if (!Array.isArray(page?.items))
        throw new CliError(`GET ${path} did not answer a list ({ items, continuation })`, EXIT.refused);
      items.push(...page.items);
      if (typeof page.continuation !== 'string' || page.continuation === '') return items;
      if (seen.has(page.continuation))
        throw new CliError(`GET ${path} repeated continuation ${clean(page.continuation)}`, EXIT.refused);
      seen.add(page.continuation);
      continuation = page.continuation;
    }
  }

  /**
   * The platform's clock, which may be virtual and far from this machine's: read from the Date header
   * of a cheap request, then advanced by the time elapsed here since. Signed payloads carry it as issuedAt.
   */
  async platformClock(): Promise<() => Date> {
    const response = await this.send('GET', '/api/members?limit=1');
    const received = performance.now();
    await response.arrayBuffer().catch(() => undefined);
    const date = Date.parse(response.headers.get('date') ?? '');
    if (Number.isNaN(date))
      throw new CliError(
        `${this.base} answered without a Date header, so the platform's time is unknown`,
        EXIT.refused,
      );
    return () => new Date(date + (performance.now() - received));
  }
}
