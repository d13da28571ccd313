import { startLocalCloud } from '../local/cloud/start';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { ConsortiumConfig } from '../runtime/consortium';
import type { RunningHost } from '../local/host/host';
import { REPO_ROOT, json, startTestHost, type Json } from './http';

/** A consortium for tests: founders with keys held in memory, written to a file the app reads. */
export interface TestBank {
  id: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newBank(id: string): Promise<TestBank> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { id, privateKey, publicJwk };
}

export async function testConsortium(
  overrides: Partial<ConsortiumConfig> = {},
  founders = ['bank-a', 'bank-b', 'bank-c'],
): Promise<{ config: ConsortiumConfig; banks: Record<string, TestBank>; file: string }> {
  const banks: Record<string, TestBank> = {};
  for (const id of founders) banks[id] = await newBank(id);
  const config: ConsortiumConfig = {
    name: 'Test Consortium',
    policy: { kind: 'majority' },
    votingWindow: 'P7D',
    members: founders.map((id, i) => ({
      id,
      legalName: `O=Founder ${String.fromCharCode(65 + (i % 26))}${i >= 26 ? i : ''}, L=London, C=GB`,
      governanceKey: banks[id]!.publicJwk,
      contacts: { email: [`ops@${id}.example`] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: `rg-${id}`,
        region: 'uksouth',
        addressSpace: `10.${Math.floor(i / 256) + 1}.${i % 256}.0/24`,
      },
      profile: 'Small',
    })),
    ...overrides,
  };
  const dir = join(REPO_ROOT, '.trustnet', 'test', 'consortia');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(config));
  return { config, banks, file };
}

/**
 * Timers that run every few minutes in production. The virtual clock fires every occurrence on the way
 * (a simulated week of scaling needs each one), so a test that jumps 30 days would run tens of
 * thousands of sweeps: tests run them daily unless they are what the test is about.
 */
const QUIET_SCHEDULES = {
  TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 30 4 * * *',
  TRUSTNET_SCALING_SCHEDULE: '0 45 4 * * *',
};

export type TestConsortium = Awaited<ReturnType<typeof testConsortium>>;

/**
 * Starts TrustNet itself in-process on a virtual clock, against the run's Azurite, with its own tables.
 * Given the consortium (not only its file), the result also signs as its founders: `signedAction`,
 * `vote`, `apply`, `applyAndApprove` (see `trustNetHelpers`).
 */
