import {
  generateKeyPairSync,
  sign as nodeSign,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import {
  buildCrl,
  CertificateError,
  CORDA_ROLE_OID,
  CordaRole,
  describeCertificate,
  formatName,
  issueDoorman,
  issueNodeCa,
  pemToDer,
  selfSignedRoot,
  verifyChain,
  x500Name,
  x509,
  type Signer,
} from './certificates';

function softwareSigner(): Signer & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    algorithm: 'ES256',
    publicKeyJwk: publicKey.export({ format: 'jwk' }),
    privateKey,
    sign: async (data) => nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
}

async function csrFor(subject: string, curve = 'P-256'): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: subject, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
    webcrypto,
  );
  return csr.toString('pem');
}

const T0 = new Date('2026-01-01T00:00:00Z');
const years = (n: number) => new Date(T0.getTime() + n * 365 * 86_400_000);
const LEGAL_NAME = 'O=Bank C, L=Paris, C=FR';

async function pki() {
  const rootSigner = softwareSigner();
  const doormanSigner = softwareSigner();
  const root = await selfSignedRoot({
    subject: 'CN=Test Root CA, O=Test Consortium, L=London, C=GB',
    signer: rootSigner,
    serial: '01',
    notBefore: T0,
    notAfter: years(10),
  });
  const doorman = await issueDoorman({
    subject: 'CN=Test Doorman CA, O=Test Consortium, L=London, C=GB',
    issuerPem: root,
    issuerSigner: rootSigner,
    subjectPublicKeyJwk: doormanSigner.publicKeyJwk,
    serial: '02',
    notBefore: T0,
    notAfter: years(5),
  });
  const csrPem = await csrFor(LEGAL_NAME);
  const node = await issueNodeCa({
    csrPem,
    legalName: LEGAL_NAME,
    issuerPem: doorman,
    issuerSigner: doormanSigner,
    serial: 'c0ffee',
    notBefore: T0,
    notAfter: years(1),
  });
  return { rootSigner, doormanSigner, root, doorman, node, csrPem };
}

const at = new Date('2026-06-01T00:00:00Z');

