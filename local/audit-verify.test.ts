import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { GENESIS, seal, type AuditDraft, type AuditEntry } from '../core/audit';
import { main, type Io } from './audit-verify';

let dir: string;
let chain: AuditEntry[];

function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l), fetch: (...a) => fetch(...a) };
  return main(argv, io).then((code) => ({ code, out, err }));
}

function write(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-verify-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const governanceKey = await exportJWK(publicKey);
  const vote = (requestId: string) =>
    new CompactSign(
      new TextEncoder().encode(JSON.stringify({ requestId, voter: 'bank-a', decision: 'approve' })),
    )
      .setProtectedHeader({ alg: 'ES256', kid: 'bank-a' })
      .sign(privateKey);
  const drafts: AuditDraft[] = [
    {
      at: '2025-01-01T00:00:00.000Z',
      kind: 'member.seeded',
      subject: 'bank-a',
      actor: 'config',
      data: { memberId: 'bank-a', legalName: 'Bank A', governanceKey },
    },
    ...(await Promise.all(
      ['r-1', 'r-2', 'r-3', 'r-4'].map(async (id, i): Promise<AuditDraft> => ({
        at: `2025-01-0${i + 2}T00:00:00.000Z`,
        kind: 'vote.accepted',
        subject: id,
        actor: 'bank-a',
        jws: await vote(id),
        data: { subjectId: id, voter: 'bank-a', decision: 'approve' },
      })),
    )),
  ];
  chain = [];
  for (const draft of drafts) chain.push(seal(draft, chain.at(-1)));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('audit-verify --file', () => {
  it('verifies a plain array of entries', async () => {
    await expect(run(['--file', write('array.json', chain)])).resolves.toEqual({
      code: 0,
      out: [`audit log verified: 5 entries, head ${chain[4]!.hash}`],
      err: [],
    });
  });

  it('verifies a page as GET /api/audit returns it', async () => {
    const path = write('page.json', { items: chain, continuation: null });
    await expect(run(['--file', path])).resolves.toMatchObject({ code: 0 });
  });

  it('verifies an empty log', async () => {
    await expect(run(['--file', write('empty.json', [])])).resolves.toMatchObject({
      code: 0,
      out: [`audit log verified: 0 entries, head ${GENESIS}`],
    });
  });

  it('reports an altered entry', async () => {
    const tampered = structuredClone(chain);
    tampered[2]!.data['decision'] = 'reject';
    await expect(run(['--file', write('altered.json', tampered)])).resolves.toEqual({
      code: 1,
      out: ['audit log BROKEN at entry 2: hash mismatch: entry was altered'],
      err: [],
    });
  });

  it('reports a dropped entry', async () => {
    const path = write('dropped.json', { items: chain.filter((e) => e.seq !== 1), continuation: null });
    await expect(run(['--file', path])).resolves.toMatchObject({
      code: 1,
      out: [
        'audit log BROKEN at entry 1: found seq 2 where seq 1 was expected: an entry is missing or out of order',
      ],
    });
  });

  it('reports a malformed entry as the break', async () => {
    await expect(run(['--file', write('malformed.json', [chain[0], null])])).resolves.toMatchObject({
      code: 1,
      out: ['audit log BROKEN at entry 1: entry is not an object'],
    });
  });

  it('exits 2 with one line when the file is missing or not an audit log', async () => {
    for (const [path, message] of [
      [join(dir, 'missing.json'), /cannot read .*missing\.json: ENOENT/],
      [write('bad.json', '{ not json'), /bad\.json is not JSON/],
      [write('object.json', { entries: [] }), /neither an audit page/],
    ] as const) {
      const result = await run(['--file', path]);
      expect(result).toMatchObject({ code: 2, out: [] });
      expect(result.err).toHaveLength(1);
      expect(result.err[0]).toMatch(message);
    }
  });
});

describe('audit-verify flags', () => {
  it.each([
    [[]],
    [['--file', 'a.json', '--url', 'http://127.0.0.1:1']],
    [['--nope']],
    [['extra']],
    [['--url']],
  ])('exits 2 with one line on stderr for %j', async (argv) => {
    const result = await run(argv);
    expect(result).toMatchObject({ code: 2, out: [] });
    expect(result.err).toHaveLength(1);
    expect(result.err[0]).toMatch(/^audit-verify: /);
  });

  it('prints help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(/^Usage: /);
  });
});

describe('audit-verify --url', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];

  beforeAll(async () => {
    // Serves the chain two entries a page, as the app's GET /api/audit does.
    server = createServer((req, res) => {
      requests.push(req.url!);
      const url = new URL(req.url!, 'http://localhost');
      if (url.pathname !== '/api/audit') {
        res.writeHead(404).end();
        return;
      }
      const token = url.searchParams.get('continuation');
      const start = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
      const next = start + 2 < chain.length ? Buffer.from(String(start + 2)).toString('base64url') : null;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: chain.slice(start, start + 2), continuation: next }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads every page and verifies the whole log', async () => {
    requests.length = 0;
    await expect(run(['--url', `${base}/`])).resolves.toEqual({
      code: 0,
      out: [`audit log verified: 5 entries, head ${chain[4]!.hash}`],
      err: [],
    });
    expect(requests).toEqual(['/api/audit', '/api/audit?continuation=Mg', '/api/audit?continuation=NA']);
  });

  it('exits 2 when the server answers with an error', async () => {
    const result = await run(['--url', `${base}/elsewhere`]);
    expect(result).toMatchObject({
      code: 2,
      err: ['audit-verify: GET /elsewhere/api/audit answered HTTP 404'],
    });
  });

  it('exits 2 with one line when nothing listens there', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await run(['--url', `http://127.0.0.1:${port}`]);
    expect(result).toMatchObject({
      code: 2,
      out: [],
      err: [`audit-verify: cannot reach http://127.0.0.1:${port}: ECONNREFUSED`],
    });
  });

  it('exits 2 for an address that is not http', async () => {
    await expect(run(['--url', 'ftp://example.test'])).resolves.toMatchObject({ code: 2 });
    await expect(run(['--url', 'not a url'])).resolves.toMatchObject({ code: 2 });
  });
});
