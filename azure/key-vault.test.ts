import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { KeyClient } from '@azure/keyvault-keys';
import { describeCertificate, issueNodeCa, selfSignedRoot, type Signer } from '../core/certificates';
import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { KeyVaultEmulator } from '../local/cloud/keyvault';
import { toVaultError, vaultAdapter, VaultError } from './key-vault';

const T0 = Date.UTC(2026, 2, 1);
let run = 0;

function world() {
  const prefix = `kva${Date.now()}${run++}`;
  const clock = { now: T0 };
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
    now: () => clock.now,
    latencyFactor: 0,
  });
  const opts = {
    credential: new LocalCloudCredential(),
    httpClient: cloudHttpClient(emulator.handle),
    // Short waits so retried faults keep the test fast; the count is the production one.
    retryOptions: { retryDelayInMs: 1, maxRetryDelayInMs: 2 },
  };
  return {
    clock,
    faults,
    emulator,
    opts,
    vault: (name: string) => vaultAdapter(`https://${name}.vault.azure.net`, opts),
  };
}

function softwareCa(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    algorithm: 'ES256',
    publicKeyJwk: publicKey.export({ format: 'jwk' }),
    sign: async (data) => nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
}

async function failure(p: Promise<unknown>): Promise<VaultError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof VaultError) return e;
    throw e;
  }
  throw new Error('expected a VaultError');
}

