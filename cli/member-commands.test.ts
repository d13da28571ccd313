import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { KeyClient } from '@azure/keyvault-keys';
import { compactVerify, importJWK, type JWK } from 'jose';
import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { KeyVaultEmulator } from '../local/cloud/keyvault';
import { generateKeyFiles } from './keys';
import { run, type Io } from './program';

/**
 * channels, scaling, profile and cost against a recording test double of TrustNet (Io.fetch) that records each request: the
 * exact method, path, headers and a JWS checked against the member's public key. No host is spawned.
 */

const BASE = 'https://trustnet.example';
const PLATFORM_DATE = 'Mon, 02 Mar 2026 10:00:00 GMT';
const PLATFORM_MS = Date.parse(PLATFORM_DATE);
const WEBHOOK =
  'https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3tSig';
const MASKED = 'https://prod-12.westeurope.logic.azure.com/…';

interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body?: string;
}

type Route = (req: Seen) => { status?: number; body: unknown } | undefined;

/** A test double of TrustNet (fetch only): answers the platform clock, then whatever `route` says; records every request. */
function recordingPlatform(route: Route) {
  const seen: Seen[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    const req: Seen = {
      method: init?.method ?? 'GET',
      path: url.pathname + url.search,
      headers: new Headers(init?.headers),
      ...(typeof init?.body === 'string' ? { body: init.body } : {}),
    };
    const headers = { 'content-type': 'application/json', date: PLATFORM_DATE };
    if (req.path === '/api/members?limit=1')
      return new Response(JSON.stringify({ items: [], continuation: null }), { headers });
    seen.push(req);
    const answer = route(req);
    if (!answer)
      return new Response(JSON.stringify({ code: 'ROUTE.NOT_FOUND', title: 'Not found' }), {
        status: 404,
        headers,
      });
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200, headers });
  };
  return { seen, fetch };
}

let dir: string;
let bankA: { privateFile: string; publicJwk: JWK };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trustnet-member-cmds-'));
  bankA = await generateKeyFiles(dir, 'bank-a');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(extra: Partial<Io>, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l), ...extra });
  return { code, out, err };
}

const signed = (...more: string[]) => [
  '--url',
  BASE,
  '--function-key',
  'fk',
  '--consortium',
  'Test Consortium',
  '--key',
  bankA.privateFile,
  ...more,
];

/** The request's JWS, verified with `jwk`: its header and payload. */
async function verified(req: Seen, jwk: JWK) {
  expect(req.headers.get('content-type')).toBe('application/jose');
  expect(req.headers.get('x-functions-key')).toBe('fk');
  const { payload, protectedHeader } = await compactVerify(req.body!, await importJWK(jwk, 'ES256'));
  return {
    header: protectedHeader,
    payload: JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>,
  };
}

const ISSUED = /^2026-03-02T10:00:\d\d\.\d{3}Z$/;

