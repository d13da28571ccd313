/**
 * The consortium PKI for Corda 4: a root CA, the doorman (Corda's "intermediate CA") below it, and one node
 * CA per member below that, which the member's node then uses to issue its own TLS and legal-identity
 * certificates. The shapes follow Corda's `X509Utilities`/`CertificateType`: every certificate carries SKI
 * and AKI, CAs carry critical basic constraints without a path length, the doorman and node CAs carry
 * Corda's role extension, and a node CA is name-constrained to its legal name.
 *
 * Pure: the only outside call is the `Signer`, so the same code signs with a software key in tests and with
 * a non-exportable Key Vault key in Azure.
 *
 * Names are RFC 4514 strings, as Corda prints them (`O=Bank C, L=Paris, C=FR`): the last RDN of the string
 * is the first in the encoding, so the DER comes out C, L, O exactly as Corda's `CordaX500Name.x500Name`
 * builds it. That matters for the node CA's name constraint, which Java checks RDN by RDN in DER order.
 */
import {
  createHash,
  createPublicKey,
  webcrypto,
  X509Certificate as NodeX509,
  type KeyObject,
} from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { now } from '../runtime/clock';

// @peculiar/x509 resolves its algorithms through tsyringe, which needs Reflect metadata before the library
// loads. No polyfill package is installed, so the few functions tsyringe calls are provided here; this call
// must stay above the import below (CommonJS output keeps statement order).
installReflectMetadata();
import * as x509 from '@peculiar/x509';

/** The library, loaded after its polyfill: other modules take it from here rather than importing it. */
export { x509 };

function installReflectMetadata(): void {
  /** target → property (undefined for the class itself) → metadata key → value */
  const store = new WeakMap<object, Map<string | symbol | undefined, Map<unknown, unknown>>>();
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R['getMetadata'] === 'function') return;
  const bucket = (target: object, prop: string | symbol | undefined, create: boolean) => {
    let byTarget = store.get(target);
    if (!byTarget) {
      if (!create) return undefined;
      store.set(target, (byTarget = new Map()));
    }
    let byProp = byTarget.get(prop);
    if (!byProp && create) byTarget.set(prop, (byProp = new Map()));
    return byProp;
  };
  const getOwn = (key: unknown, target: object, prop?: string | symbol) =>
    bucket(target, prop, false)?.get(key);
  const get = (key: unknown, target: object, prop?: string | symbol) => {
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o) as object | null) {
      const v = getOwn(key, o, prop);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  Object.assign(R, {
    defineMetadata: (key: unknown, value: unknown, target: object, prop?: string | symbol) =>
      void bucket(target, prop, true)!.set(key, value),
    getOwnMetadata: getOwn,
    getMetadata: get,
    hasOwnMetadata: (key: unknown, target: object, prop?: string | symbol) =>
      getOwn(key, target, prop) !== undefined,
    hasMetadata: (key: unknown, target: object, prop?: string | symbol) =>
      get(key, target, prop) !== undefined,
    metadata: (key: unknown, value: unknown) => (target: object, prop?: string | symbol) =>
      void bucket(target, prop, true)!.set(key, value),
  });
}

/** Corda's certificate-role extension (`CordaOID.X509_EXTENSION_CORDA_ROLE`). */
export const CORDA_ROLE_OID = '1.3.6.1.4.1.50530.1.1';

/** Corda's `CertRole`: the enum ordinal plus one, encoded as an ASN.1 INTEGER. The root has no role. */
export enum CordaRole {
  /** Corda names it INTERMEDIATE_CA: the doorman, directly below the root. */
  DOORMAN_CA = 1,
  NETWORK_MAP = 2,
  SERVICE_IDENTITY = 3,
  NODE_CA = 4,
  TLS = 5,
  LEGAL_IDENTITY = 6,
  CONFIDENTIAL_LEGAL_IDENTITY = 7,
}

/**
 * Something that signs with an EC P-256 key (Key Vault has no Ed25519). `sign` takes the message itself
 * and returns the raw r||s signature (64 bytes) over its SHA-256 hash, as JWS ES256 does; a Key Vault
 * signer hashes locally and sends only the digest.
 */
