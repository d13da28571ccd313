import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { exportJWK } from 'jose';
import { json, REPO_ROOT, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';
import { run, type Io } from './trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

let host: Host;
let dir: string;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  return cliWith({}, ...argv);
}

async function cliWith(
  extra: Partial<Io>,
  ...argv: string[]
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l), ...extra });
  return { code, out, err };
}

/** Global options for the in-process TrustNet, signing as a founder from the test's data folder. */
const as = (id: string) => ['--url', host.url, '--data-dir', dir, '--as', id];
const at = () => ['--url', host.url];
const consortium = ['--consortium', 'Test Consortium'];

let addressBlock = 40;
/** An applicant file with a fresh id, name and address space. */
function applicantFile(id: string, overrides: Record<string, unknown> = {}): string {
  const file = join(dir, `${id}.json`);
  const block = addressBlock++;
  writeFileSync(
    file,
    JSON.stringify({
      applicant: {
        id,
        legalName: `O=${id.toUpperCase()} Bank, L=Madrid, C=ES`,
        contacts: { email: [`ops@${id}.example`] },
        azure: {
          tenantId: randomUUID(),
          subscriptionId: randomUUID(),
          resourceGroup: `rg-${id}`,
          region: 'uksouth',
          addressSpace: `10.${block}.0.0/16`,
        },
        profile: 'Medium',
        ...overrides,
      },
    }),
  );
  return file;
}

/** A new applicant key made with the CLI; the private key file's path. */
async function applicantKey(name: string): Promise<string> {
  const made = await cli('keys', 'generate', '--out', join(dir, 'applicants'), '--name', name);
  expect(made.code).toBe(0);
  return join(dir, 'applicants', `${name}.private.jwk.json`);
}

async function submit(id: string): Promise<{ requestId: string; key: string }> {
  const key = await applicantKey(id);
  const file = applicantFile(id);
  // What the bank does first: its resource group, delegated to the platform, in the local cloud.
  const { azure } = JSON.parse(readFileSync(file, 'utf8')).applicant;
  await host.cloud.arm.prepareResourceGroup({
    subscriptionId: azure.subscriptionId,
    resourceGroup: azure.resourceGroup,
    location: azure.region,
  });
  const res = await cli('request', file, '--key', key, ...consortium, ...at());
  expect(res).toMatchObject({ code: 0, err: [] });
  const requestId = new RegExp(`^request (${UUID}) submitted for ${id}$`).exec(res.out[0]!)?.[1];
  expect(requestId).toBeDefined();
  return { requestId: requestId!, key };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  // A data folder laid out as npm start's sample: consortium.json, and the founders' private keys.
  dir = mkdtempSync(join(tmpdir(), 'trustnet-cli-'));
  const { config, banks } = await testConsortium();
  const file = join(dir, 'consortium', 'consortium.json');
  mkdirSync(join(dir, 'consortium', 'keys'), { recursive: true });
  writeFileSync(file, JSON.stringify(config, null, 2));
  for (const [id, bank] of Object.entries(banks)) {
    const jwk = { ...(await exportJWK(bank.privateKey)), alg: 'ES256' };
    writeFileSync(join(dir, 'consortium', 'keys', `${id}.private.jwk.json`), JSON.stringify(jwk), {
      mode: 0o600,
    });
  }
  host = await startTrustNet(file);
  // The platform's clock runs two days ahead of this machine's: signing with the local time would be
  // refused (CLOCK.SKEW), so every signed command below proves the CLI signs on the platform's clock.
  const moved = await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P2D"}' });
  expect(moved.status).toBe(200);
});