describe('trustnet channels', () => {
  const answer: Route = (req) =>
    req.method === 'PUT' && req.path === '/api/members/bank-a/channels'
      ? {
          body: {
            id: 'bank-a',
            channels: {
              email: 2,
              teams: { configured: true, url: MASKED },
              setByMember: true,
              updatedAt: '2026-03-02T10:00:01.000Z',
            },
          },
        }
      : undefined;

  it('PUTs the channels signed by the member, and prints the webhook only masked', async () => {
    const { seen, fetch } = recordingPlatform(answer);
    const res = await cli(
      { fetch },
      'channels',
      'bank-a',
      '--email',
      'ops@bank-a.example, risk@bank-a.example',
      '--teams-webhook',
      WEBHOOK,
      ...signed(),
    );
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['PUT /api/members/bank-a/channels']);
    const { header, payload } = await verified(seen[0]!, bankA.publicJwk);
    expect(header).toEqual({ alg: 'ES256', kid: 'bank-a' });
    expect(payload).toEqual({
      consortium: 'Test Consortium',
      action: 'set-channels',
      subject: 'bank-a',
      actor: 'bank-a',
      issuedAt: expect.stringMatching(ISSUED),
      channels: { email: ['ops@bank-a.example', 'risk@bank-a.example'], teamsWebhook: WEBHOOK },
    });
    expect(Object.keys(payload)).toEqual([
      'consortium',
      'action',
      'subject',
      'actor',
      'issuedAt',
      'channels',
    ]);
    expect(res.out).toEqual([
      'Channels of bank-a',
      'email:    2 addresses',
      `teams:    ${MASKED}`,
      'updated:  2026-03-02T10:00:01.000Z',
    ]);
    expect(res.out.join('\n')).not.toContain('s3cr3tSig');

    const json = await cli(
      { fetch },
      'channels',
      'bank-a',
      '--email',
      'ops@bank-a.example',
      '--teams-webhook',
      WEBHOOK,
      '--json',
      ...signed(),
    );
    expect(JSON.parse(json.out.join('\n'))).toMatchObject({
      id: 'bank-a',
      channels: { teams: { url: MASKED } },
    });
    expect(json.out.join('\n')).not.toContain('s3cr3tSig');
  });

  it('--no-teams sends teamsWebhook null', async () => {
    const { seen, fetch } = recordingPlatform(answer);
    const res = await cli(
      { fetch },
      'channels',
      'bank-a',
      '--email',
      'ops@bank-a.example',
      '--no-teams',
      ...signed(),
    );
    expect(res.code).toBe(0);
    const { payload } = await verified(seen[0]!, bankA.publicJwk);
    expect(payload['channels']).toEqual({ email: ['ops@bank-a.example'], teamsWebhook: null });
  });

  it('shows the current channels without options', async () => {
    const { seen, fetch } = recordingPlatform((req) =>
      req.method === 'GET' && req.path === '/api/members/bank-a'
        ? { body: { id: 'bank-a', channels: { email: 1, teams: { configured: false }, setByMember: false } } }
        : undefined,
    );
    const res = await cli({ fetch }, 'channels', 'bank-a', '--url', BASE);
    expect(res).toEqual({
      code: 0,
      out: ['Channels of bank-a (from its application)', 'email:    1 address', 'teams:    none'],
      err: [],
    });
    expect(seen).toHaveLength(1);
  });

  it.each([
    [['--email', 'a@b.example'], /give --teams-webhook <url> or --no-teams$/],
    [['--no-teams'], /give --email <list> too$/],
    [['--email', 'a@b.example', '--no-teams', '--teams-webhook', WEBHOOK], /not both$/],
    [['--email', 'a@b.example,nobody', '--no-teams'], /--email: nobody is not an email address$/],
    [['--email', 'a@b.example,A@b.example', '--no-teams'], /lists an address twice$/],
    [
      ['--email', 'a@b.example', '--teams-webhook', 'ftp://x/hook?sig=s3cr3tSig'],
      /not an http\(s\) URL \(not shown/,
    ],
    [
      ['--email', 'a@b.example', '--no-teams', '--as', 'bank-b'],
      /--as bank-b cannot sign set-channels for bank-a/,
    ],
  ])('refuses bad usage before sending anything: %j', async (args, message) => {
    const { seen, fetch } = recordingPlatform(answer);
    const res = await cli({ fetch }, 'channels', 'bank-a', ...args, ...signed());
    expect(res.code).toBe(2);
    expect(res.err).toEqual([expect.stringMatching(message)]);
    expect(res.err.join('\n')).not.toContain('s3cr3tSig');
    expect(seen).toEqual([]);
  });
});