export interface Signer {
  algorithm: 'ES256';
  publicKeyJwk: JsonWebKey;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export type CertificateErrorCode =
  | 'CERT.INVALID'
  | 'CERT.CSR_INVALID'
  | 'CERT.CSR_SUBJECT_MISMATCH'
  | 'CERT.KEY_UNSUPPORTED'
  | 'CERT.SERIAL_INVALID'
  | 'CERT.VALIDITY'
  | 'CERT.SIGNER_MISMATCH'
  | 'CERT.SIGNATURE_INVALID';

export class CertificateError extends Error {
  constructor(
    readonly code: CertificateErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CertificateError';
  }
}

export type CrlReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface CertificateDescription {
  /** RFC 4514, as Corda prints names (last RDN first). */
  subject: string;
  issuer: string;
  /** Lower-case hex without leading zeros. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-1 of the DER, upper-case hex: what Key Vault and the Azure portal call the thumbprint. */
  thumbprint: string;
  cordaRole?: number;
  isCa: boolean;
}

// ---------- names ----------

const ENCODING: Record<string, 'printableString' | 'ia5String'> = {
  C: 'printableString',
  serialNumber: 'printableString',
  E: 'ia5String',
  DC: 'ia5String',
};

/**
 * An RFC 4514 name as DER: RDNs reversed from the string, C as PrintableString and the rest as UTF8String
 * (Bouncy Castle's BCStyle, which Corda uses).
 */
export function x500Name(text: string): x509.Name {
  let parsed: x509.JsonName;
  try {
    parsed = new x509.Name(text).toJSON();
  } catch {
    throw new CertificateError('CERT.INVALID', `${JSON.stringify(text)} is not an X.500 name.`);
  }
  if (parsed.length === 0)
    throw new CertificateError('CERT.INVALID', 'An X.500 name needs at least one RDN.');
  const json = parsed
    .reverse()
    .map((rdn) =>
      Object.fromEntries(
        Object.entries(rdn).map(([type, values]) => [
          type,
          values.map((v) => ({ [ENCODING[type] ?? 'utf8String']: v })),
        ]),
      ),
    );
  return new x509.Name(json as x509.JsonNameParams);
}

/** A DER name back to its RFC 4514 string (last RDN first). */
export function formatName(name: x509.Name | ArrayBuffer | Uint8Array): string {
  const parsed = name instanceof x509.Name ? name : new x509.Name(name);
  return new x509.Name(parsed.toJSON().reverse()).toString();
}

/** Attribute multiset of a name, for comparing names that may be ordered or encoded differently. */
function attributes(name: x509.Name): string[] {
  return name
    .toJSON()
    .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((v) => `${type}=${v}`)))
    .sort();
}

// ---------- DER bits the library has no class for ----------

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

function derInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return tlv(0x02, Buffer.from(hex, 'hex'));
}

function decodeSmallInteger(der: ArrayBuffer): number | undefined {
  const b = new Uint8Array(der);
  if (b[0] !== 0x02 || b[1] === undefined || b[1] < 1 || b[1] > 4 || b.length !== 2 + b[1]) return undefined;
  let v = 0;
  for (let i = 2; i < b.length; i++) v = v * 256 + b[i]!;
  return v;
}

const OID_NAME_CONSTRAINTS = '2.5.29.30';
const OID_CRL_NUMBER = '2.5.29.20';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

function roleExtension(role: CordaRole): x509.Extension {
  return new x509.Extension(CORDA_ROLE_OID, false, derInteger(BigInt(role)));
}

/** Permits only names under `name` below the node CA, as Corda's doorman does. */
function nameConstraints(name: x509.Name): x509.Extension {
  const subtree = tlv(0x30, tlv(0xa4, new Uint8Array(name.toArrayBuffer())));
  return new x509.Extension(OID_NAME_CONSTRAINTS, true, tlv(0x30, tlv(0xa0, subtree)));
}

// ---------- keys and signing ----------

function jwkKey(jwk: JsonWebKey): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new CertificateError('CERT.KEY_UNSUPPORTED', 'The public key is not a valid JWK.');
  }
}

function spki(key: KeyObject): Uint8Array {
  return key.export({ type: 'spki', format: 'der' });
}

/** RFC 5280 key identifier, method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(key: KeyObject): string {
  let bits: Buffer;
  if (key.asymmetricKeyType === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    bits = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
  } else if (key.asymmetricKeyType === 'rsa') {
    bits = key.export({ type: 'pkcs1', format: 'der' });
  } else {
    throw new CertificateError(
      'CERT.KEY_UNSUPPORTED',
      `Keys of type ${key.asymmetricKeyType} are not supported.`,
    );
  }
  return createHash('sha1').update(bits).digest('hex');
}

/** Only what Corda accepts for a CA or node CA here: EC P-256/P-384 or RSA of 2048 bits or more. */
function checkKey(key: KeyObject, what: string): void {
  const d = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) ||
    (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048);
  if (!ok) {
    throw new CertificateError(
      'CERT.KEY_UNSUPPORTED',
      `${what} must be EC P-256, EC P-384 or RSA of at least 2048 bits.`,
    );
  }
}