afterAll(async () => {
  await host?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('trustnet keys generate', () => {
  it('writes a P-256 key pair, the private file mode 600, never printing the private key', async () => {
    const res = await cli('keys', 'generate', '--out', join(dir, 'keys'), '--name', 'bank-x');
    expect(res.code).toBe(0);
    const priv = JSON.parse(readFileSync(join(dir, 'keys', 'bank-x.private.jwk.json'), 'utf8'));
    const pub = JSON.parse(readFileSync(join(dir, 'keys', 'bank-x.public.jwk.json'), 'utf8'));
    expect(priv).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', d: expect.any(String) });
    expect(pub).toEqual({ kty: 'EC', crv: 'P-256', alg: 'ES256', x: priv.x, y: priv.y });
    expect(statSync(join(dir, 'keys', 'bank-x.private.jwk.json')).mode & 0o777).toBe(0o600);
    expect(res.out.join('\n')).not.toContain(priv.d);
    expect(res.out).toEqual([
      expect.stringMatching(/^private key: .*bank-x\.private\.jwk\.json \(mode 600/),
      expect.stringMatching(/^public key: {2}.*bank-x\.public\.jwk\.json$/),
      expect.stringMatching(/^thumbprint: {2}[A-Za-z0-9_-]{43}$/),
    ]);

    const again = await cli('keys', 'generate', '--out', join(dir, 'keys'), '--name', 'bank-x');
    expect(again.code).toBe(2);
    expect(again.err).toEqual([
      expect.stringMatching(/^trustnet: .*bank-x\.private\.jwk\.json exists; not overwriting a key file/),
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'keys', 'bank-x.private.jwk.json'), 'utf8'))).toEqual(priv);
  });
});

describe('trustnet against TrustNet in-process', () => {
  let approvedId: string;

  it('walks through: request → votes by bank-a and bank-b → status --watch follows it to active', async () => {
    const { requestId } = await submit('bank-d');
    const watching = cli('status', requestId, '--watch', '--interval', '20', ...at());

    const first = await cli('vote', requestId, 'approve', '--reason', 'KYC done', ...as('bank-a'));
    expect(first).toEqual({
      code: 0,
      out: [`bank-a voted approve on request ${requestId}: 1/3 approve, 0 reject, 2 required`],
      err: [],
    });
    const second = await cli('vote', requestId, 'approve', '--reason', 'ok by us', ...as('bank-b'));
    expect(second.code).toBe(0);

    const watched = await watching;
    expect(watched.code).toBe(0);
    expect(watched.err).toEqual([]);
    // Plain lines (no terminal): one per change, then the full status.
    expect(watched.out.some((l) => /^provisioning: \d\/8 steps done/.test(l))).toBe(true);
    expect(watched.out).toContain('phase:    active');

    const status = await cli('status', requestId, ...at());
    expect(status.code).toBe(0);
    expect(status.out[0]).toBe(
      `Membership request ${requestId}: bank-d (O=BANK-D Bank, L=Madrid, C=ES), Medium, uksouth, 10.40.0.0/16`,
    );
    expect(status.out).toEqual(
      expect.arrayContaining([
        'phase:    active',
        'tally:    2/3 approve, 0 reject, 2 required',
        expect.stringMatching(/^deadline: \d{4}-/),
        'votes:',
        expect.stringMatching(/^ {2}bank-a {2}approve {2}\S+ {2}KYC done$/),
        expect.stringMatching(/^ {2}bank-b {2}approve {2}\S+ {2}ok by us$/),
      ]),
    );
    const json = await cli('status', requestId, '--json', ...at());
    expect(JSON.parse(json.out.join('\n'))).toMatchObject({ id: requestId, phase: 'active' });
    approvedId = requestId;
  });

  it('draws a live bar when stdout is a terminal', async () => {
    let drawn = '';
    const tty = Object.assign(
      new Writable({
        write(chunk, _enc, done) {
          drawn += String(chunk);
          done();
        },
      }),
      { isTTY: true, columns: 120 },
    );
    const res = await cliWith({ tty }, 'status', approvedId, '--watch', '--interval', '20', ...at());
    expect(res.code).toBe(0);
    expect(drawn).toContain('active');
    expect(drawn).toContain('\u2588'.repeat(24));
    expect(drawn).toContain('2/2 approvals required, 0 reject, 3 eligible');
    expect(res.out).toContain('phase:    active');
  });

  it('gives a duplicate vote as one 409 line (exit 1), and --watch exits 1 on rejection', async () => {
    const { requestId } = await submit('bank-e');
    const watching = cli('status', requestId, '--watch', '--interval', '20', ...at());
    expect((await cli('vote', requestId, 'reject', '--reason', 'no', ...as('bank-a'))).code).toBe(0);

    const dup = await cli('vote', requestId, 'reject', '--reason', 'still no', ...as('bank-a'));
    expect(dup).toEqual({
      code: 1,
      out: [],
      err: [`trustnet: 409 VOTE.DUPLICATE: bank-a has already voted on ${requestId}.`],
    });

    expect((await cli('vote', requestId, 'reject', '--reason', 'no', ...as('bank-b'))).code).toBe(0);
    const watched = await watching;
    expect(watched.code).toBe(1);
    expect(watched.out).toContain('phase:    rejected');
    expect(watched.out).toContain('tally:    0/4 approve, 2 reject, 3 required');
  });

  it('shows schema errors as one line plus one line per field', async () => {
    const key = await applicantKey('bad');
    const file = applicantFile('bank-bad', { profile: 'Huge', contacts: { email: ['not-an-email'] } });
    const res = await cli('request', file, '--key', key, ...consortium, ...at());
    expect(res.code).toBe(1);
    expect(res.out).toEqual([]);
    expect(res.err[0]).toBe('trustnet: 400 SCHEMA.INVALID: The payload has 2 invalid fields.');
    expect(res.err.slice(1).sort()).toEqual([
      expect.stringMatching(/^ {2}\/applicant\/contacts\/email\/0: /),
      expect.stringMatching(/^ {2}\/applicant\/profile: /),
    ]);
  });

  it("withdraws a request with the applicant's key, reading the applicant id from the request", async () => {
    const { requestId, key } = await submit('bank-f');
    const stranger = await applicantKey('stranger');
    const refused = await cli('withdraw', requestId, '--key', stranger, ...consortium, ...at());
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([expect.stringMatching(/^trustnet: 403 ACTOR\.NOT_APPLICANT: /)]);

    const res = await cli(
      'withdraw',
      requestId,
      '--key',
      key,
      '--applicant',
      'bank-f',
      ...consortium,
      ...at(),
    );
    expect(res.code).toBe(0);
    expect(res.out[0]).toMatch(new RegExp(`^withdrawal of request ${requestId} accepted; status: http`));
    const watched = await cli('status', requestId, '--watch', '--interval', '20', ...at());
    expect(watched.code).toBe(1);
    expect(watched.out).toContain('phase:    withdrawn');
  });

  it('lists the members as a table, and as JSON', async () => {
    const res = await cli('members', ...at());
    expect(res.code).toBe(0);
    expect(res.out[0]).toMatch(/^ID +STATUS +LEGAL NAME +REGION +KEY THUMBPRINT$/);
    expect(res.out.slice(1).map((l) => l.split(/ {2,}/).slice(0, 4))).toEqual(
      expect.arrayContaining([
        ['bank-a', 'ACTIVE', 'O=Founder A, L=London, C=GB', 'uksouth'],
        ['bank-b', 'ACTIVE', 'O=Founder B, L=London, C=GB', 'uksouth'],
        ['bank-c', 'ACTIVE', 'O=Founder C, L=London, C=GB', 'uksouth'],
      ]),
    );
    const json = await cli('members', '--json', ...at());
    const items = JSON.parse(json.out.join('\n')) as Json[];
    expect(items.map((m) => m.id)).toEqual(expect.arrayContaining(['bank-a', 'bank-b', 'bank-c']));
    expect(res.out.find((l) => l.startsWith('bank-a '))).toContain(
      items.find((m) => m.id === 'bank-a').keyThumbprint,
    );
  });

  it("sets a member's channels: the webhook goes up, only its masked form comes back", async () => {
    const hook =
      'https://prod-02.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=cli-s3cret';
    const email = 'ops@founder-a.example,risk@founder-a.example';
    const res = await cli('channels', 'bank-a', '--email', email, '--teams-webhook', hook, ...as('bank-a'));
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.out).toEqual([
      'Channels of bank-a',
      'email:    2 addresses',
      expect.stringMatching(/^teams: {4}https:\/\/prod-02\.westeurope\.logic\.azure\.com\/…/),
      expect.stringMatching(/^updated: {2}\d{4}-/),
    ]);
    const shown = await cli('channels', 'bank-a', ...at());
    expect(shown.out[2]).toBe(res.out[2]);
    expect([...res.out, ...shown.out].join('\n')).not.toContain('cli-s3cret');

    // Another member cannot set them: the server checks the signer, whatever the CLI lets through.
    const other = await cli(
      'channels',
      'bank-a',
      '--email',
      'x@y.example',
      '--no-teams',
      ...consortium,
      ...at(),
      '--member',
      'bank-a',
      '--key',
      join(dir, 'consortium', 'keys', 'bank-b.private.jwk.json'),
    );
    expect(other.code).toBe(1);
    expect(other.err[0]).toMatch(/^trustnet: 401 JWS\.SIGNATURE: /);

    const removed = await cli(
      'channels',
      'bank-a',
      '--email',
      'ops@founder-a.example',
      '--no-teams',
      '--json',
      ...as('bank-a'),
    );
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.out.join('\n'))).toMatchObject({
      id: 'bank-a',
      channels: { email: 1, teams: { configured: false } },
    });
  });

  it("sets a member's scaling policy and a profile override, and shows cost, against the running platform", async () => {
    const policy = join(dir, 'scaling.json');
    writeFileSync(
      policy,
      JSON.stringify({
        timeZone: 'Europe/London',
        defaultProfile: 'Small',
        windows: [
          {
            name: 'business hours',
            days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            from: '08:00',
            to: '18:00',
            profile: 'Large',
          },
        ],
      }),
    );
    const set = await cli('scaling', 'bank-b', '--policy', policy, '--json', ...as('bank-b'));
    expect(set.err).toEqual([]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.out.join('\n'))).toMatchObject({
      id: 'bank-b',
      policy: { timeZone: 'Europe/London' },
    });
    const shown = await cli('scaling', 'bank-b', '--json', ...at());
    expect(JSON.parse(shown.out.join('\n'))).toMatchObject({ policy: { defaultProfile: 'Small' } });

    // A policy the server refuses comes back against the file, with its JSON pointer.
    const bad = join(dir, 'bad-scaling.json');
    writeFileSync(bad, JSON.stringify({ timeZone: 'Mars/Olympus', defaultProfile: 'Huge', windows: [] }));
    const refused = await cli('scaling', 'bank-b', '--policy', bad, ...as('bank-b'));
    expect(refused.code).toBe(1);
    expect(refused.err.join('\n')).toMatch(/SCALING_POLICY\.INVALID/);
    expect(refused.err.join('\n')).toMatch(/bad-scaling\.json#\/(timeZone|defaultProfile)/);

    const override = await cli('profile', 'bank-b', 'Large', '--until', 'PT8H', '--json', ...as('bank-b'));
    expect(override.err).toEqual([]);
    expect(override.code).toBe(0);
    const member = await json(await fetch(`${host.url}/api/members/bank-b`));
    expect(member.scaling.override).toMatchObject({ profile: 'Large' });
    const until = Date.parse(member.scaling.override.expiresAt) - host.clock.now();
    expect(until).toBeGreaterThan(7.9 * 3600e3);
    expect(until).toBeLessThanOrEqual(8 * 3600e3);

    const cost = await cli('cost', ...at());
    expect(cost.code).toBe(0);
    expect(cost.out.join('\n')).toMatch(/VM-HOURS/);
    expect(cost.out.some((l) => l.startsWith('bank-b'))).toBe(true);
    expect(cost.out.some((l) => l.startsWith('TOTAL'))).toBe(true);
    const one = await cli('cost', 'bank-b', '--json', ...at());
    expect(one.code).toBe(0);
    expect(JSON.parse(one.out.join('\n'))).toBeTruthy();
  });

  it('runs as a user runs it: the built dist/cli/trustnet.js, --help and a signed vote', async () => {
    const node = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(REPO_ROOT, 'dist', 'cli', 'trustnet.js'), ...args],
          { cwd: REPO_ROOT, timeout: 20000 },
          (error, stdout, stderr) =>
            resolve({
              code: error ? Number(error.code ?? 1) : 0,
              stdout: String(stdout),
              stderr: String(stderr),
            }),
        );
      });
    const help = await node('--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: trustnet \[options\] \[command\]/);
    for (const command of [
      'keys',
      'request',
      'vote',
      'withdraw',
      'propose',
      'rotate-key',
      'status',
      'members',
      'audit',
    ])
      expect(help.stdout).toMatch(new RegExp(`\\n  ${command} `));

    const { requestId } = await submit('bank-g');
    const vote = await node('vote', requestId, 'approve', '--reason', 'from a shell', ...as('bank-c'));
    expect(vote).toEqual({
      code: 0,
      stdout: `bank-c voted approve on request ${requestId}: 1/4 approve, 0 reject, 3 required\n`,
      stderr: '',
    });
    const bad = await node('vote', requestId, 'maybe', '--reason', 'x', ...as('bank-a'));
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);

    // The commands a member runs for its own settings, from a shell too.
    for (const command of ['channels', 'scaling', 'profile', 'cost'])
      expect(help.stdout).toMatch(new RegExp(`\\n  ${command} `));
    const channels = await node(
      'channels',
      'bank-c',
      '--email',
      'noc@bank-c.example',
      '--no-teams',
      '--json',
      ...as('bank-c'),
    );
    expect(channels.stderr).toBe('');
    expect(JSON.parse(channels.stdout)).toMatchObject({ id: 'bank-c', channels: { email: 1 } });
    const profile = await node('profile', 'bank-c', 'Medium', '--until', 'PT2H', ...as('bank-c'));
    expect(profile).toMatchObject({ code: 0, stderr: '' });
    const scaling = await node('scaling', 'bank-c', '--json', ...at());
    expect(JSON.parse(scaling.stdout)).toMatchObject({ override: { profile: 'Medium' } });
    const cost = await node('cost', 'bank-c', ...at());
    expect(cost).toMatchObject({ code: 0, stderr: '' });
    expect(cost.stdout).toMatch(/bank-c/);
    const refused = await node('profile', 'bank-c', 'Huge', '--until', 'PT2H', ...as('bank-c'));
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('proposes a suspension, votes on it with --proposal, and follows it to approval', async () => {
    const opened = await cli('propose', 'bank-c', 'suspend', '--reason', 'unpaid fees', ...as('bank-a'));
    expect(opened.code).toBe(0);
    const id = new RegExp(`^proposal (${UUID}) opened: suspend bank-c$`).exec(opened.out[0]!)?.[1];
    expect(id).toBeDefined();

    // A proposal id given without --proposal: the 404 says which flag was meant.
    const wrong = await cli('vote', id!, 'approve', '--reason', 'yes', ...as('bank-a'));
    expect(wrong.code).toBe(1);
    expect(wrong.err).toEqual([
      `trustnet: 404 REQUEST.NOT_FOUND: No membership request ${id}. (for a proposal, add --proposal)`,
    ]);

    for (const voter of ['bank-a', 'bank-b']) {
      const v = await cli('vote', id!, 'approve', '--proposal', '--reason', 'agreed', ...as(voter));
      expect(v.code).toBe(0);
      expect(v.out[0]).toMatch(new RegExp(`^${voter} voted approve on proposal ${id}: `));
    }
    const watched = await cli('status', id!, '--proposal', '--watch', '--interval', '20', ...at());
    expect(watched.code).toBe(0);
    expect(watched.out).toEqual(
      expect.arrayContaining([
        `Proposal ${id}: suspend bank-c, proposed by bank-a (unpaid fees)`,
        'phase:    approved',
        'tally:    2/3 approve, 0 reject, 2 required',
      ]),
    );
    const members = await cli('members', ...at());
    expect(members.out.find((l) => l.startsWith('bank-c '))).toMatch(/^bank-c {2}SUSPENDED/);
  });

  it('rotates a key: the old key no longer signs, the new one does', async () => {
    const made = await cli('keys', 'generate', '--out', join(dir, 'keys'), '--name', 'bank-b-2');
    expect(made.code).toBe(0);
    const newPublic = join(dir, 'keys', 'bank-b-2.public.jwk.json');
    const newPrivate = join(dir, 'keys', 'bank-b-2.private.jwk.json');
    const thumb = /thumbprint: {2}(\S+)/.exec(made.out.join('\n'))![1]!;

    // A private key given as the new key is refused before anything is sent, and not printed.
    const leak = await cli('rotate-key', '--new-key', newPrivate, ...as('bank-b'));
    expect(leak.code).toBe(2);
    expect(leak.err).toEqual([expect.stringMatching(/holds a private key; give the public key file/)]);

    const rotated = await cli('rotate-key', '--new-key', newPublic, ...as('bank-b'));
    expect(rotated).toMatchObject({ code: 0, err: [] });
    expect(rotated.out[0]).toMatch(new RegExp(`^bank-b now signs with key ${thumb} \\(was \\S+\\)`));

    // Signatures are checked before the ballot is looked up: 401 with the old key, 404 with the new.
    const ballot = randomUUID();
    const old = await cli('vote', ballot, 'approve', '--reason', 'x', ...as('bank-b'));
    expect(old.code).toBe(1);
    expect(old.err[0]).toMatch(/^trustnet: 401 JWS\.SIGNATURE: /);
    const fresh = await cli('vote', ballot, 'approve', '--reason', 'x', ...as('bank-b'), '--key', newPrivate);
    expect(fresh.code).toBe(1);
    expect(fresh.err[0]).toMatch(/^trustnet: 404 REQUEST\.NOT_FOUND: /);
  });

  it('verifies the audit log', async () => {
    const res = await cli('audit', 'verify', ...at());
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.out).toEqual([expect.stringMatching(/^audit log verified: \d+ entries, head [0-9a-f]{64}$/)]);
  });
});