describe('trustnet scaling', () => {
  const policy = {
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
  };

  it('PUTs the policy file signed by the member', async () => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify(policy));
    const { seen, fetch } = recordingPlatform((req) =>
      req.method === 'PUT' && req.path === '/api/members/bank-a/scaling'
        ? { body: { id: 'bank-a', scaling: { policy, desired: { profile: 'Large', source: 'schedule' } } } }
        : undefined,
    );
    const res = await cli({ fetch }, 'scaling', 'bank-a', '--policy', file, ...signed());
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    const { header, payload } = await verified(seen[0]!, bankA.publicJwk);
    expect(header).toEqual({ alg: 'ES256', kid: 'bank-a' });
    expect(payload).toEqual({
      consortium: 'Test Consortium',
      action: 'set-scaling',
      subject: 'bank-a',
      actor: 'bank-a',
      issuedAt: expect.stringMatching(ISSUED),
      policy,
    });
    expect(res.out[0]).toBe(`bank-a scaling policy set from ${file}`);
    expect(res.out).toContain('  scaling.desired.profile:     Large');
  });

  it("shows the server's JSON-pointer errors against the file", async () => {
    const file = join(dir, 'bad-policy.json');
    writeFileSync(file, JSON.stringify({ ...policy, timeZone: 'Mars/Olympus' }));
    const { fetch } = recordingPlatform(() => ({
      status: 400,
      body: {
        code: 'SCALING_POLICY.INVALID',
        title: 'Invalid scaling policy',
        detail: 'The scaling policy has 2 problems.',
        errors: [
          { pointer: '/policy/timeZone', detail: 'is not an IANA time zone' },
          { pointer: '/policy/windows/0/to', detail: 'must be after from' },
        ],
      },
    }));
    const res = await cli({ fetch }, 'scaling', 'bank-a', '--policy', file, ...signed());
    expect(res).toEqual({
      code: 1,
      out: [],
      err: [
        'trustnet: 400 SCALING_POLICY.INVALID: The scaling policy has 2 problems.',
        `  ${file}#/timeZone: is not an IANA time zone`,
        `  ${file}#/windows/0/to: must be after from`,
      ],
    });
  });

  it('refuses a file that is not a policy object before sending', async () => {
    const file = join(dir, 'list.json');
    writeFileSync(file, '[1,2]');
    const { seen, fetch } = recordingPlatform(() => undefined);
    const res = await cli({ fetch }, 'scaling', 'bank-a', '--policy', file, ...signed());
    expect(res.code).toBe(2);
    expect(res.err).toEqual([`trustnet: ${file} must hold the scaling policy object`]);
    expect(seen).toEqual([]);
  });

  it("shows the member's scaling view, as lines or JSON", async () => {
    const scaling = {
      current: 'Small',
      desired: { profile: 'Large', reason: 'business hours' },
      override: null,
    };
    const { fetch } = recordingPlatform((req) =>
      req.path === '/api/members/bank-a' ? { body: { id: 'bank-a', status: 'ACTIVE', scaling } } : undefined,
    );
    const res = await cli({ fetch }, 'scaling', 'bank-a', '--url', BASE);
    expect(res.out).toEqual([
      'Scaling of bank-a',
      '  current:         Small',
      '  desired.profile: Large',
      '  desired.reason:  business hours',
      '  override:        none',
    ]);
    const json = await cli({ fetch }, 'scaling', 'bank-a', '--json', '--url', BASE);
    expect(JSON.parse(json.out.join('\n'))).toEqual(scaling);
  });
});