const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' };
/** Stands for the signer's private key: the library only reads its algorithm and hands it to subtle.sign. */
const SIGNER_KEY = {
  algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
  type: 'private',
  extractable: false,
  usages: ['sign'],
} as unknown as webcrypto.CryptoKey;

/**
 * A WebCrypto whose `subtle.sign` goes to the signer (the library then turns the raw r||s into DER); every
 * other call goes to Node's WebCrypto.
 */
function signerCrypto(signer: Signer): webcrypto.Crypto {
  const subtle = webcrypto.subtle;
  const sign = async (
    algorithm: unknown,
    key: unknown,
    data: webcrypto.BufferSource,
  ): Promise<ArrayBuffer> => {
    if (key !== SIGNER_KEY)
      return subtle.sign(algorithm as webcrypto.EcdsaParams, key as webcrypto.CryptoKey, data);
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    const signature = await signer.sign(bytes);
    if (signature.length !== 64) {
      throw new CertificateError(
        'CERT.SIGNATURE_INVALID',
        'The signer did not return a 64-byte ES256 signature.',
      );
    }
    return Uint8Array.from(signature).buffer;
  };
  const proxy = new Proxy(subtle, {
    get(target, prop) {
      if (prop === 'sign') return sign;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    subtle: proxy,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
    randomUUID: webcrypto.randomUUID.bind(webcrypto),
  } as unknown as webcrypto.Crypto;
}

function checkSigner(signer: Signer): KeyObject {
  if (signer.algorithm !== 'ES256')
    throw new CertificateError('CERT.KEY_UNSUPPORTED', 'Signers must be ES256.');
  const key = jwkKey(signer.publicKeyJwk);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateError('CERT.KEY_UNSUPPORTED', 'An ES256 signer needs an EC P-256 key.');
  }
  return key;
}

// ---------- parsing ----------

export function pemToDer(pem: string): Uint8Array {
  const body = /-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END [A-Z0-9 ]+-----/.exec(pem)?.[1];
  return Buffer.from((body ?? pem).replace(/\s+/g, ''), 'base64');
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** All PEM blocks of one kind in a text, in order. */
export function splitPem(text: string, label = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((block) => `${block}\n`);
}

function parse(pem: string, what: string): { cert: x509.X509Certificate; node: NodeX509 } {
  try {
    const cert = new x509.X509Certificate(pem);
    return { cert, node: new NodeX509(Buffer.from(cert.rawData)) };
  } catch {
    throw new CertificateError('CERT.INVALID', `The ${what} is not an X.509 certificate.`);
  }
}

function normaliseSerial(serial: string): string {
  if (!/^[0-9a-fA-F]{1,40}$/.test(serial) || /^0+$/.test(serial)) {
    throw new CertificateError('CERT.SERIAL_INVALID', 'A serial is 1 to 40 hex digits and not zero.');
  }
  const hex = serial.toLowerCase().replace(/^0+/, '');
  return hex.length % 2 ? `0${hex}` : hex;
}

function window(notBefore: Date, notAfter: Date, issuer?: NodeX509): { notBefore: Date; notAfter: Date } {
  // As Corda does: a child never outlives (or predates) its issuer.
  const from = issuer && new Date(issuer.validFrom) > notBefore ? new Date(issuer.validFrom) : notBefore;
  const to = issuer && new Date(issuer.validTo) < notAfter ? new Date(issuer.validTo) : notAfter;
  if (!(to > from)) {
    throw new CertificateError('CERT.VALIDITY', 'The validity window is empty (is the issuer expired?).');
  }
  return { notBefore: from, notAfter: to };
}

function caExtensions(usages: x509.KeyUsageFlags): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    new x509.ExtendedKeyUsageExtension(
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth, ANY_EXTENDED_KEY_USAGE],
      false,
    ),
  ];
}

const CA_USAGES =
  x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

interface Issuer {
  cert: x509.X509Certificate;
  node: NodeX509;
  keyId: string;
}

