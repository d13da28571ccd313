import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { RestError } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';
import { CertificateClient } from '@azure/keyvault-certificates';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import { derToPem, issueNodeCa, selfSignedRoot, x509, type Signer } from '../../../core/certificates';
import { CloudFaults } from '../faults';
import { cloudHttpClient, LocalCloudCredential, type CloudHandler } from '../http';
import { KeyVaultEmulator, type KeyVaultEmulatorOptions } from './index';

const cs = () => process.env['AzureWebJobsStorage']!;
let run = 0;
function freshTables(): KeyVaultEmulatorOptions['tables'] {
  const prefix = `kv${Date.now()}${run++}`;
  return async (suffix) => {
    const t = TableClient.fromConnectionString(cs(), `${prefix}${suffix}`, { allowInsecureConnection: true });
    await t.createTable();
    return t;
  };
}

const T0 = Date.UTC(2026, 0, 1);

function world(opts: Partial<KeyVaultEmulatorOptions> = {}) {
  const clock = { now: T0 };
  const faults = new CloudFaults();
  const emulator = new KeyVaultEmulator({
    tables: freshTables(),
    faults,
    now: () => clock.now,
    latencyFactor: 0,
    ...opts,
  });
  const seen: Array<{ method: string; path: string; auth: boolean; status: number }> = [];
  const handler: CloudHandler = async (req) => {
    const res = await emulator.handle(req);
    seen.push({
      method: req.method,
      path: req.url.pathname,
      auth: !!req.headers['authorization'],
      status: res.status,
    });
    return res;
  };
  const credential = new LocalCloudCredential();
  const options = { httpClient: cloudHttpClient(handler), retryOptions: { maxRetries: 0 } };
  const url = (vault = 'bank-a') => `https://${vault}.vault.azure.net`;
  return {
    clock,
    faults,
    emulator,
    seen,
    credential,
    options,
    keys: (vault?: string) => new KeyClient(url(vault), credential, options),
    secrets: (vault?: string) => new SecretClient(url(vault), credential, options),
    certs: (vault?: string) => new CertificateClient(url(vault), credential, options),
    crypto: (kid: string) => new CryptographyClient(kid, credential, options),
  };
}

async function rejection(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RestError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

function softwareSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    algorithm: 'ES256',
    publicKeyJwk: publicKey.export({ format: 'jwk' }),
    sign: async (data) => nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
}

const KEY_BAG_OID = Buffer.from('060b2a864886f70d010c0a0101', 'hex');