describe('trustnet profile', () => {
  const answer: Route = (req) =>
    req.method === 'POST' && req.path === '/api/members/bank-a/profile'
      ? { status: 202, body: { id: 'bank-a', override: { profile: 'Large' } } }
      : undefined;

  it("POSTs an override with an absolute expiresAt, a duration counted from the platform's clock", async () => {
    const { seen, fetch } = recordingPlatform(answer);
    const res = await cli({ fetch }, 'profile', 'bank-a', 'Large', '--until', 'PT8H', ...signed());
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/members/bank-a/profile']);
    const { header, payload } = await verified(seen[0]!, bankA.publicJwk);
    expect(header).toEqual({ alg: 'ES256', kid: 'bank-a' });
    expect(payload).toEqual({
      consortium: 'Test Consortium',
      action: 'set-profile',
      subject: 'bank-a',
      actor: 'bank-a',
      issuedAt: expect.stringMatching(ISSUED),
      profile: 'Large',
      expiresAt: expect.any(String),
    });
    const issued = Date.parse(payload['issuedAt'] as string);
    expect(issued).toBeGreaterThanOrEqual(PLATFORM_MS);
    expect(Date.parse(payload['expiresAt'] as string) - issued).toBe(8 * 3_600_000);
    expect(res.out).toEqual([
      `bank-a runs Large until ${payload['expiresAt'] as string}, then follows its schedule again`,
    ]);
  });

  it('takes an absolute --until, and refuses one in the past', async () => {
    const { seen, fetch } = recordingPlatform(answer);
    const ok = await cli(
      { fetch },
      'profile',
      'bank-a',
      'Small',
      '--until',
      '2026-03-02T20:00:00+01:00',
      ...signed(),
    );
    expect(ok.code).toBe(0);
    expect((await verified(seen[0]!, bankA.publicJwk)).payload['expiresAt']).toBe('2026-03-02T19:00:00.000Z');

    const past = await cli(
      { fetch },
      'profile',
      'bank-a',
      'Small',
      '--until',
      '2026-03-01T00:00:00Z',
      ...signed(),
    );
    expect(past.code).toBe(2);
    expect(past.err).toEqual([
      expect.stringMatching(
        /^trustnet: --until 2026-03-01T00:00:00Z is not in the future \(the platform's time is 2026-03-02T10:00:/,
      ),
    ]);
    const bad = await cli({ fetch }, 'profile', 'bank-a', 'Huge', '--until', 'PT1H', ...signed());
    expect(bad.code).toBe(2);
    expect(bad.err[0]).toMatch(/'Huge' is invalid for argument 'profile'/);
    expect(seen).toHaveLength(1);
  });
});

describe('trustnet cost', () => {
  const usage = (vmHours: number, monitoringCost: number, cost: number) => ({
    vmHours,
    monitoringHours: vmHours,
    vmCost: cost - monitoringCost,
    monitoringCost,
    cost,
    hoursByProfile: { Small: 0, Medium: 0, Large: vmHours },
  });
  const period = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1), nowMs: PLATFORM_MS };
  const member = (memberId: string, f: number) => ({
    memberId,
    currency: 'EUR',
    period,
    projection: 'schedule',
    toDate: usage(100 * f, 3.5 * f, 40 * f),
    projected: usage(1000 * f, 30 * f, 400 * f),
    staticLarge: { toDate: usage(200 * f, 7 * f, 90 * f), projected: usage(2000 * f, 60 * f, 1000 * f) },
    savings: { toDate: 50 * f, projected: 600 * f, toDatePercent: 55.6, projectedPercent: 60 },
  });

  it('GETs the consortium cost and prints a table with a total', async () => {
    const a = member('bank-a', 1);
    const b = member('bank-b', 2);
    const total = {
      ...member('x', 3),
      memberId: undefined,
      projection: undefined,
      members: 2,
      items: [a, b],
    };
    const { seen, fetch } = recordingPlatform((req) =>
      req.path === '/api/cost' ? { body: total } : undefined,
    );
    const res = await cli({ fetch }, 'cost', '--url', BASE);
    expect(res.err).toEqual([]);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/cost']);
    expect(res.out).toEqual([
      'Cost 2026-03-01 to 2026-03-02T10:00Z, projected to 2026-04-01, in EUR',
      'MEMBER  VM-HOURS  MONITORING  TO DATE  PROJECTED  STATIC LARGE           SAVED',
      'bank-a     100.0        3.50    40.00     400.00      1,000.00    600.00 (60%)',
      'bank-b     200.0        7.00    80.00     800.00      2,000.00  1,200.00 (60%)',
      'TOTAL      300.0       10.50   120.00   1,200.00      3,000.00  1,800.00 (60%)',
    ]);
  });

  it("GETs one member's cost, as a table or JSON", async () => {
    const a = member('bank-a', 1);
    const { seen, fetch } = recordingPlatform((req) =>
      req.path === '/api/members/bank-a/cost' ? { body: a } : undefined,
    );
    const res = await cli({ fetch }, 'cost', 'bank-a', '--url', BASE);
    expect(res.out[0]).toBe(
      'Cost 2026-03-01 to 2026-03-02T10:00Z, projected to 2026-04-01, in EUR (projection: schedule)',
    );
    expect(res.out.slice(2)).toEqual([
      'bank-a     100.0        3.50    40.00     400.00      1,000.00  600.00 (60%)',
    ]);
    const json = await cli({ fetch }, 'cost', 'bank-a', '--json', '--url', BASE);
    expect(JSON.parse(json.out.join('\n'))).toEqual(a);
    expect(seen).toHaveLength(2);
  });

  it('says which member is unknown', async () => {
    const { fetch } = recordingPlatform(() => ({
      status: 404,
      body: { code: 'MEMBER.NOT_FOUND', detail: 'No member bank-z.' },
    }));
    expect(await cli({ fetch }, 'cost', 'bank-z', '--url', BASE)).toEqual({
      code: 1,
      out: [],
      err: ['trustnet: 404 MEMBER.NOT_FOUND: No member bank-z.'],
    });
  });
});

