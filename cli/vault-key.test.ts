import { TableClient } from '@azure/data-tables';
import { KeyClient } from '@azure/keyvault-keys';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { KeyVaultEmulator } from '../local/cloud/keyvault';
import { CliError, EXIT } from './errors';
import { readPrivateKey, sign } from './keys';
import { openVaultKey, parseVaultKeyId, type VaultKeyOptions } from './vault-key';
import { generateKeyFiles } from './keys';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let run = 0;

/** A Key Vault emulator reached through the real SDK, as the CLI reaches a bank's vault. */
function world() {
  const prefix = `cliv${Date.now()}${run++}`;
  const faults = new CloudFaults();
  const emulator = new KeyVaultEmulator({
    tables: async (suffix) => {
      const t = TableClient.fromConnectionString(process.env['AzureWebJobsStorage']!, `${prefix}${suffix}`, {
        allowInsecureConnection: true,
      });
      await t.createTable();
      return t;
    },
    faults,
    now: () => Date.now(),
    latencyFactor: 0,
  });
  const options: VaultKeyOptions = {
    credential: new LocalCloudCredential(),
    httpClient: cloudHttpClient(emulator.handle),
    retryOptions: { maxRetries: 0, retryDelayInMs: 1, maxRetryDelayInMs: 2 },
  };
  const vault = 'https://bank-d-kv.vault.azure.net';
  const keys = new KeyClient(vault, options.credential!, {
    httpClient: options.httpClient!,
    retryOptions: { maxRetries: 0 },
  });
  return { faults, options, vault, keys };
}

async function failure(p: Promise<unknown>): Promise<CliError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error('expected a CliError');
}

