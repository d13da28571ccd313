#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { GENESIS, verifyChain, type AuditEntry } from '../core/audit';

const USAGE = `Usage: node dist/local/audit-verify.js (--url URL | --file FILE)

Checks TrustNet's audit log: the hash chain, and every signed request, vote and proposal in it against the
members' keys as the log itself records them.

Options:
  --url URL     the app's base address (e.g. http://127.0.0.1:7071); reads every page of GET /api/audit
  --file FILE   a JSON file: one page ({ "items": [...], "continuation": ... }) or an array of entries
  -h, --help    show this help

Exit status: 0 verified, 1 broken, 2 the log could not be read.`;

/** Where output goes, and how pages are fetched; tests pass their own. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch: typeof fetch;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  fetch: (...args) => fetch(...args),
};

/** A reason the log could not be read at all (exit 2), as opposed to a log that does not verify (exit 1). */
class InputError extends Error {}

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_PAGES = 100_000;

function entriesOf(value: unknown, source: string): { items: unknown[]; continuation: string | null } {
  if (Array.isArray(value)) return { items: value, continuation: null };
  if (value !== null && typeof value === 'object' && Array.isArray((value as { items?: unknown }).items)) {
    const { items, continuation } = value as { items: unknown[]; continuation?: unknown };
    if (continuation !== undefined && continuation !== null && typeof continuation !== 'string') {
      throw new InputError(`${source} has a continuation that is not a string`);
    }
    return { items, continuation: continuation ?? null };
  }
  throw new InputError(`${source} is neither an audit page ({ "items": [...] }) nor an array of entries`);
}

async function fromFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InputError(`${path} is not JSON`);
  }
  return entriesOf(value, path).items;
}

function auditUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new InputError(`--url ${base} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`--url must be an http or https address; got ${base}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/audit`;
  url.search = '';
  url.hash = '';
  return url;
}

async function fromUrl(base: string, io: Io): Promise<unknown[]> {
  const first = auditUrl(base);
  const entries: unknown[] = [];
  const seen = new Set<string>();
  let continuation: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const url = new URL(first);
    if (continuation !== null) url.searchParams.set('continuation', continuation);
    let response: Response;
    try {
      response = await io.fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
      const why =
        err.name === 'TimeoutError'
          ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
          : String(err.cause?.code ?? err.cause?.message ?? err.message);
      throw new InputError(`cannot reach ${url.origin}: ${why}`);
    }
    if (!response.ok)
      throw new InputError(`GET ${url.pathname}${url.search} answered HTTP ${response.status}`);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new InputError(`GET ${url.pathname}${url.search} did not answer JSON`);
    }
    const result = entriesOf(body, `the answer to GET ${url.pathname}${url.search}`);
    entries.push(...result.items);
    continuation = result.continuation;
    if (continuation === null) return entries;
    if (seen.has(continuation)) throw new InputError(`the server repeated continuation ${continuation}`);
    seen.add(continuation);
  }
  throw new InputError(`gave up after ${MAX_PAGES} pages`);
}

export async function main(argv: string[] = process.argv.slice(2), io: Io = defaultIo): Promise<number> {
  let values: { url?: string; file?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { url: { type: 'string' }, file: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    io.err(`audit-verify: ${(e as Error).message} (see --help)`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if ((values.url === undefined) === (values.file === undefined)) {
    io.err('audit-verify: give exactly one of --url URL or --file FILE (see --help)');
    return 2;
  }

  let entries: unknown[];
  try {
    entries = values.url !== undefined ? await fromUrl(values.url, io) : await fromFile(values.file!);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.err(`audit-verify: ${e.message}`);
    return 2;
  }

  // verifyChain checks each element's shape, so a malformed entry is reported as where the chain breaks.
  const result = await verifyChain(entries as AuditEntry[]);
  if (!result.ok && result.firstBroken) {
    io.out(`audit log BROKEN at entry ${result.firstBroken.seq}: ${result.firstBroken.reason}`);
    return 1;
  }
  const head = entries.length ? (entries[entries.length - 1] as AuditEntry).hash : GENESIS;
  io.out(`audit log verified: ${result.entries} entries, head ${head}`);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`audit-verify: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