describe('--key-vault-key', () => {
  let vault: Io['vault'];
  const KV = 'https://kv-bank-a.vault.azure.net';
  let vaultJwk: JWK;

  beforeAll(async () => {
    const prefix = `clim${Date.now()}`;
    const emulator = new KeyVaultEmulator({
      tables: async (suffix) => {
        const t = TableClient.fromConnectionString(
          process.env['AzureWebJobsStorage']!,
          `${prefix}${suffix}`,
          {
            allowInsecureConnection: true,
          },
        );
        await t.createTable();
        return t;
      },
      faults: new CloudFaults(),
      now: () => Date.now(),
      latencyFactor: 0,
    });
    vault = {
      credential: new LocalCloudCredential(),
      httpClient: cloudHttpClient(emulator.handle),
      retryOptions: { maxRetries: 0 },
    };
    const keys = new KeyClient(KV, vault.credential!, { httpClient: vault.httpClient! });
    const created = await keys.createEcKey('governance', { curve: 'P-256' });
    const b64 = (v: Uint8Array) => Buffer.from(v).toString('base64url');
    vaultJwk = { kty: 'EC', crv: 'P-256', x: b64(created.key!.x!), y: b64(created.key!.y!) };
  });

  const withVault = (...more: string[]) => [
    '--url',
    BASE,
    '--function-key',
    'fk',
    '--consortium',
    'Test Consortium',
    '--key-vault-key',
    `${KV}/keys/governance`,
    ...more,
  ];

  it('signs a command in the vault: the server sees the same JWS form, verified with the vault key', async () => {
    const { seen, fetch } = recordingPlatform((req) =>
      req.method === 'POST' ? { body: { id: 'bank-a' } } : undefined,
    );
    const res = await cli({ fetch, vault }, 'profile', 'bank-a', 'Medium', '--until', 'P1D', ...withVault());
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    const { header, payload } = await verified(seen[0]!, vaultJwk);
    expect(header).toEqual({ alg: 'ES256', kid: 'bank-a' });
    expect(payload).toMatchObject({
      action: 'set-profile',
      subject: 'bank-a',
      actor: 'bank-a',
      profile: 'Medium',
    });
    // And not with some other key.
    await expect(verified(seen[0]!, bankA.publicJwk)).rejects.toThrow();
  });

  it('signs a vote too, and a request with the vault public key in the header', async () => {
    const { seen, fetch } = recordingPlatform((req) =>
      req.path.endsWith('/votes')
        ? {
            body: {
              voter: 'bank-a',
              decision: 'approve',
              tally: { approve: 1, reject: 0, eligible: 3, required: 2 },
            },
          }
        : req.path === '/api/membership-requests'
          ? { status: 202, body: { id: 'r1', statusUrl: `${BASE}/api/membership-requests/r1` } }
          : undefined,
    );
    const id = '0b6c4a52-3f0e-4c1a-9d0e-5c2f7a9e1b34';
    const vote = await cli(
      { fetch, vault },
      'vote',
      id,
      'approve',
      '--reason',
      'ok',
      '--member',
      'bank-a',
      ...withVault(),
    );
    expect(vote.code).toBe(0);
    expect((await verified(seen[0]!, vaultJwk)).header).toEqual({ alg: 'ES256', kid: 'bank-a' });

    const file = join(dir, 'applicant.json');
    writeFileSync(file, JSON.stringify({ applicant: { id: 'bank-q' } }));
    const req = await cli({ fetch, vault }, 'request', file, ...withVault());
    expect(req.code).toBe(0);
    expect((await verified(seen[1]!, vaultJwk)).header).toEqual({ alg: 'ES256', jwk: vaultJwk });
  });

  it('keys public shows and writes the vault public key, to rotate to it', async () => {
    const out = join(dir, 'vault.public.jwk.json');
    const res = await cli({ vault }, 'keys', 'public', '--out', out, '--json', ...withVault());
    expect(res.err).toEqual([]);
    const shown = JSON.parse(res.out.join('\n'));
    expect(shown).toMatchObject({
      keyId: expect.stringMatching(`^${KV}/keys/governance/[0-9a-f]+$`),
      publicJwk: { ...vaultJwk, alg: 'ES256' },
    });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ ...vaultJwk, alg: 'ES256' });
    const again = await cli({ vault }, 'keys', 'public', '--out', out, ...withVault());
    expect(again.code).toBe(2);
    expect(again.err).toEqual([expect.stringMatching(/cannot write .*vault\.public\.jwk\.json: EEXIST$/)]);
  });

  it('refuses --key with --key-vault-key, and a missing vault key, as usage errors', async () => {
    const { seen, fetch } = recordingPlatform(() => undefined);
    const both = await cli(
      { fetch, vault },
      'profile',
      'bank-a',
      'Small',
      '--until',
      'PT1H',
      ...withVault('--key', bankA.privateFile),
    );
    expect(both).toEqual({ code: 2, out: [], err: ['trustnet: give --key or --key-vault-key, not both'] });
    const missing = await cli(
      { fetch, vault },
      'profile',
      'bank-a',
      'Small',
      '--until',
      'PT1H',
      ...withVault('--key-vault-key', `${KV}/keys/nope`),
    );
    expect(missing).toEqual({
      code: 2,
      out: [],
      err: [`trustnet: there is no key nope in ${KV} (404 KeyNotFound)`],
    });
    expect(seen).toEqual([]);
  });
});

describe('trustnet audit verify --json', () => {
  it('prints the result as JSON', async () => {
    const { fetch } = recordingPlatform((req) =>
      req.path.startsWith('/api/audit') ? { body: { items: [], continuation: null } } : undefined,
    );
    const res = await cli({ fetch }, 'audit', 'verify', '--json', '--url', BASE);
    expect(res.err).toEqual([]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out.join('\n'))).toEqual({ verified: true, entries: 0, head: expect.any(String) });
  });
});
