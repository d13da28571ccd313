import { webcrypto, X509Certificate } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { KeyClient } from '@azure/keyvault-keys';
import { CordaRole, describeCertificate, formatName, verifyChain, x509 } from '../core/certificates';
import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential, type CloudHandler } from '../local/cloud/http';
import { KeyVaultEmulator } from '../local/cloud/keyvault';
import { CA_LOCK, consortiumCa, DOORMAN_CERT_SECRET, ROOT_CERT_SECRET } from './consortium-ca';
import { vaultAdapter, VaultError } from './key-vault';

const T0 = Date.UTC(2026, 3, 15, 13, 30);
const LEGAL_NAME = 'O=Bank C, L=Paris, C=FR';
let run = 0;

function world() {
  const prefix = `ca${Date.now()}${run++}`;
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
  const requests: string[] = [];
  const handler: CloudHandler = async (req) => {
    const res = await emulator.handle(req);
    requests.push(`${req.method} ${req.url.host}${req.url.pathname} ${res.status}`);
    return res;
  };
  const opts = {
    credential: new LocalCloudCredential(),
    httpClient: cloudHttpClient(handler),
    retryOptions: { retryDelayInMs: 1, maxRetryDelayInMs: 2 },
  };
  const vault = (name: string) => vaultAdapter(`https://${name}.vault.azure.net`, opts);
  const ca = () =>
    consortiumCa(vault('platform'), {
      consortiumName: 'TrustNet Test',
      now: () => new Date(clock.now),
      lockPollMs: 10,
      lockWaitMs: 10_000,
    });
  return { clock, faults, emulator, requests, opts, vault, ca };
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

describe('consortiumCa', () => {
  it('creates the root and doorman once, with non-exportable keys, and reads them back afterwards', async () => {
    const w = world();
    const ca = w.ca();
    const first = await ca.ensure();
    const second = await ca.ensure();
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second).toEqual({ ...first, created: false });
    // Another instance (another Functions worker) reads what the first made.
    const elsewhere = await w.ca().ensure();
    expect(elsewhere).toEqual({ ...first, created: false });

    const root = describeCertificate(first.rootPem);
    const doorman = describeCertificate(first.doormanPem);
    expect(root).toMatchObject({
      subject: 'CN=TrustNet Test Root CA, O=TrustNet Test, L=London, C=GB',
      isCa: true,
    });
    expect(root.cordaRole).toBeUndefined();
    expect(doorman).toMatchObject({
      subject: 'CN=TrustNet Test Doorman CA, O=TrustNet Test, L=London, C=GB',
      issuer: root.subject,
      cordaRole: CordaRole.DOORMAN_CA,
      isCa: true,
    });
    // Validity from the start of the day: root 10 years, doorman 5.
    expect(root.notBefore.toISOString()).toBe('2026-04-15T00:00:00.000Z');
    expect(root.notAfter.toISOString()).toBe('2036-04-15T00:00:00.000Z');
    expect(doorman.notAfter.toISOString()).toBe('2031-04-15T00:00:00.000Z');

    const platform = (await w.emulator.snapshot())['platform']!;
    expect(platform.keys.filter((k) => !k.managed)).toEqual([
      {
        name: 'trustnet-doorman-ca',
        kty: 'EC',
        crv: 'P-256',
        exportable: false,
        managed: false,
        deleted: false,
      },
      {
        name: 'trustnet-root-ca',
        kty: 'EC',
        crv: 'P-256',
        exportable: false,
        managed: false,
        deleted: false,
      },
    ]);
    expect(platform.secrets).toEqual([DOORMAN_CERT_SECRET, ROOT_CERT_SECRET]);
    // The lock was released: no pending operation is left behind.
    expect(platform.certificates.filter((c) => c.name === CA_LOCK && c.status === 'pending')).toEqual([]);
  });

  it('creates once when several workers ask at the same moment', async () => {
    const w = world();
    const results = await Promise.all([w.ca().ensure(), w.ca().ensure(), w.ca().ensure()]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.rootPem)).size).toBe(1);
    expect(new Set(results.map((r) => r.doormanPem)).size).toBe(1);
    const snap = (await w.emulator.snapshot())['platform']!;
    expect(snap.secrets).toEqual([DOORMAN_CERT_SECRET, ROOT_CERT_SECRET]);
    // One key version each: nobody created a second root or doorman key.
    const keys = new KeyClient('https://platform.vault.azure.net', w.opts.credential, w.opts);
    for (const name of ['trustnet-root-ca', 'trustnet-doorman-ca']) {
      const versions = [];
      for await (const v of keys.listPropertiesOfKeyVersions(name)) versions.push(v.version);
      expect(versions).toHaveLength(1);
    }
    const sameInstance = w.ca();
    const [a, b] = await Promise.all([sameInstance.ensure(), sameInstance.ensure()]);
    expect([a.created, b.created]).toEqual([false, false]);
  });

  it('breaks a lock left by a worker that died, once it is stale', async () => {
    const w = world();
    const platform = w.vault('platform');
    expect(await platform.tryLock(CA_LOCK, new Date(w.clock.now), 60_000)).toBe(true);
    const waiting = consortiumCa(platform, {
      consortiumName: 'TrustNet Test',
      now: () => new Date(w.clock.now),
      lockPollMs: 5,
      lockWaitMs: 200,
    });
    expect(await failure(waiting.ensure())).toMatchObject({ code: 'VAULT.BUSY', transient: true });
    w.clock.now += 11 * 60_000;
    await expect(w.ca().ensure()).resolves.toMatchObject({ created: true });
  });

  it('signs a bank vault’s CSR with the doorman key in Key Vault; the merged chain verifies to the root', async () => {
    const w = world();
    const ca = w.ca();
    const { rootPem, doormanPem } = await ca.ensure();
    const bank = w.vault('bank-c');
    const begun = await bank.beginCertificate('corda-node-ca', LEGAL_NAME, {
      exportable: false,
      validityMonths: 12,
    });
    const { csrPem } = begun as { csrPem: string };

    w.requests.length = 0;
    const { certPem, chainPems } = await ca.signNodeCsr({ csrPem, legalName: LEGAL_NAME, serial: '7e57' });
    expect(chainPems).toEqual([certPem, doormanPem, rootPem]);
    // The doorman's key version signed it, in the platform vault.
    expect(
      w.requests.filter((r) =>
        /platform\.vault\.azure\.net\/keys\/trustnet-doorman-ca\/[0-9a-f]{32}\/sign 200$/.test(r),
      ),
    ).toHaveLength(1);

    const merged = await bank.mergeCertificate('corda-node-ca', chainPems);
    const snap = (await w.emulator.snapshot())['bank-c']!;
    expect(snap.certificates).toEqual([
      {
        name: 'corda-node-ca',
        subject: LEGAL_NAME,
        issuer: 'CN=TrustNet Test Doorman CA, O=TrustNet Test, L=London, C=GB',
        serial: '7e57',
        notBefore: '2026-04-15T00:00:00.000Z',
        notAfter: '2027-04-15T00:00:00.000Z',
        status: 'completed',
      },
    ]);
    const stored = await bank.getCertificate('corda-node-ca');
    expect(stored?.pem).toBe(certPem);
    expect(stored?.thumbprint).toBe(merged.thumbprint);
    // The secret holds the chain the node will load, without the private key.
    const secret = (await bank.getSecret('corda-node-ca'))!;
    expect(secret).not.toMatch(/PRIVATE KEY/);
    expect(secret.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);

    const at = new Date(T0 + 86_400_000);
    expect(verifyChain(certPem, [doormanPem], rootPem, at)).toBe(true);
    const node = describeCertificate(certPem);
    expect(node).toMatchObject({ subject: LEGAL_NAME, cordaRole: CordaRole.NODE_CA, isCa: true });
    // The node CA's key is the bank vault's own (from its CSR).
    const csrKey = new x509.Pkcs10CertificateRequest(csrPem).publicKey;
    const certKey = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    expect(Buffer.from(csrKey.rawData)).toEqual(certKey);
    const bankKey = await new KeyClient('https://bank-c.vault.azure.net', w.opts.credential, w.opts).getKey(
      'corda-node-ca',
    );
    expect(Buffer.from(bankKey.key!.x!)).toEqual(
      Buffer.from(new X509Certificate(certPem).publicKey.export({ format: 'jwk' }).x!, 'base64url'),
    );
  });

  it('refuses a CSR for another legal name, permanently', async () => {
    const w = world();
    const ca = w.ca();
    await ca.ensure();
    const { csrPem } = (await w
      .vault('bank-c')
      .beginCertificate('n', 'O=Bank D, L=Paris, C=FR', { exportable: false, validityMonths: 12 })) as {
      csrPem: string;
    };
    await expect(ca.signNodeCsr({ csrPem, legalName: LEGAL_NAME, serial: '01' })).rejects.toMatchObject({
      code: 'CERT.CSR_SUBJECT_MISMATCH',
    });
  });

  it('reports a throttled signature as transient and a refused one as permanent', async () => {
    const w = world();
    const ca = w.ca();
    await ca.ensure();
    const { csrPem } = (await w
      .vault('bank-c')
      .beginCertificate('n', LEGAL_NAME, { exportable: false, validityMonths: 12 })) as { csrPem: string };
    w.faults.set([{ operation: 'keyvault:keys.sign', kind: 'throttle', count: 0, retryAfterSeconds: 0 }]);
    const throttled = await failure(ca.signNodeCsr({ csrPem, legalName: LEGAL_NAME, serial: '02' }));
    expect(throttled).toMatchObject({ code: 'VAULT.THROTTLED', transient: true, status: 429 });
    w.faults.set([
      {
        operation: 'keyvault:keys.sign',
        kind: 'error',
        status: 403,
        code: 'Forbidden',
        message: 'No sign permission.',
      },
    ]);
    const refused = await failure(ca.signNodeCsr({ csrPem, legalName: LEGAL_NAME, serial: '02' }));
    expect(refused).toMatchObject({ code: 'VAULT.FORBIDDEN', transient: false, azureCode: 'Forbidden' });
    w.faults.clear();
    await expect(ca.signNodeCsr({ csrPem, legalName: LEGAL_NAME, serial: '02' })).resolves.toBeDefined();
  });

  it('publishes a CRL that lists a revoked serial and verifies with the doorman key', async () => {
    const w = world();
    const ca = w.ca();
    const { doormanPem, rootPem } = await ca.ensure();
    const der = await ca.crl([{ serial: '7e57', revokedAt: new Date(T0) }]);
    const crl = new x509.X509Crl(der);
    expect(crl.entries.map((e) => e.serialNumber)).toEqual(['7e57']);
    expect(formatName(crl.issuerName)).toBe(describeCertificate(doormanPem).subject);
    expect(crl.thisUpdate.getTime()).toBe(T0);
    expect(crl.nextUpdate?.getTime()).toBe(T0 + 7 * 86_400_000);
    expect(await crl.verify({ publicKey: new x509.X509Certificate(doormanPem) }, webcrypto)).toBe(true);
    expect(await crl.verify({ publicKey: new x509.X509Certificate(rootPem) }, webcrypto)).toBe(false);
  });
});
