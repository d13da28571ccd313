import { startLocalCloud } from '../local/cloud/start';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { ConsortiumConfig } from '../runtime/consortium';
import { REPO_ROOT, startTestHost } from './http';

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

/** Starts TrustNet itself in-process on a virtual clock, against the run's Azurite, with its own tables. */
/**
 * Timers that run every few minutes in production. The virtual clock fires every occurrence on the way
 * (a simulated week of scaling needs each one), so a test that jumps 30 days would run tens of
 * thousands of sweeps: tests run them daily unless they are what the test is about.
 */
const QUIET_SCHEDULES = {
  TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 30 4 * * *',
  TRUSTNET_SCALING_SCHEDULE: '0 45 4 * * *',
};

export async function startTrustNet(
  file: string,
  options: { latencyFactor?: number; schedules?: Partial<Record<keyof typeof QUIET_SCHEDULES, string>> } = {},
) {
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
  return Object.assign(host, { cloud });
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