describe('KeyVaultEmulator through the Azure SDKs', () => {
  it('answers the first request with Key Vault’s challenge, then serves the authenticated retry', async () => {
    const w = world();
    await w.keys().createEcKey('challenge');
    expect(w.seen[0]).toMatchObject({ auth: false, status: 401 });
    expect(w.seen[1]).toMatchObject({ auth: true, status: 200, path: '/keys/challenge/create' });
    const res = await w.emulator.handle({
      method: 'GET',
      url: new URL('https://bank-a.vault.azure.net/keys/x?api-version=7.5'),
      headers: {},
      text: undefined,
      json: undefined,
    });
    expect(res.status).toBe(401);
    expect(res.headers?.['www-authenticate']).toMatch(
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/vault\.azure\.net"$/,
    );
  });

  describe('keys', () => {
    it('creates non-exportable EC keys whose signatures (over client digests) verify with node:crypto', async () => {
      const w = world();
      const key = await w.keys().createEcKey('gov', { curve: 'P-256' });
      expect(key.keyType).toBe('EC');
      expect(key.properties.exportable).toBe(false);
      expect(key.key?.d).toBeUndefined();
      expect(key.keyOperations).toEqual(['sign', 'verify']);
      const jwk = {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(key.key!.x!).toString('base64url'),
        y: Buffer.from(key.key!.y!).toString('base64url'),
      };
      const pub = createPublicKey({ key: jwk, format: 'jwk' });
      const data = Buffer.from('a node CA certificate to be');
      const crypto = w.crypto(key.id!);
      const viaData = await crypto.signData('ES256', data);
      const viaDigest = await crypto.sign('ES256', createHash('sha256').update(data).digest());
      for (const s of [viaData.result, viaDigest.result]) {
        expect(s).toHaveLength(64);
        expect(nodeVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, s)).toBe(true);
      }
      const digest = createHash('sha256').update(data).digest();
      expect((await crypto.verify('ES256', digest, viaData.result)).result).toBe(true);
      expect(
        (await crypto.verify('ES256', createHash('sha256').update('other').digest(), viaData.result)).result,
      ).toBe(false);
      // The sign requests carried a 32-byte digest, never the data.
      expect(w.seen.filter((s) => s.path.endsWith('/sign') && s.status === 200)).toHaveLength(2);
    });

    it('signs ES384, RS256 and PS256 the way node:crypto verifies them', async () => {
      const w = world();
      const data = Buffer.from('payload');
      const ec = await w.keys().createEcKey('p384', { curve: 'P-384' });
      const s384 = (await w.crypto(ec.id!).signData('ES384', data)).result;
      const ecPub = createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-384',
          x: Buffer.from(ec.key!.x!).toString('base64url'),
          y: Buffer.from(ec.key!.y!).toString('base64url'),
        },
        format: 'jwk',
      });
      expect(nodeVerify('sha384', data, { key: ecPub, dsaEncoding: 'ieee-p1363' }, s384)).toBe(true);
      const rsa = await w.keys().createRsaKey('rsa', { keySize: 2048 });
      const rsaPub = createPublicKey({
        key: {
          kty: 'RSA',
          n: Buffer.from(rsa.key!.n!).toString('base64url'),
          e: Buffer.from(rsa.key!.e!).toString('base64url'),
        },
        format: 'jwk',
      });
      const digest = createHash('sha256').update(data).digest();
      const rs = (await w.crypto(rsa.id!).sign('RS256', digest)).result;
      expect(nodeVerify('sha256', data, rsaPub, rs)).toBe(true);
      const ps = (await w.crypto(rsa.id!).sign('PS256', digest)).result;
      expect(
        nodeVerify(
          'sha256',
          data,
          { key: rsaPub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
          ps,
        ),
      ).toBe(true);
    });

    it('refuses a wrong algorithm or digest, and unknown keys, as Key Vault does', async () => {
      const w = world();
      const key = await w.keys().createEcKey('k1');
      const bad = await rejection(w.crypto(key.id!).sign('ES384', Buffer.alloc(48)));
      expect([bad.statusCode, bad.code]).toEqual([400, 'BadParameter']);
      const short = await rejection(w.crypto(key.id!).sign('ES256', Buffer.alloc(20)));
      expect([short.statusCode, short.code]).toEqual([400, 'BadParameter']);
      const missing = await rejection(w.keys().getKey('nope'));
      expect([missing.statusCode, missing.code]).toEqual([404, 'KeyNotFound']);
    });

    it('keeps versions, lists keys, and soft-deletes (name unusable until purged)', async () => {
      const w = world();
      const first = await w.keys().createEcKey('rot');
      const second = await w.keys().createEcKey('rot');
      expect(second.properties.version).not.toBe(first.properties.version);
      expect((await w.keys().getKey('rot')).properties.version).toBe(second.properties.version);
      expect((await w.keys().getKey('rot', { version: first.properties.version! })).id).toBe(first.id);
      const versions = [];
      for await (const v of w.keys().listPropertiesOfKeyVersions('rot')) versions.push(v.version);
      expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());
      const names = [];
      for await (const k of w.keys().listPropertiesOfKeys()) names.push(k.name);
      expect(names).toEqual(['rot']);
      const poller = await w.keys().beginDeleteKey('rot');
      const deleted = await poller.pollUntilDone();
      expect(deleted.properties.recoveryId).toBe('https://bank-a.vault.azure.net/deletedkeys/rot');
      expect((await rejection(w.keys().getKey('rot'))).statusCode).toBe(404);
      const reuse = await rejection(w.keys().createEcKey('rot'));
      expect([reuse.statusCode, reuse.code]).toEqual([409, 'Conflict']);
      await w.keys().purgeDeletedKey('rot');
      await expect(w.keys().createEcKey('rot')).resolves.toBeDefined();
    });
  });

  describe('secrets', () => {
    it('sets, reads by version, lists properties across pages, and refuses a disabled secret', async () => {
      const w = world();
      const v1 = await w.secrets().setSecret('vpn-key', 's3cret-1', { tags: { member: 'bank-a' } });
      const v2 = await w.secrets().setSecret('vpn-key', 's3cret-2', { contentType: 'text/plain' });
      expect((await w.secrets().getSecret('vpn-key')).value).toBe('s3cret-2');
      const old = await w.secrets().getSecret('vpn-key', { version: v1.properties.version! });
      expect([old.value, old.properties.tags]).toEqual(['s3cret-1', { member: 'bank-a' }]);
      for (let i = 0; i < 26; i++) await w.secrets().setSecret(`s-${String(i).padStart(2, '0')}`, `v${i}`);
      const names: string[] = [];
      for await (const p of w.secrets().listPropertiesOfSecrets()) names.push(p.name);
      expect(names).toHaveLength(27);
      expect(names).toContain('vpn-key');
      expect(w.seen.some((s) => s.path === '/secrets' && s.status === 200)).toBe(true);
      await w.secrets().updateSecretProperties('vpn-key', v2.properties.version!, { enabled: false });
      const off = await rejection(w.secrets().getSecret('vpn-key'));
      expect([off.statusCode, off.code]).toEqual([403, 'Forbidden']);
      const missing = await rejection(w.secrets().getSecret('nope'));
      expect([missing.statusCode, missing.code]).toEqual([404, 'SecretNotFound']);
      await (await w.secrets().beginDeleteSecret('s-00')).pollUntilDone();
      expect((await rejection(w.secrets().getSecret('s-00'))).statusCode).toBe(404);
      expect((await w.secrets().getDeletedSecret('s-00')).name).toBe('s-00');
    });
  });

  describe('certificates', () => {
    it('issues a Self certificate after its latency, with its key and an exportable PKCS#12 secret', async () => {
      const w = world({ latencyFactor: 1 });
      await w.certs().beginCreateCertificate('tls', {
        issuerName: 'Self',
        subject: 'CN=node.bank-a.example, O=Bank A',
        keyType: 'EC',
        keyCurveName: 'P-256',
        exportable: true,
        validityInMonths: 12,
      });
      expect(
        (await w.certs().getCertificateOperation('tls')).getOperationState().certificateOperation?.status,
      ).toBe('inProgress');
      w.clock.now += 5_000;
      const op = (await w.certs().getCertificateOperation('tls')).getOperationState().certificateOperation!;
      expect(op.status).toBe('completed');
      const cert = await w.certs().getCertificate('tls');
      const x = new X509Certificate(Buffer.from(cert.cer!));
      expect(x.subject).toBe('O=Bank A\nCN=node.bank-a.example');
      expect(x.issuer).toBe(x.subject);
      expect(x.verify(x.publicKey)).toBe(true);
      expect(new Date(x.validFrom).getTime()).toBe(T0);
      expect(Buffer.from(cert.properties.x509Thumbprint!)).toEqual(createHash('sha1').update(x.raw).digest());
      expect(cert.keyId).toBe(`https://bank-a.vault.azure.net/keys/tls/${cert.properties.version}`);
      const key = await w.keys().getKey('tls');
      expect(key.properties.version).toBe(cert.properties.version);
      expect(key.properties.managed).toBe(true);
      // The certificate's key signs, and the certificate's public key verifies it.
      const data = Buffer.from('hello');
      const sig = (await w.crypto(key.id!).signData('ES256', data)).result;
      expect(nodeVerify('sha256', data, { key: x.publicKey, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      const secret = await w.secrets().getSecret('tls');
      expect(secret.properties.contentType).toBe('application/x-pkcs12');
      const pfx = Buffer.from(secret.value!, 'base64');
      expect(pfx.includes(KEY_BAG_OID)).toBe(true);
      expect(() => createSecureContext({ pfx })).not.toThrow();
      const byVersion = await w.certs().getCertificateVersion('tls', cert.properties.version!);
      expect(Buffer.from(byVersion.cer!)).toEqual(x.raw);
      const listed: string[] = [];
      for await (const c of w.certs().listPropertiesOfCertificates()) listed.push(c.name!);
      expect(listed).toEqual(['tls']);
      const policy = await w.certs().getCertificatePolicy('tls');
      expect(policy).toMatchObject({
        issuerName: 'Self',
        keyType: 'EC',
        keyCurveName: 'P-256',
        exportable: true,
      });
    });

    it('keeps an Unknown-issuer certificate pending with a real CSR until a matching chain is merged', async () => {
      const w = world();
      const subject = 'O=Bank A, L=London, C=GB';
      await w.certs().beginCreateCertificate('node-ca', {
        issuerName: 'Unknown',
        subject,
        keyType: 'EC',
        keyCurveName: 'P-256',
        exportable: false,
        contentType: 'application/x-pem-file',
      });
      // The create poller does not expose the operation; the operation poller does.
      const op = (await w.certs().getCertificateOperation('node-ca')).getOperationState()
        .certificateOperation!;
      expect(op.status).toBe('inProgress');
      const csrPem = derToPem(op.csr!, 'CERTIFICATE REQUEST');
      const csr = new x509.Pkcs10CertificateRequest(csrPem);
      expect(await csr.verify(webcrypto)).toBe(true);
      // Names are RFC 4514 strings: the encoding is C, L, O, as Corda writes a legal name.
      expect(csr.subject).toBe('C=GB, L=London, O=Bank A');

      // The pending key exists but cannot sign yet; a second create is refused; listing hides it.
      const pendingKey = await w.keys().getKey('node-ca');
      expect(pendingKey.properties.enabled).toBe(false);
      const disabled = await rejection(w.crypto(pendingKey.id!).sign('ES256', Buffer.alloc(32)));
      expect(disabled.statusCode).toBe(403);
      const again = await rejection(
        w.certs().beginCreateCertificate('node-ca', { issuerName: 'Unknown', subject }),
      );
      expect([again.statusCode, again.code]).toEqual([409, 'Conflict']);
      const listed: string[] = [];
      for await (const c of w.certs().listPropertiesOfCertificates()) listed.push(c.name!);
      expect(listed).toEqual([]);

      const caSigner = softwareSigner();
      const caPem = await selfSignedRoot({
        subject: 'CN=Test CA, O=Test, C=GB',
        signer: caSigner,
        serial: '01',
        notBefore: new Date(T0),
        notAfter: new Date(T0 + 365 * 86_400_000),
      });
      const issue = (csrText: string) =>
        issueNodeCa({
          csrPem: csrText,
          legalName: subject,
          issuerPem: caPem,
          issuerSigner: caSigner,
          serial: '0a',
          notBefore: new Date(T0),
          notAfter: new Date(T0 + 180 * 86_400_000),
        });
      const der = (pem: string) => new X509Certificate(pem).raw;

      // A chain for some other key is refused.
      const other = await (async () => {
        const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
          'sign',
          'verify',
        ])) as webcrypto.CryptoKeyPair;
        const r = await x509.Pkcs10CertificateRequestGenerator.create(
          { name: 'O=Bank A, L=London, C=GB', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
          webcrypto,
        );
        return issue(r.toString('pem'));
      })();
      const mismatch = await rejection(w.certs().mergeCertificate('node-ca', [der(other), der(caPem)]));
      expect([mismatch.statusCode, mismatch.code]).toEqual([400, 'BadParameter']);

      const leafPem = await issue(csrPem);
      const merged = await w.certs().mergeCertificate('node-ca', [der(leafPem), der(caPem)]);
      expect(Buffer.from(merged.cer!)).toEqual(der(leafPem));
      expect(
        (await w.certs().getCertificateOperation('node-ca')).getOperationState().certificateOperation?.status,
      ).toBe('completed');
      const late = await rejection(w.certs().mergeCertificate('node-ca', [der(leafPem)]));
      expect(late.statusCode).toBe(403);
      const key = await w.keys().getKey('node-ca');
      expect(key.properties.enabled).toBe(true);
      // Non-exportable: the secret holds the chain but no private key.
      const secret = (await w.secrets().getSecret('node-ca')).value!;
      expect(secret).not.toMatch(/PRIVATE KEY/);
      expect(secret.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(new X509Certificate(secret).raw).toEqual(der(leafPem));
    });

    it('puts the private key in an exportable PEM secret, matching the certificate', async () => {
      const w = world();
      await w.certs().beginCreateCertificate('web', {
        issuerName: 'Self',
        subject: 'CN=web',
        contentType: 'application/x-pem-file',
        keyType: 'RSA',
        keySize: 2048,
      });
      const secret = (await w.secrets().getSecret('web')).value!;
      const key = createPrivateKey(secret);
      const cert = new X509Certificate(secret);
      expect(
        createPublicKey(key)
          .export({ type: 'spki', format: 'der' })
          .equals(cert.publicKey.export({ type: 'spki', format: 'der' })),
      ).toBe(true);
      const nonExportable = world();
      await nonExportable
        .certs()
        .beginCreateCertificate('web', { issuerName: 'Self', subject: 'CN=web', exportable: false });
      const pfx = Buffer.from((await nonExportable.secrets().getSecret('web')).value!, 'base64');
      expect(pfx.includes(KEY_BAG_OID)).toBe(false);
    });

    it('refuses a second create racing the first, and deletes a certificate with its key and secret', async () => {
      const w = world({ latencyFactor: 1 });
      const policy = { issuerName: 'Unknown', subject: 'CN=race' };
      const results = await Promise.allSettled([
        w.certs().beginCreateCertificate('race', policy),
        w.certs().beginCreateCertificate('race', policy),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((lost.reason as RestError).statusCode).toBe(409);
      await w.certs().deleteCertificateOperation('race');
      expect((await rejection(w.certs().getCertificate('race'))).statusCode).toBe(404);

      await w.certs().beginCreateCertificate('gone', { issuerName: 'Self', subject: 'CN=gone' });
      w.clock.now += 5_000;
      await (await w.certs().beginDeleteCertificate('gone')).pollUntilDone();
      expect((await rejection(w.certs().getCertificate('gone'))).code).toBe('CertificateNotFound');
      expect((await rejection(w.keys().getKey('gone'))).code).toBe('KeyNotFound');
      expect((await rejection(w.secrets().getSecret('gone'))).code).toBe('SecretNotFound');
    });
  });

  it('applies injected faults before serving, shaped as Azure answers them', async () => {
    const w = world();
    w.faults.set([
      { operation: 'keyvault:keys.create', kind: 'throttle', retryAfterSeconds: 0 },
      {
        operation: 'keyvault:secrets.get',
        kind: 'error',
        status: 403,
        code: 'Forbidden',
        message: 'Access denied.',
      },
      { operation: 'keyvault:certificates.create', kind: 'server' },
    ]);
    const throttled = await rejection(w.keys().createEcKey('f'));
    expect(throttled.statusCode).toBe(429);
    await expect(w.keys().createEcKey('f')).resolves.toBeDefined();
    await w.secrets().setSecret('f', 'v');
    const denied = await rejection(w.secrets().getSecret('f'));
    expect([denied.statusCode, denied.code]).toEqual([403, 'Forbidden']);
    const failed = await rejection(
      w.certs().beginCreateCertificate('f2', { issuerName: 'Self', subject: 'CN=f' }),
    );
    expect(failed.statusCode).toBe(500);
  });

  it('fails a vault that does not exist as DNS would', async () => {
    const w = world({ vaultExists: async (name) => name === 'bank-a' });
    await expect(w.secrets().setSecret('x', 'y')).resolves.toBeDefined();
    const e = await rejection(w.secrets('bank-z').getSecret('x'));
    expect(e.code).toBe('ENOTFOUND');
  });

  it('keeps state for a new emulator on the same tables, and snapshots names without secret values', async () => {
    const tables = freshTables();
    const a = world({ tables });
    await a.keys().createEcKey('gov');
    await a.secrets().setSecret('vpn-shared-key', 'do-not-print-me');
    await a
      .certs()
      .beginCreateCertificate('node-ca', { issuerName: 'Unknown', subject: 'O=Bank A, L=London, C=GB' });
    await a
      .certs()
      .beginCreateCertificate('tls', { issuerName: 'Self', subject: 'CN=tls', exportable: false });
    await a.secrets('bank-b').setSecret('other', 'x');

    const b = world({ tables });
    expect((await b.secrets().getSecret('vpn-shared-key')).value).toBe('do-not-print-me');
    expect(
      (await b.certs().getCertificateOperation('node-ca')).getOperationState().certificateOperation?.status,
    ).toBe('inProgress');
    const snap = await b.emulator.snapshot();
    expect(JSON.stringify(snap)).not.toContain('do-not-print-me');
    expect(Object.keys(snap).sort()).toEqual(['bank-a', 'bank-b']);
    expect(snap['bank-a']!.secrets).toEqual(['tls', 'vpn-shared-key']);
    expect(snap['bank-a']!.keys).toEqual([
      { name: 'gov', kty: 'EC', crv: 'P-256', exportable: false, managed: false, deleted: false },
      { name: 'node-ca', kty: 'RSA', exportable: true, managed: true, deleted: false },
      { name: 'tls', kty: 'RSA', exportable: false, managed: true, deleted: false },
    ]);
    expect(snap['bank-a']!.certificates).toEqual([
      { name: 'node-ca', subject: 'O=Bank A, L=London, C=GB', status: 'pending' },
      expect.objectContaining({ name: 'tls', subject: 'CN=tls', issuer: 'CN=tls', status: 'completed' }),
    ]);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });
});