describe('trustnet usage and reachability', () => {
  const SOME_ID = '0b6c4a52-3f0e-4c1a-9d0e-5c2f7a9e1b34';

  it('answers --help everywhere with exit 0', async () => {
    for (const argv of [
      ['--help'],
      ['vote', '--help'],
      ['keys', 'generate', '--help'],
      ['audit', 'verify', '-h'],
      ['channels', '--help'],
      ['scaling', '--help'],
      ['profile', '--help'],
      ['cost', '--help'],
      ['keys', 'public', '--help'],
    ]) {
      const res = await cli(...argv);
      expect(res.code).toBe(0);
      expect(res.out.join('\n')).toMatch(/^Usage: trustnet/);
    }
  });

  it.each([
    [['frobnicate'], /^trustnet: unknown command 'frobnicate'/],
    [['vote', SOME_ID, 'maybe', '--reason', 'x'], /^trustnet: .*'maybe' is invalid for argument 'decision'/],
    [['vote', SOME_ID, 'approve'], /^trustnet: required option '--reason <text>' not specified/],
    [['vote', 'not-an-id', 'approve', '--reason', 'x'], /^trustnet: request not-an-id is not an id/],
    [
      ['vote', SOME_ID, 'approve', '--reason', 'x', '--consortium', 'X'],
      /^trustnet: name the signing member with --member <id> \(and --key\) or --as <founder>$/,
    ],
    [
      ['vote', SOME_ID, 'approve', '--reason', 'x', '--consortium', 'X', '--member', 'bank-a'],
      /^trustnet: vote needs --key <private jwk file>, --key-vault-key <key id> or --as <founder>$/,
    ],
    [
      ['request', '/nonexistent/bank.json', '--key', 'k.json'],
      /^trustnet: cannot read .*bank\.json: ENOENT$/,
    ],
    [['status', SOME_ID, '--watch', '--interval', 'soon'], /^trustnet: option '--interval <ms>' argument/],
    [['members', '--url', 'ftp://example.org'], /^trustnet: --url must be an http or https address/],
    [['propose', 'bank-c', 'replace-key', '--reason', 'x', '--as', 'bank-a'], /replace-key needs --new-key/],
  ])('exits 2 for bad usage: %j', async (argv, message) => {
    const res = await cli(...argv);
    expect(res.code).toBe(2);
    expect(res.out).toEqual([]);
    expect(res.err).toHaveLength(1);
    expect(res.err[0]).toMatch(message);
  });

  it('needs a consortium name for an applicant', async () => {
    const key = await applicantKey('nameless');
    const res = await cli('request', applicantFile('bank-n'), '--key', key, ...at());
    expect(res).toEqual({
      code: 2,
      out: [],
      err: [
        'trustnet: name the consortium with --consortium <name> (or sign --as a founder of the local sample consortium)',
      ],
    });
  });

  it('sends --function-key as x-functions-key, and says when a bare 401 may want one', async () => {
    const seen: (string | null)[] = [];
    const fakeFetch: typeof fetch = async (_input, init) => {
      seen.push(new Headers(init?.headers).get('x-functions-key'));
      return new Response(JSON.stringify({ items: [], continuation: null }), {
        headers: { 'content-type': 'application/json' },
      });
    };
    const base = ['--url', 'https://trustnet.example', '--function-key', 's3cret'];
    expect((await cliWith({ fetch: fakeFetch }, 'members', ...base)).code).toBe(0);
    expect((await cliWith({ fetch: fakeFetch }, 'audit', 'verify', ...base)).code).toBe(0);
    expect(seen).toEqual(['s3cret', 's3cret']);

    const bare: typeof fetch = async () => new Response('', { status: 401, statusText: 'Unauthorized' });
    const res = await cliWith({ fetch: bare }, 'members', '--url', 'https://trustnet.example');
    expect(res).toEqual({
      code: 1,
      out: [],
      err: ['trustnet: 401 Unauthorized from GET /api/members (this route may need --function-key)'],
    });
  });

  it('exits 3 with one line when the server cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const argv of [
      ['members', '--url', url],
      ['vote', randomUUID(), 'approve', '--reason', 'x', '--url', url, '--data-dir', dir, '--as', 'bank-a'],
      ['audit', 'verify', '--url', url],
    ]) {
      const res = await cli(...argv);
      expect(res.code).toBe(3);
      expect(res.err).toEqual([`trustnet: cannot reach ${url}: ECONNREFUSED`]);
    }
  });
});