export async function startTrustNet(
  consortium: string | TestConsortium,
  options: { latencyFactor?: number; schedules?: Partial<Record<keyof typeof QUIET_SCHEDULES, string>> } = {},
) {
  const file = typeof consortium === 'string' ? consortium : consortium.file;
  process.env['TRUSTNET_CONSORTIUM_FILE'] = file;
  for (const [name, quiet] of Object.entries(QUIET_SCHEDULES))
    process.env[name] = options.schedules?.[name as keyof typeof QUIET_SCHEDULES] ?? quiet;
  process.env['TRUSTNET_TASK_HUB'] = `T${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  process.env['TRUSTNET_KEY_VAULT_URL'] ??= 'https://trustnet-platform.vault.azure.net';
  process.env['TRUSTNET_PLATFORM_PRINCIPAL_ID'] ??= '00000000-0000-4000-8000-000000000001';
  process.env['TRUSTNET_POLL_INTERVAL'] ??= 'PT1S';
  // Instant by default: tests move time with the virtual clock when they want latency.
  const cloud = await startLocalCloud({ latencyFactor: options.latencyFactor ?? 0 });
  const host = await startTestHost({
    appDir: REPO_ROOT,
    loadLocalSettings: false,
    virtualClock: true,
    admin: (method, path, body) => cloud.admin(method, path, body),
  });
  const started = Object.assign(host, { cloud });
  return Object.assign(
    started,
    trustNetHelpers(started, typeof consortium === 'string' ? undefined : consortium),
  );
}

/**
 * Polls `read` until `done` holds (every 25 ms, 3200 tries: about 80 s, generous on a busy 2-core
 * machine) and returns the last value; otherwise throws naming `what` and the last value (`show` picks
 * what of it to print).
 */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  options: { tries?: number; show?: (v: T) => unknown } = {},
): Promise<T> {
  let last = await read();
  for (let i = 0; i < (options.tries ?? 3200) && !done(last); i++) {
    await new Promise((r) => setTimeout(r, 25));
    last = await read();
  }
  if (!done(last))
    throw new Error(
      `${what}: still ${JSON.stringify(options.show ? options.show(last) : last).slice(0, 3000)}`,
    );
  return last;
}

type Started = RunningHost & { cloud: Awaited<ReturnType<typeof startLocalCloud>> };

/** Helpers bound to a started host (and, for the signing ones, to its consortium). */
export function trustNetHelpers(host: Started, consortium?: TestConsortium) {
  const now = () => new Date(host.clock.now());
  const founders = () => {
    if (!consortium) throw new Error('startTrustNet was given a file: pass the consortium to sign as it');
    return consortium;
  };
  /** A request to the host's /admin (or any) path: GET without a body, POST with one. */
  const admin = (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') =>
    fetch(`${host.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  /** What is in the local cloud, as text to look for names in. */
  const resources = async () => JSON.stringify((await json(await admin('/admin/cloud/resources'))).resources);
  const request = async (id: string): Promise<Json> =>
    json(await fetch(`${host.url}/api/membership-requests/${id}`));
  const member = async (id: string): Promise<Json> => json(await fetch(`${host.url}/api/members/${id}`));
  const outbox = async (): Promise<Json[]> =>
    (await json(await admin('/admin/cloud/outbox'))).items as Json[];
  /** A durable instance's status, undefined while it does not exist. */
  const instance = async (instanceId: string): Promise<Json> => {
    const res = await fetch(
      `${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`,
    );
    return res.status === 404 ? undefined : json(res);
  };
  /** A resource group the applicant prepared (delegated) in the local cloud. */
  const prepareResourceGroup = (azure: { subscriptionId: string; resourceGroup: string; region: string }) =>
    admin('/admin/cloud/resource-groups', {
      subscriptionId: azure.subscriptionId,
      resourceGroup: azure.resourceGroup,
      location: azure.region,
    });
  /** An action a founder signs (`consortium`, `actor` and `issuedAt` filled in) sent to `path`. */
  async function signedAction(
    path: string,
    payload: Record<string, unknown>,
    as = 'bank-a',
    method = 'POST',
  ) {
    const c = founders();
    const body = { consortium: c.config.name, actor: as, issuedAt: now().toISOString(), ...payload };
    return joseRequest(`${host.url}${path}`, await sign(body, c.banks[as]!.privateKey, { kid: as }), method);
  }
  /**
   * A founder (`by`) proposes `action` on `subject` (reason "<action> <subject>" unless `fields` give
   * one); the proposal must be accepted (202). Answers its id.
   */
  async function propose(
    subject: string,
    action: string,
    fields: Record<string, unknown> = {},
    by = 'bank-a',
  ): Promise<string> {
    const res = await signedAction(
      `/api/members/${subject}/proposals`,
      { action, subject, reason: `${action} ${subject}`, ...fields },
      by,
    );
    expect(res.status).toBe(202);
    return (await json(res)).id as string;
  }
  /** A founder's vote (approve, "ok" unless `fields` say otherwise) on a request or, with `on`, a proposal. */
  async function vote(
    id: string,
    voter: string,
    fields: Record<string, unknown> = {},
    on: 'membership-requests' | 'proposals' = 'membership-requests',
  ) {
    const c = founders();
    const body = {
      consortium: c.config.name,
      requestId: id,
      voter,
      decision: 'approve',
      reason: 'ok',
      issuedAt: now().toISOString(),
      ...fields,
    };
    return joseRequest(
      `${host.url}/api/${on}/${id}/votes`,
      await sign(body, c.banks[voter]!.privateKey, { kid: voter }),
    );
  }
  /** A new bank (its own key unless `key`) applies; see `applicantPayload` for the two overrides. */
  async function apply(
    applicant: Record<string, unknown> = {},
    overrides: Record<string, unknown> = {},
    key?: TestBank,
  ) {
    const bank = key ?? (await newBank('applicant'));
    const payload = applicantPayload(founders().config.name, now(), overrides, applicant);
    const jws = await sign(payload, bank.privateKey, { jwk: bank.publicJwk });
    const res = await joseRequest(`${host.url}/api/membership-requests`, jws);
    return { payload, res, jws, key: bank };
  }
  /**
   * The whole way in: the bank prepares its resource group (unless `prepare` is false), applies, and
   * `voters` approve; each step must be answered 201 or 202.
   */
  async function applyAndApprove(
    applicant: Record<string, unknown> = {},
    options: { prepare?: boolean; voters?: string[]; key?: TestBank } = {},
  ) {
    const key = options.key ?? (await newBank('applicant'));
    const payload = applicantPayload(founders().config.name, now(), {}, applicant);
    if (options.prepare !== false)
      expect((await prepareResourceGroup(payload.applicant.azure)).status).toBe(201);
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);
    for (const voter of options.voters ?? ['bank-a', 'bank-b'])
      expect((await vote(payload.requestId, voter)).status).toBe(202);
    return { payload, key, id: payload.requestId };
  }
  /** Waits until a membership request (or, with `on`, a proposal) is no longer in its vote. */
  const settled = (id: string, on: 'membership-requests' | 'proposals' = 'membership-requests') =>
    until(
      `${id} still voting`,
      async (): Promise<Json> => json(await fetch(`${host.url}/api/${on}/${id}`)),
      (v) => v.phase !== 'voting',
    );
  /** Waits for a membership request to reach one of `phases`. */
  const phase = (id: string, phases: string[]) =>
    until(
      `request ${id} to be ${phases.join(' or ')}`,
      () => request(id),
      (r) => phases.includes(r.phase),
    );
  return {
    now,
    admin,
    resources,
    request,
    member,
    outbox,
    instance,
    prepareResourceGroup,
    signedAction,
    propose,
    vote,
    apply,
    applyAndApprove,
    phase,
    settled,
    until,
  };
}

export async function sign(
  payload: unknown,
  key: CryptoKey,
  header: { jwk?: JWK; kid?: string },
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', ...header })
    .sign(key);
}

export function joseRequest(url: string, jws: string, method = 'POST'): Promise<Response> {
  return fetch(url, { method, headers: { 'content-type': 'application/jose' }, body: jws });
}

export function applicantPayload(
  consortium: string,
  now: Date,
  overrides: Record<string, unknown> = {},
  applicant: Record<string, unknown> = {},
) {
  return {
    consortium,
    requestId: randomUUID(),
    applicant: {
      id: 'bank-d',
      legalName: 'O=Bank D, L=Madrid, C=ES',
      contacts: { email: ['ops@bank-d.example'] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-bank-d',
        region: 'uksouth',
        addressSpace: '10.40.0.0/16',
      },
      profile: 'Medium',
      ...applicant,
    },
    issuedAt: now.toISOString(),
    ...overrides,
  };
}