describe('parseVaultKeyId', () => {
  it('takes a key id with or without a version', () => {
    expect(parseVaultKeyId('https://kv1.vault.azure.net/keys/gov')).toEqual({
      vaultUrl: 'https://kv1.vault.azure.net',
      name: 'gov',
    });
    expect(parseVaultKeyId('https://kv1.vault.azure.net/keys/gov/0123abcd')).toEqual({
      vaultUrl: 'https://kv1.vault.azure.net',
      name: 'gov',
      version: '0123abcd',
    });
  });

  it.each([
    'gov',
    'http://kv1.vault.azure.net/keys/gov',
    'https://kv1.vault.azure.net/secrets/gov',
    'https://kv1.vault.azure.net/keys',
    'https://kv1.vault.azure.net/keys/gov/v1/extra',
    'https://kv1.vault.azure.net/keys/gov?api-version=7.5',
  ])('refuses %s as a usage error', (id) => {
    let error: unknown;
    try {
      parseVaultKeyId(id);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    expect((error as CliError).message).toMatch(/is not a key id/);
  });
});

describe('openVaultKey against the Key Vault emulator', () => {
  it('signs ES256 in the vault: the JWS verifies with the vault key and matches what jose makes', async () => {
    const w = world();
    const created = await w.keys.createEcKey('gov', { curve: 'P-256', keyOps: ['sign', 'verify'] });
    const key = await openVaultKey(`${w.vault}/keys/gov`, w.options);
    expect(key.kind).toBe('vault');
    expect(key.keyId).toBe(created.id);
    expect(key.publicJwk).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: Buffer.from(created.key!.x!).toString('base64url'),
      y: Buffer.from(created.key!.y!).toString('base64url'),
    });

    const payload = { consortium: 'C', action: 'set-profile', subject: 'bank-d', actor: 'bank-d', n: 1 };
    const jws = await sign(payload, key, { kid: 'bank-d' });
    const verified = await compactVerify(jws, await importJWK(key.publicJwk as JWK, 'ES256'));
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toEqual(payload);
    expect(verified.protectedHeader).toEqual({ alg: 'ES256', kid: 'bank-d' });
    expect(Buffer.from(jws.split('.')[2]!, 'base64url')).toHaveLength(64);

    // The same header and payload segments as a key file signed through jose.
    const dir = mkdtempSync(join(tmpdir(), 'trustnet-vault-'));
    try {
      const made = await generateKeyFiles(dir, 'k');
      const fileJws = await sign(payload, await readPrivateKey(made.privateFile), { kid: 'bank-d' });
      expect(jws.split('.').slice(0, 2)).toEqual(fileJws.split('.').slice(0, 2));
      const withJwk = await sign(payload, key, { jwk: key.publicJwk });
      expect(decodeProtectedHeader(withJwk)).toEqual({ alg: 'ES256', jwk: key.publicJwk });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('signs with the version named in the id', async () => {
    const w = world();
    const first = await w.keys.createEcKey('gov', { curve: 'P-256' });
    await w.keys.createEcKey('gov', { curve: 'P-256' });
    const key = await openVaultKey(first.id!, w.options);
    expect(key.keyId).toBe(first.id);
    const jws = await sign({ a: 1 }, key, { kid: 'bank-d' });
    await expect(compactVerify(jws, await importJWK(key.publicJwk as JWK, 'ES256'))).resolves.toBeDefined();
  });

  it('refuses keys that cannot be governance keys, saying why', async () => {
    const w = world();
    await w.keys.createRsaKey('rsa', { keySize: 2048 });
    await w.keys.createEcKey('p384', { curve: 'P-384' });
    await w.keys.createEcKey('verify-only', { curve: 'P-256', keyOps: ['verify'] });
    const off = await w.keys.createEcKey('off', { curve: 'P-256' });
    await w.keys.updateKeyProperties('off', off.properties.version!, { enabled: false });

    const rsa = await failure(openVaultKey(`${w.vault}/keys/rsa`, w.options));
    expect(rsa.exitCode).toBe(EXIT.usage);
    expect(rsa.message).toBe(`key rsa in ${w.vault} is RSA; governance keys are EC P-256 (ES256)`);
    expect((await failure(openVaultKey(`${w.vault}/keys/p384`, w.options))).message).toBe(
      `key p384 in ${w.vault} is EC P-384; governance keys are EC P-256 (ES256)`,
    );
    expect((await failure(openVaultKey(`${w.vault}/keys/verify-only`, w.options))).message).toMatch(
      /does not allow sign/,
    );
    expect((await failure(openVaultKey(`${w.vault}/keys/off`, w.options))).message).toBe(
      `key off in ${w.vault} is disabled; enable it or use another`,
    );
    const missing = await failure(openVaultKey(`${w.vault}/keys/nope`, w.options));
    expect(missing.exitCode).toBe(EXIT.usage);
    expect(missing.message).toBe(`there is no key nope in ${w.vault} (404 KeyNotFound)`);
  });

  it('says when a key is disabled between reading it and signing', async () => {
    const w = world();
    const created = await w.keys.createEcKey('gov', { curve: 'P-256' });
    const key = await openVaultKey(`${w.vault}/keys/gov`, w.options);
    await w.keys.updateKeyProperties('gov', created.properties.version!, { enabled: false });
    const e = await failure(sign({ a: 1 }, key, { kid: 'bank-d' }));
    expect(e.exitCode).toBe(EXIT.usage);
    expect(e.message).toBe(`key gov in ${w.vault} is disabled; enable it or use another`);
  });

  it('turns no access and sign-in failures into clear errors without the service text or a token', async () => {
    const w = world();
    await w.keys.createEcKey('gov', { curve: 'P-256' });
    w.faults.add([
      {
        operation: 'keyvault:keys.get',
        kind: 'error',
        status: 403,
        code: 'Forbidden',
        message: 'Caller is not authorized. Caller: appid=secret-app;oid=0000-secret-oid',
      },
    ]);
    const denied = await failure(openVaultKey(`${w.vault}/keys/gov`, w.options));
    expect(denied.exitCode).toBe(EXIT.usage);
    expect(denied.message).toBe(
      `no access to key gov in ${w.vault} (403 Forbidden): the signed-in identity needs get and sign on keys (the "Key Vault Crypto User" role)`,
    );
    expect(denied.message).not.toMatch(/secret/);

    const key = await openVaultKey(`${w.vault}/keys/gov`, w.options);
    w.faults.add([{ operation: 'keyvault:keys.sign', kind: 'error', status: 403, code: 'Forbidden' }]);
    expect((await failure(sign({ a: 1 }, key, { kid: 'x' }))).message).toMatch(/^no access to key gov/);

    const unavailable = Object.assign(new Error('EnvironmentCredential: AZURE_CLIENT_SECRET=hunter2 ...'), {
      name: 'CredentialUnavailableError',
    });
    const noCredential = await failure(
      openVaultKey(`${w.vault}/keys/gov`, {
        ...w.options,
        credential: { getToken: () => Promise.reject(unavailable) },
      }),
    );
    expect(noCredential.exitCode).toBe(EXIT.usage);
    expect(noCredential.message).toMatch(
      /^cannot sign in to Azure to use key gov in .*: no credential is available \(run az login/,
    );
    expect(noCredential.message).not.toMatch(/hunter2/);
  });
});