describe('vaultAdapter', () => {
  it('creates a non-exportable EC P-256 key once and signs ES256 with it through Key Vault', async () => {
    const w = world();
    const vault = w.vault('platform');
    const first = await vault.ensureEcKey('gov');
    const second = await vault.ensureEcKey('gov');
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.kid).toBe(first.kid);
    expect(first.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect((await w.emulator.snapshot())['platform']!.keys).toEqual([
      { name: 'gov', kty: 'EC', crv: 'P-256', exportable: false, managed: false, deleted: false },
    ]);
    const signer = await vault.signer('gov');
    expect(signer.keyId).toBe(first.kid);
    const data = Buffer.from('to be signed');
    const signature = await signer.sign(data);
    const pub = createPublicKey({ key: first.jwk, format: 'jwk' });
    expect(nodeVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
  });

  it('refuses a key that cannot sign ES256, and a key that is not there', async () => {
    const w = world();
    const keys = new KeyClient('https://platform.vault.azure.net', w.opts.credential, w.opts);
    await keys.createRsaKey('rsa', { keySize: 2048 });
    await keys.createEcKey('p384', { curve: 'P-384' });
    const vault = w.vault('platform');
    expect(await failure(vault.signer('rsa'))).toMatchObject({
      code: 'VAULT.KEY_UNSUPPORTED',
      transient: false,
    });
    expect(await failure(vault.ensureEcKey('p384'))).toMatchObject({ code: 'VAULT.KEY_UNSUPPORTED' });
    expect(await failure(vault.signer('missing'))).toMatchObject({
      code: 'VAULT.NOT_FOUND',
      azureCode: 'KeyNotFound',
      status: 404,
      transient: false,
    });
  });

  it('runs the node certificate steps one call at a time, idempotently', async () => {
    const w = world();
    const bank = w.vault('bank-a');
    const legalName = 'O=Bank A, L=London, C=GB';
    const begun = await bank.beginCertificate('node-ca', legalName, {
      exportable: false,
      validityMonths: 12,
    });
    expect('csrPem' in begun).toBe(true);
    const { csrPem } = begun as { csrPem: string };
    // A retried step gets the same pending CSR rather than a second operation.
    expect(
      await bank.beginCertificate('node-ca', legalName, { exportable: false, validityMonths: 12 }),
    ).toEqual({
      csrPem,
    });
    expect(await bank.pendingCsr('node-ca')).toEqual({ csrPem, status: 'inProgress' });
    expect(await bank.getCertificate('node-ca')).toBeUndefined();

    const ca = softwareCa();
    const caPem = await selfSignedRoot({
      subject: 'CN=CA',
      signer: ca,
      serial: '01',
      notBefore: new Date(T0),
      notAfter: new Date(T0 + 400 * 86_400_000),
    });
    const leaf = await issueNodeCa({
      csrPem,
      legalName,
      issuerPem: caPem,
      issuerSigner: ca,
      serial: '1234',
      notBefore: new Date(T0),
      notAfter: new Date(T0 + 365 * 86_400_000),
    });
    const merged = await bank.mergeCertificate('node-ca', [leaf, caPem]);
    expect(merged).toEqual({ thumbprint: describeCertificate(leaf).thumbprint, serial: '1234' });
    // Merging again (the activity ran twice) succeeds with the same answer.
    expect(await bank.mergeCertificate('node-ca', [leaf, caPem])).toEqual(merged);
    const stored = await bank.getCertificate('node-ca');
    expect(stored).toMatchObject({ pem: leaf, serial: '1234', subject: legalName });
    expect(await bank.pendingCsr('node-ca')).toMatchObject({ status: 'completed' });
    expect(
      await bank.beginCertificate('node-ca', legalName, { exportable: false, validityMonths: 12 }),
    ).toEqual({
      done: true,
    });

    // Renewal: a new pending version; the completed one stays what getCertificate answers.
    const renewal = await bank.beginCertificate('node-ca', legalName, {
      exportable: false,
      validityMonths: 12,
      renew: true,
    });
    expect((renewal as { csrPem: string }).csrPem).not.toBe(csrPem);
    expect((await bank.getCertificate('node-ca'))?.thumbprint).toBe(merged.thumbprint);
    await bank.deleteCertificate('node-ca');
    expect(await bank.getCertificate('node-ca')).toBeUndefined();
    await expect(bank.deleteCertificate('never-there')).resolves.toBeUndefined();
  });

  it('stores, reads and deletes secrets, answering undefined for missing ones', async () => {
    const w = world();
    const vault = w.vault('platform');
    await vault.setSecret('vpn', 'k1', { link: 'a-b' });
    expect(await vault.getSecret('vpn')).toBe('k1');
    expect(await vault.readSecret('vpn')).toMatchObject({ value: 'k1', tags: { link: 'a-b' } });
    expect(await vault.getSecret('nope')).toBeUndefined();
    await vault.deleteSecret('vpn');
    expect(await vault.getSecret('vpn')).toBeUndefined();
    await expect(vault.deleteSecret('vpn')).resolves.toBeUndefined();
  });

  it('turns throttling, outages and timeouts into transient errors after the SDK’s short retries', async () => {
    const w = world();
    const vault = w.vault('platform');
    await vault.setSecret('s', 'value');
    w.faults.set([{ operation: 'keyvault:secrets.get', kind: 'throttle', count: 0, retryAfterSeconds: 0 }]);
    const throttled = await failure(vault.getSecret('s'));
    expect(throttled).toMatchObject({
      code: 'VAULT.THROTTLED',
      transient: true,
      status: 429,
      azureCode: 'TooManyRequests',
    });
    expect(w.faults.list()[0]!.fired).toBe(3);
    w.faults.set([{ operation: 'keyvault:secrets.get', kind: 'server', count: 0 }]);
    expect(await failure(vault.getSecret('s'))).toMatchObject({
      code: 'VAULT.UNAVAILABLE',
      transient: true,
      status: 500,
    });
    w.faults.set([{ operation: 'keyvault:secrets.get', kind: 'timeout', count: 0 }]);
    expect(await failure(vault.getSecret('s'))).toMatchObject({ code: 'VAULT.UNAVAILABLE', transient: true });
    // One blip is absorbed by the SDK's retry.
    w.faults.set([{ operation: 'keyvault:secrets.get', kind: 'server', count: 1 }]);
    expect(await vault.getSecret('s')).toBe('value');
  });

  it('turns refusals into permanent errors that name the operation but never the secret value', async () => {
    const w = world();
    const vault = w.vault('platform');
    w.faults.set([
      {
        operation: 'keyvault:secrets.set',
        kind: 'error',
        status: 403,
        code: 'Forbidden',
        message: 'Access denied.',
      },
    ]);
    const denied = await failure(vault.setSecret('vpn', 'super-secret-value'));
    expect(denied).toMatchObject({
      code: 'VAULT.FORBIDDEN',
      transient: false,
      status: 403,
      azureCode: 'Forbidden',
    });
    expect(denied.message).toContain('set secret vpn');
    expect(denied.message).not.toContain('super-secret-value');
    expect(JSON.stringify(denied)).not.toContain('super-secret-value');
    expect(w.faults.list()[0]!.fired).toBe(1);
  });

  it('classifies errors that never reached Key Vault', () => {
    expect(toVaultError('x', Object.assign(new Error('boom'), { name: 'AbortError' }))).toMatchObject({
      code: 'VAULT.UNAVAILABLE',
      transient: true,
    });
    expect(toVaultError('x', new Error('odd'))).toMatchObject({ code: 'VAULT.FAILED', transient: false });
  });
});
