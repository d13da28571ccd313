import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { ConsortiumConfig, FounderConfig } from '../runtime/consortium';

/**
 * A consortium of three founders for local use, with their private keys beside it (never for Azure:
 * real banks keep their keys in their own Key Vaults). Written once into the data folder and reused.
 */
export const SAMPLE_FOUNDERS = [
  { id: 'bank-a', legalName: 'O=Bank A, L=London, C=GB', region: 'uksouth', addressSpace: '10.1.0.0/16' },
  {
    id: 'bank-b',
    legalName: 'O=Bank B, L=Frankfurt, C=DE',
    region: 'germanywestcentral',
    addressSpace: '10.2.0.0/16',
  },
  {
    id: 'bank-c',
    legalName: 'O=Bank C, L=Paris, C=FR',
    region: 'francecentral',
    addressSpace: '10.3.0.0/16',
  },
] as const;

export interface SampleConsortium {
  file: string;
  keysDir: string;
  config: ConsortiumConfig;
}

export function sampleKeyFile(keysDir: string, memberId: string): string {
  return join(keysDir, `${memberId}.private.jwk.json`);
}

export async function generateKeyFiles(keysDir: string, name: string): Promise<JWK> {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const priv = { ...(await exportJWK(privateKey)), alg: 'ES256' };
  const pub = { ...(await exportJWK(publicKey)), alg: 'ES256' };
  const file = sampleKeyFile(keysDir, name);
  writeFileSync(file, JSON.stringify(priv, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  writeFileSync(join(keysDir, `${name}.public.jwk.json`), JSON.stringify(pub, null, 2) + '\n');
  return pub;
}

export async function ensureSampleConsortium(dataDir: string): Promise<SampleConsortium> {
  const dir = join(dataDir, 'consortium');
  const file = join(dir, 'consortium.json');
  const keysDir = join(dir, 'keys');
  if (existsSync(file))
    return { file, keysDir, config: JSON.parse(readFileSync(file, 'utf8')) as ConsortiumConfig };
  mkdirSync(dir, { recursive: true });
  const members: FounderConfig[] = [];
  for (const [i, f] of SAMPLE_FOUNDERS.entries()) {
    const { alg: _alg, ...governanceKey } = await generateKeyFiles(keysDir, f.id);
    members.push({
      id: f.id,
      legalName: f.legalName,
      governanceKey,
      contacts: { email: [`ops@${f.id}.example`] },
      azure: {
        tenantId: `0000000${i + 1}-0000-4000-8000-000000000000`,
        subscriptionId: `1000000${i + 1}-0000-4000-8000-000000000000`,
        resourceGroup: `rg-trustnet-${f.id}`,
        region: f.region,
        addressSpace: f.addressSpace,
      },
      profile: 'Small',
    });
  }
  const config: ConsortiumConfig = {
    name: 'TrustNet Local',
    regions: ['uksouth', 'germanywestcentral', 'francecentral', 'westeurope', 'northeurope'],
    policy: { kind: 'majority' },
    votingWindow: 'P7D',
    members,
  };
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
  return { file, keysDir, config };
}