function issuerOf(issuerPem: string, signer: Signer): Issuer {
  const { cert, node } = parse(issuerPem, 'issuer certificate');
  if (!node.ca) throw new CertificateError('CERT.INVALID', 'The issuer certificate is not a CA.');
  const signerKey = checkSigner(signer);
  if (!Buffer.from(spki(signerKey)).equals(spki(node.publicKey))) {
    throw new CertificateError(
      'CERT.SIGNER_MISMATCH',
      "The signer's key is not the issuer certificate's key.",
    );
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  return { cert, node, keyId: ski?.keyId ?? keyIdentifier(node.publicKey) };
}

async function sign(
  p: {
    serial: string;
    subject: x509.Name;
    issuer: x509.Name;
    subjectKey: KeyObject;
    notBefore: Date;
    notAfter: Date;
    extensions: x509.Extension[];
  },
  signer: Signer,
  issuerKey: KeyObject,
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: normaliseSerial(p.serial),
      subject: p.subject,
      issuer: p.issuer,
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      publicKey: spki(p.subjectKey),
      signingKey: SIGNER_KEY,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [new x509.SubjectKeyIdentifierExtension(keyIdentifier(p.subjectKey)), ...p.extensions],
    },
    signerCrypto(signer),
  );
  // As Corda does after building: a signer that signed with some other key is caught here, not by a node.
  if (!new NodeX509(Buffer.from(cert.rawData)).verify(issuerKey)) {
    throw new CertificateError(
      'CERT.SIGNATURE_INVALID',
      "The signature does not verify with the issuer's key.",
    );
  }
  return cert.toString('pem') + '\n';
}

// ---------- issuing ----------

export async function selfSignedRoot(p: {
  subject: string;
  signer: Signer;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}): Promise<string> {
  const key = checkSigner(p.signer);
  const name = x500Name(p.subject);
  return sign(
    {
      serial: p.serial,
      subject: name,
      issuer: name,
      subjectKey: key,
      ...window(p.notBefore, p.notAfter),
      // Corda's ROOT_CA: no role extension (a doorman's parent must have none).
      extensions: [...caExtensions(CA_USAGES), new x509.AuthorityKeyIdentifierExtension(keyIdentifier(key))],
    },
    p.signer,
    key,
  );
}

export async function issueDoorman(p: {
  subject: string;
  issuerPem: string;
  issuerSigner: Signer;
  subjectPublicKeyJwk: JsonWebKey;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}): Promise<string> {
  const issuer = issuerOf(p.issuerPem, p.issuerSigner);
  const subjectKey = jwkKey(p.subjectPublicKeyJwk);
  checkKey(subjectKey, 'The doorman key');
  return sign(
    {
      serial: p.serial,
      subject: x500Name(p.subject),
      issuer: issuer.cert.subjectName,
      subjectKey,
      ...window(p.notBefore, p.notAfter, issuer.node),
      // No path length: below the doorman sit the node CA and, below that, the node's legal identity CA.
      extensions: [
        ...caExtensions(CA_USAGES),
        new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
        roleExtension(CordaRole.DOORMAN_CA),
      ],
    },
    p.issuerSigner,
    issuer.node.publicKey,
  );
}

/**
 * Signs a member's node CA certificate. The subject is the approved legal name (not whatever the CSR
 * says, though a CSR naming someone else is refused), the key is the CSR's, and the certificate is
 * name-constrained to the legal name so the node can only issue certificates for itself.
 */
export async function issueNodeCa(p: {
  csrPem: string;
  legalName: string;
  issuerPem: string;
  issuerSigner: Signer;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(p.csrPem);
  } catch {
    throw new CertificateError('CERT.CSR_INVALID', 'The CSR is not a PKCS#10 certificate request.');
  }
  const valid = await csr.verify(webcrypto).catch(() => false);
  if (!valid) throw new CertificateError('CERT.CSR_INVALID', "The CSR's signature does not verify.");
  let subjectKey: KeyObject;
  try {
    subjectKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    throw new CertificateError('CERT.CSR_INVALID', "The CSR's public key cannot be read.");
  }
  checkKey(subjectKey, "The CSR's key");
  const legalName = x500Name(p.legalName);
  const requested = attributes(csr.subjectName);
  if (requested.length > 0 && requested.join('\n') !== attributes(legalName).join('\n')) {
    throw new CertificateError(
      'CERT.CSR_SUBJECT_MISMATCH',
      `The CSR names ${JSON.stringify(formatName(csr.subjectName))}, not ${JSON.stringify(p.legalName)}.`,
    );
  }
  const issuer = issuerOf(p.issuerPem, p.issuerSigner);
  return sign(
    {
      serial: p.serial,
      subject: legalName,
      issuer: issuer.cert.subjectName,
      subjectKey,
      ...window(p.notBefore, p.notAfter, issuer.node),
      extensions: [
        ...caExtensions(CA_USAGES),
        new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
        roleExtension(CordaRole.NODE_CA),
        nameConstraints(legalName),
      ],
    },
    p.issuerSigner,
    issuer.node.publicKey,
  );
}