describe('consortium PKI', () => {
  let p: Awaited<ReturnType<typeof pki>>;
  beforeAll(async () => {
    p = await pki();
  });

  it('builds root → doorman → node CA that Node itself verifies link by link', () => {
    const [root, doorman, node] = [p.root, p.doorman, p.node].map((pem) => new X509Certificate(pem));
    expect(root!.checkIssued(root!) && root!.verify(root!.publicKey)).toBe(true);
    expect(doorman!.checkIssued(root!) && doorman!.verify(root!.publicKey)).toBe(true);
    expect(node!.checkIssued(doorman!) && node!.verify(doorman!.publicKey)).toBe(true);
    expect(node!.verify(root!.publicKey)).toBe(false);
    expect([root!.ca, doorman!.ca, node!.ca]).toEqual([true, true, true]);
    expect(verifyChain(p.node, [p.doorman], p.root, at)).toBe(true);
    expect(verifyChain(p.node, [p.doorman, p.root], p.root, at)).toBe(true);
  });

  it('encodes the legal name in Corda order (C, L, O) and reads it back as given', () => {
    const node = new X509Certificate(p.node);
    expect(node.subject).toBe('C=FR\nL=Paris\nO=Bank C');
    const d = describeCertificate(p.node);
    expect(d).toMatchObject({
      subject: LEGAL_NAME,
      issuer: 'CN=Test Doorman CA, O=Test Consortium, L=London, C=GB',
      serial: 'c0ffee',
      cordaRole: CordaRole.NODE_CA,
      isCa: true,
      notBefore: T0,
      notAfter: years(1),
    });
    expect(d.thumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(formatName(x500Name(LEGAL_NAME))).toBe(LEGAL_NAME);
  });

  it('gives each certificate the extensions Corda expects', () => {
    const root = new x509.X509Certificate(p.root);
    const doorman = new x509.X509Certificate(p.doorman);
    const node = new x509.X509Certificate(p.node);
    // Role: an ASN.1 INTEGER inside the extension; none on the root.
    expect(root.getExtension(CORDA_ROLE_OID)).toBeNull();
    expect(Buffer.from(doorman.getExtension(CORDA_ROLE_OID)!.value).toString('hex')).toBe('020101');
    expect(Buffer.from(node.getExtension(CORDA_ROLE_OID)!.value).toString('hex')).toBe('020104');
    expect(describeCertificate(p.doorman).cordaRole).toBe(CordaRole.DOORMAN_CA);
    expect(describeCertificate(p.root).cordaRole).toBeUndefined();
    for (const cert of [root, doorman, node]) {
      const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
      expect([bc.ca, bc.pathLength, bc.critical]).toEqual([true, undefined, true]);
      const ku = cert.getExtension(x509.KeyUsagesExtension)!.usages;
      expect(ku & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
      expect(ku & x509.KeyUsageFlags.cRLSign).toBeTruthy();
      expect(ku & x509.KeyUsageFlags.digitalSignature).toBeTruthy();
      expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).not.toBeNull();
    }
    // AKI links to the issuer's SKI.
    const ski = (c: x509.X509Certificate) => c.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    const aki = (c: x509.X509Certificate) => c.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId;
    expect(aki(node)).toBe(ski(doorman));
    expect(aki(doorman)).toBe(ski(root));
    // The node CA may only name its own legal name below it.
    const nc = node.getExtension('2.5.29.30')!;
    expect(nc.critical).toBe(true);
    const legal = Buffer.from(x500Name(LEGAL_NAME).toArrayBuffer()).toString('hex');
    const wrap = (tag: string, hex: string) =>
      `${tag}${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`;
    // NameConstraints { permittedSubtrees [0] { GeneralSubtree { directoryName [4] legal name } } }
    expect(Buffer.from(nc.value).toString('hex')).toBe(wrap('30', wrap('a0', wrap('30', wrap('a4', legal)))));
    expect(doorman.getExtension('2.5.29.30')).toBeNull();
  });

  it('keeps the CSR key and clamps the validity to the issuer', async () => {
    const csr = new x509.Pkcs10CertificateRequest(p.csrPem);
    const node = new x509.X509Certificate(p.node);
    expect(Buffer.from(node.publicKey.rawData).equals(Buffer.from(csr.publicKey.rawData))).toBe(true);
    const long = await issueNodeCa({
      csrPem: p.csrPem,
      legalName: LEGAL_NAME,
      issuerPem: p.doorman,
      issuerSigner: p.doormanSigner,
      serial: '03',
      notBefore: T0,
      notAfter: years(20),
    });
    expect(describeCertificate(long).notAfter).toEqual(describeCertificate(p.doorman).notAfter);
  });

  it('refuses chains that do not hold', async () => {
    const other = await selfSignedRoot({
      subject: 'CN=Test Root CA, O=Test Consortium, L=London, C=GB',
      signer: softwareSigner(),
      serial: '01',
      notBefore: T0,
      notAfter: years(10),
    });
    expect(verifyChain(p.node, [p.doorman], other, at)).toBe(false);
    expect(verifyChain(p.node, [], p.root, at)).toBe(false);
    expect(verifyChain(p.node, [p.doorman], p.root, years(2))).toBe(false);
    expect(verifyChain(p.node, [p.doorman], p.root, new Date('2025-06-01T00:00:00Z'))).toBe(false);
    expect(verifyChain('not a pem', [p.doorman], p.root, at)).toBe(false);
    const der = pemToDer(p.node);
    der[der.length - 5] = der[der.length - 5]! ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(verifyChain(tampered, [p.doorman], p.root, at)).toBe(false);
  });

  it('refuses a tampered, foreign or malformed CSR with typed errors', async () => {
    const base = { legalName: LEGAL_NAME, issuerPem: p.doorman, issuerSigner: p.doormanSigner, serial: '04' };
    const dates = { notBefore: T0, notAfter: years(1) };
    const der = pemToDer(p.csrPem);
    const i = Buffer.from(der).indexOf(Buffer.from('Paris'));
    der[i] = 'Q'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
    await expect(issueNodeCa({ ...base, ...dates, csrPem: tampered })).rejects.toMatchObject({
      code: 'CERT.CSR_INVALID',
    });
    await expect(issueNodeCa({ ...base, ...dates, csrPem: 'garbage' })).rejects.toMatchObject({
      code: 'CERT.CSR_INVALID',
    });
    await expect(
      issueNodeCa({ ...base, ...dates, csrPem: await csrFor('O=Bank D, L=Paris, C=FR') }),
    ).rejects.toMatchObject({ code: 'CERT.CSR_SUBJECT_MISMATCH' });
    await expect(issueNodeCa({ ...base, ...dates, csrPem: p.csrPem, serial: '0' })).rejects.toBeInstanceOf(
      CertificateError,
    );
  });

  it('refuses a signer that is not the issuer, or that signs with another key', async () => {
    const stranger = softwareSigner();
    const base = {
      subject: 'CN=Other Doorman',
      issuerPem: p.root,
      subjectPublicKeyJwk: stranger.publicKeyJwk,
      serial: '05',
      notBefore: T0,
      notAfter: years(1),
    };
    await expect(issueDoorman({ ...base, issuerSigner: stranger })).rejects.toMatchObject({
      code: 'CERT.SIGNER_MISMATCH',
    });
    const liar: Signer = { ...p.rootSigner, sign: stranger.sign };
    await expect(issueDoorman({ ...base, issuerSigner: liar })).rejects.toMatchObject({
      code: 'CERT.SIGNATURE_INVALID',
    });
  });

  it('builds a CRL that lists revoked serials and verifies with the doorman key', async () => {
    const der = await buildCrl({
      issuerPem: p.doorman,
      issuerSigner: p.doormanSigner,
      thisUpdate: at,
      nextUpdate: new Date(at.getTime() + 7 * 86_400_000),
      revoked: [
        { serial: 'c0ffee', revokedAt: at, reason: 'keyCompromise' },
        { serial: '00ABCDEF', revokedAt: at },
      ],
    });
    const crl = new x509.X509Crl(der);
    expect(crl.entries.map((e) => e.serialNumber).sort()).toEqual(['abcdef', 'c0ffee']);
    expect(crl.findRevoked('c0ffee')?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(formatName(crl.issuerName)).toBe('CN=Test Doorman CA, O=Test Consortium, L=London, C=GB');
    expect(await crl.verify({ publicKey: new x509.X509Certificate(p.doorman) }, webcrypto)).toBe(true);
    expect(await crl.verify({ publicKey: new x509.X509Certificate(p.root) }, webcrypto)).toBe(false);
    expect(crl.getExtension('2.5.29.20')).not.toBeNull();
  });
});