/** A CRL from the issuer, numbered by thisUpdate (seconds) so later lists have higher numbers. */
export async function buildCrl(p: {
  issuerPem: string;
  issuerSigner: Signer;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: Array<{ serial: string; revokedAt: Date; reason?: CrlReason }>;
}): Promise<Uint8Array> {
  const issuer = issuerOf(p.issuerPem, p.issuerSigner);
  if (!(p.nextUpdate > p.thisUpdate)) {
    throw new CertificateError('CERT.VALIDITY', 'nextUpdate must be after thisUpdate.');
  }
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: issuer.cert.subjectName,
      thisUpdate: p.thisUpdate,
      nextUpdate: p.nextUpdate,
      signingAlgorithm: SIGNING_ALGORITHM,
      signingKey: SIGNER_KEY,
      extensions: [
        new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
        new x509.Extension(
          OID_CRL_NUMBER,
          false,
          derInteger(BigInt(Math.floor(p.thisUpdate.getTime() / 1000))),
        ),
      ],
      entries: p.revoked.map((r) => ({
        serialNumber: normaliseSerial(r.serial),
        revocationDate: r.revokedAt,
        ...(r.reason ? { reason: x509.X509CrlReason[r.reason] } : {}),
      })),
    },
    signerCrypto(p.issuerSigner),
  );
  const ok = await crl.verify({ publicKey: issuer.cert }, webcrypto);
  if (!ok)
    throw new CertificateError('CERT.SIGNATURE_INVALID', "The CRL does not verify with the issuer's key.");
  return new Uint8Array(crl.rawData);
}

// ---------- reading ----------

function roleOf(cert: x509.X509Certificate): number | undefined {
  const ext = cert.getExtension(CORDA_ROLE_OID);
  return ext ? decodeSmallInteger(ext.value) : undefined;
}

export function describeCertificate(pem: string): CertificateDescription {
  const { cert, node } = parse(pem, 'certificate');
  const role = roleOf(cert);
  return {
    subject: formatName(cert.subjectName),
    issuer: formatName(cert.issuerName),
    serial: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    thumbprint: createHash('sha1').update(Buffer.from(cert.rawData)).digest('hex').toUpperCase(),
    ...(role !== undefined ? { cordaRole: role } : {}),
    isCa: node.ca,
  };
}

function canSignCertificates(cert: x509.X509Certificate, node: NodeX509): boolean {
  if (!node.ca) return false;
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  return !ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

/**
 * Whether `leaf` chains through `chainPems` (issuer first; the root may be repeated at the end) to `root`:
 * every signature verifies, names and key identifiers link, every certificate is valid at `at`, every
 * issuer is a CA allowed to sign certificates, and path lengths hold.
 */
export function verifyChain(
  leafPem: string,
  chainPems: string[],
  rootPem: string,
  at: Date = now(),
): boolean {
  let path: Array<{ cert: x509.X509Certificate; node: NodeX509 }>;
  try {
    const root = parse(rootPem, 'root');
    const rest = chainPems.map((pem) => parse(pem, 'chain certificate'));
    while (
      rest.length > 0 &&
      Buffer.from(rest[rest.length - 1]!.cert.rawData).equals(Buffer.from(root.cert.rawData))
    )
      rest.pop();
    path = [parse(leafPem, 'leaf'), ...rest, root];
  } catch {
    return false;
  }
  const root = path[path.length - 1]!;
  if (!root.node.checkIssued(root.node) || !root.node.verify(root.node.publicKey)) return false;
  for (let i = 0; i < path.length; i++) {
    const { cert, node } = path[i]!;
    if (at < cert.notBefore || at > cert.notAfter) return false;
    if (i === path.length - 1) break;
    const parent = path[i + 1]!;
    if (!canSignCertificates(parent.cert, parent.node)) return false;
    if (!node.checkIssued(parent.node) || !node.verify(parent.node.publicKey)) return false;
    const pathLength = parent.cert.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    // CAs between this parent and the leaf (the leaf itself does not count).
    if (pathLength !== undefined && i > pathLength) return false;
  }
  return true;
}
