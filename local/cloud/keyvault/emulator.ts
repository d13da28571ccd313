import { createHash, createPublicKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { RestError } from '@azure/core-rest-pipeline';
import type { TableClient } from '@azure/data-tables';
import { derToPem, describeCertificate, x500Name, x509 } from '../../../core/certificates';
import { faultResponse, type CloudFaults } from '../faults';
import type { CloudHandler, CloudRequest, CloudResponse } from '../http';
import {
  algorithmNeeds,
  CURVES,
  generateKey,
  signDigest,
  verifyDigest,
  type Curve,
  type GeneratedKey,
  type SignatureAlgorithm,
} from './crypto';
import { pkcs12 } from './pkcs12';
import {
  StoreConflict,
  VaultStore,
  type Attributes,
  type CertOperation,
  type CertVersion,
  type Head,
  type Kind,
  type KeyVersion,
  type SecretVersion,
  type StoredHead,
  type Write,
} from './store';

/**
 * An in-process Azure Key Vault data plane (keys, secrets, certificates) behind the real SDK clients: point
 * `CertificateClient`, `KeyClient`, `CryptographyClient` or `SecretClient` at `https://<vault>.vault.azure.net`
 * with `httpClient: cloudHttpClient(emulator.handle)` and `LocalCloudCredential`. Every vault lives in one
 * Azurite table (a partition each), so a new emulator on the same tables sees the same vaults.
 *
 * Keys are real (node:crypto); their private halves stay in the table and never leave through the API.
 * Certificates are real X.509: `Self` issues a self-signed certificate after a realistic delay, `Unknown`
 * leaves a pending operation holding a real PKCS#10 CSR until a chain is merged. Errors have Key Vault's
 * status codes and `{error:{code,message}}` bodies. Faults named `keyvault:<area>.<operation>` (e.g.
 * `keyvault:keys.sign`, `keyvault:certificates.merge`) fire before an authenticated request is served.
 */

export interface KeyVaultEmulatorOptions {
  tables: (suffix: string) => Promise<TableClient>;
  faults: CloudFaults;
  now: () => number;
  /** Certificate creation (~5 s), merge (~2 s) and key creation (~1 s) take this multiple of real time. */
  latencyFactor: number;
  /** Default: every vault exists. A missing vault fails as its DNS name would (ENOTFOUND). */
  vaultExists?: (vaultName: string) => Promise<boolean>;
}

export type CertificateStatus = 'pending' | 'completed' | 'cancelled' | 'deleted';

export interface VaultContents {
  certificates: Array<{
    name: string;
    subject: string;
    issuer?: string;
    serial?: string;
    notBefore?: string;
    notAfter?: string;
    status: CertificateStatus;
  }>;
  keys: Array<{
    name: string;
    kty: string;
    crv?: string;
    exportable: boolean;
    managed: boolean;
    deleted: boolean;
  }>;
  /** Names only: values never leave the vault through the snapshot. */
  secrets: string[];
}

/** Vault name → what it holds. JSON-serialisable. */
export type VaultSnapshot = Record<string, VaultContents>;

export const KEY_VAULT_TABLE = 'CloudVaultItems';

const LATENCY_MS = { certificateSelf: 5000, merge: 2000, key: 1000 };
const RECOVERABLE_DAYS = 90;
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const API_VERSION = /^(7\.\d(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$/;
const TENANT = '72f988bf-0000-0000-0000-00000000cafe';
const SECRET_MAX_BYTES = 25 * 1024;
const PAGE = 25;
const KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'];
const CONTENT_PKCS12 = 'application/x-pkcs12';
const CONTENT_PEM = 'application/x-pem-file';

class KvError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

const notFound = (kind: Kind, name: string) => {
  const what = { k: 'key', s: 'secret', c: 'certificate' }[kind];
  const code = { k: 'KeyNotFound', s: 'SecretNotFound', c: 'CertificateNotFound' }[kind];
  return new KvError(
    404,
    code,
    `A ${what} with (name/id) ${name} was not found in this key vault. If you recently deleted this ${what} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
};
const badParameter = (message: string) => new KvError(400, 'BadParameter', message);
const deletedConflict = (kind: Kind, name: string) => {
  const what = { k: 'Key', s: 'Secret', c: 'Certificate' }[kind];
  return new KvError(
    409,
    'Conflict',
    `${what} ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the ${what.toLowerCase()} can only be recovered or purged.`,
  );
};

interface Ctx {
  vault: string;
  base: string;
  apiVersion: string;
  nowMs: number;
  /** Key Vault timestamps are whole seconds. */
  s: number;
  req: CloudRequest;
}

type Route = { operation: string; run: (ctx: Ctx) => Promise<CloudResponse> };

const newVersion = () => randomBytes(16).toString('hex');
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const fromB64url = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64url') : undefined);

function attributesOut(a: Attributes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    enabled: a.enabled,
    ...(a.nbf !== undefined ? { nbf: a.nbf } : {}),
    ...(a.exp !== undefined ? { exp: a.exp } : {}),
    created: a.created,
    updated: a.updated,
    recoveryLevel: 'Recoverable+Purgeable',
    recoverableDays: RECOVERABLE_DAYS,
    ...extra,
  };
}

function attributesIn(body: unknown, s: number, previous?: Attributes): Attributes {
  const a = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  for (const f of ['nbf', 'exp'] as const)
    if (a[f] !== undefined && a[f] !== null && !Number.isInteger(a[f]))
      throw badParameter(`Property attributes.${f} has invalid value.`);
  if (a['enabled'] !== undefined && typeof a['enabled'] !== 'boolean')
    throw badParameter('Property attributes.enabled has invalid value.');
  const pick = (f: 'nbf' | 'exp') =>
    a[f] === undefined ? previous?.[f] : ((a[f] as number | null) ?? undefined);
  const nbf = pick('nbf');
  const exp = pick('exp');
  return {
    enabled: (a['enabled'] as boolean | undefined) ?? previous?.enabled ?? true,
    ...(nbf !== undefined ? { nbf } : {}),
    ...(exp !== undefined ? { exp } : {}),
    created: previous?.created ?? s,
    updated: s,
  };
}

function tagsIn(value: unknown, previous?: Record<string, string>): Record<string, string> | undefined {
  if (value === undefined || value === null) return previous;
  if (typeof value !== 'object' || Array.isArray(value))
    throw badParameter('Property tags has invalid value.');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 15) throw badParameter('A maximum of 15 tags is allowed.');
  for (const [k, v] of entries)
    if (typeof v !== 'string' || k.length > 512 || v.length > 512)
      throw badParameter(`Tag ${JSON.stringify(k)} has invalid value.`);
  return value as Record<string, string>;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

function json(status: number, body: unknown, headers?: Record<string, string>): CloudResponse {
  return { status, body, ...(headers ? { headers } : {}) };
}

// ---------- certificate material ----------

interface Policy {
  key_props: { exportable: boolean; kty: 'EC' | 'RSA'; key_size?: number; crv?: Curve; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: {
    subject: string;
    ekus: string[];
    key_usage: string[];
    validity_months: number;
    sans?: {
      dns_names?: string[];
      emails?: string[];
      upns?: string[];
      ipAddresses?: string[];
      uris?: string[];
    };
  };
  issuer: { name: string; cty?: string };
  lifetime_actions?: unknown[];
  attributes: { enabled: boolean; created: number; updated: number };
}

const KEY_USAGE_FLAGS: Record<string, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw badParameter(`Property ${field} has invalid value.`);
  return value as string[];
}

/** The policy as Key Vault stores it: what the request says, defaults for the rest. */
function policyIn(raw: unknown, s: number): Policy {
  if (!raw || typeof raw !== 'object') throw badParameter('Property policy is required.');
  const p = raw as Record<string, Record<string, unknown> | undefined>;
  const kp = p['key_props'] ?? {};
  const kty = String(kp['kty'] ?? 'RSA').replace(/-HSM$/, '');
  if (kty !== 'EC' && kty !== 'RSA')
    throw badParameter(`Property policy.key_props.kty has invalid value ${kty}.`);
  const crv = (kp['crv'] ?? (kty === 'EC' ? 'P-256' : undefined)) as Curve | undefined;
  if (kty === 'EC' && !CURVES.includes(crv!))
    throw badParameter(
      `Curve ${String(crv)} is not supported by the local Key Vault emulator (P-256, P-384).`,
    );
  const size = (kp['key_size'] ?? (kty === 'RSA' ? 2048 : undefined)) as number | undefined;
  if (kty === 'RSA' && ![2048, 3072, 4096].includes(size!))
    throw badParameter('Property policy.key_props.key_size has invalid value.');
  const xp = p['x509_props'] ?? {};
  const sans = xp['sans'] as Policy['x509_props']['sans'] | undefined;
  const hasSans = !!sans && Object.values(sans).some((v) => Array.isArray(v) && v.length > 0);
  const subject = typeof xp['subject'] === 'string' ? xp['subject'] : '';
  if (!subject && !hasSans) throw badParameter('Property policy.x509_props.subject or sans is required.');
  if (subject) {
    try {
      x500Name(subject);
    } catch {
      throw badParameter(`Property policy.x509_props.subject has invalid value ${JSON.stringify(subject)}.`);
    }
  }
  const keyUsage = stringList(xp['key_usage'], 'policy.x509_props.key_usage') ?? [
    'digitalSignature',
    ...(kty === 'RSA' ? ['keyEncipherment'] : []),
  ];
  for (const u of keyUsage) if (!(u in KEY_USAGE_FLAGS)) throw badParameter(`Key usage ${u} is not valid.`);
  const months = (xp['validity_months'] ?? 12) as number;
  if (!Number.isInteger(months) || months < 1 || months > 1200)
    throw badParameter('Property policy.x509_props.validity_months has invalid value.');
  const issuer = String(p['issuer']?.['name'] ?? 'Unknown');
  const contentType = String(p['secret_props']?.['contentType'] ?? CONTENT_PKCS12);
  if (contentType !== CONTENT_PKCS12 && contentType !== CONTENT_PEM)
    throw badParameter('Property policy.secret_props.contentType has invalid value.');
  return {
    key_props: {
      exportable: kp['exportable'] === undefined ? true : kp['exportable'] === true,
      kty,
      ...(size !== undefined ? { key_size: size } : {}),
      ...(crv !== undefined ? { crv } : {}),
      reuse_key: kp['reuse_key'] === true,
    },
    secret_props: { contentType },
    x509_props: {
      subject,
      ekus: stringList(xp['ekus'], 'policy.x509_props.ekus') ?? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      key_usage: keyUsage,
      validity_months: months,
      ...(hasSans ? { sans } : {}),
    },
    issuer: {
      name: /^self$/i.test(issuer) ? 'Self' : /^unknown$/i.test(issuer) ? 'Unknown' : issuer,
      ...(typeof p['issuer']?.['cty'] === 'string' ? { cty: p['issuer']['cty'] } : {}),
    },
    ...(Array.isArray(p['lifetime_actions']) ? { lifetime_actions: p['lifetime_actions'] as unknown[] } : {}),
    attributes: { enabled: true, created: s, updated: s },
  };
}

async function webKeys(
  key: KeyVersion,
): Promise<{ keys: webcrypto.CryptoKeyPair; alg: Record<string, unknown> }> {
  const alg =
    key.kty === 'EC'
      ? { name: 'ECDSA', namedCurve: key.crv, hash: key.crv === 'P-384' ? 'SHA-384' : 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', Buffer.from(key.privateKey, 'base64'), alg, false, [
    'sign',
  ]);
  const publicKey = await subtle.importKey('jwk', key.publicJwk as webcrypto.JsonWebKey, alg, true, [
    'verify',
  ]);
  return { keys: { privateKey, publicKey }, alg };
}

function certificateExtensions(policy: Policy): x509.Extension[] {
  const x = policy.x509_props;
  const out: x509.Extension[] = [
    new x509.KeyUsagesExtension(
      x.key_usage.reduce((f, u) => f | KEY_USAGE_FLAGS[u]!, 0),
      true,
    ),
  ];
  if (x.ekus.length) out.push(new x509.ExtendedKeyUsageExtension(x.ekus, false));
  const sans = [
    ...(x.sans?.dns_names ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(x.sans?.emails ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(x.sans?.upns ?? []).map((value) => ({ type: 'upn' as const, value })),
    ...(x.sans?.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(x.sans?.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  if (sans.length) out.push(new x509.SubjectAlternativeNameExtension(sans, false));
  return out;
}

async function buildCsr(policy: Policy, key: KeyVersion): Promise<Buffer> {
  const { keys, alg } = await webKeys(key);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      ...(policy.x509_props.subject ? { name: x500Name(policy.x509_props.subject) } : {}),
      keys,
      signingAlgorithm: alg as unknown as webcrypto.EcdsaParams,
      extensions: certificateExtensions(policy),
    },
    webcrypto,
  );
  return Buffer.from(csr.rawData);
}

function addMonths(ms: number, months: number): Date {
  const d = new Date(ms);
  d.setUTCMonth(d.getUTCMonth() + months);
  return d;
}

async function buildSelfSigned(policy: Policy, key: KeyVersion, nowMs: number): Promise<Buffer> {
  const { keys, alg } = await webKeys(key);
  const name = policy.x509_props.subject ? x500Name(policy.x509_props.subject) : new x509.Name([]);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomBytes(16).toString('hex'),
      subject: name,
      issuer: name,
      notBefore: new Date(Math.floor(nowMs / 1000) * 1000),
      notAfter: addMonths(Math.floor(nowMs / 1000) * 1000, policy.x509_props.validity_months),
      publicKey: keys.publicKey as never,
      signingKey: keys.privateKey as never,
      signingAlgorithm: alg as unknown as webcrypto.EcdsaParams,
      extensions: [
        ...certificateExtensions(policy),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return Buffer.from(cert.rawData);
}

function spkiOfJwk(jwk: Record<string, unknown>): Buffer {
  return createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/** x5c items are base64 DER; also taken: base64 of PEM text, which the JS SDK's own sample sends. */
function parseX5c(x5c: unknown): X509Certificate[] {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.some((v) => typeof v !== 'string'))
    throw badParameter('Property x5c has invalid value X5C must has at least one valid item');
  const out: X509Certificate[] = [];
  try {
    for (const item of x5c as string[]) {
      const bytes = Buffer.from(item, 'base64');
      if (bytes[0] === 0x30) {
        out.push(new X509Certificate(bytes));
        continue;
      }
      const text = bytes.toString('utf8');
      const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
      if (blocks) for (const b of blocks) out.push(new X509Certificate(b));
      else out.push(new X509Certificate(Buffer.from(text.replace(/\s+/g, ''), 'base64')));
    }
  } catch {
    throw badParameter('Unable to parse X5c certificate chain and locate leaf certificate');
  }
  return out;
}

function secretValue(
  policy: Policy,
  key: KeyVersion,
  certs: Buffer[],
): { value: string; contentType: string } {
  const privateKey = policy.key_props.exportable ? Buffer.from(key.privateKey, 'base64') : undefined;
  if (policy.secret_props.contentType === CONTENT_PEM) {
    const pem = [
      ...(privateKey ? [derToPem(privateKey, 'PRIVATE KEY')] : []),
      ...certs.map((c) => derToPem(c)),
    ].join('');
    return { value: pem, contentType: CONTENT_PEM };
  }
  return {
    value: pkcs12({ ...(privateKey ? { privateKeyPkcs8: privateKey } : {}), certificates: certs }).toString(
      'base64',
    ),
    contentType: CONTENT_PKCS12,
  };
}

// ---------- the emulator ----------

export class KeyVaultEmulator {
  readonly handle: CloudHandler;
  private readonly store: VaultStore;

  constructor(private readonly opts: KeyVaultEmulatorOptions) {
    let table: Promise<TableClient> | undefined;
    this.store = new VaultStore(() => {
      table ??= opts.tables(KEY_VAULT_TABLE).catch((e: unknown) => {
        table = undefined;
        throw e;
      });
      return table;
    });
    this.handle = (req) => this.serve(req);
  }

  private async serve(req: CloudRequest): Promise<CloudResponse> {
    const vault = req.url.hostname.split('.')[0]!.toLowerCase();
    if (this.opts.vaultExists && !(await this.opts.vaultExists(vault))) {
      throw new RestError(`getaddrinfo ENOTFOUND ${req.url.hostname}`, { code: 'ENOTFOUND' });
    }
    // Key Vault's challenge: the SDK's first request carries no token and learns where to get one.
    if (!/^bearer\s+\S+/i.test(req.headers['authorization'] ?? '')) {
      return {
        status: 401,
        headers: {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`,
        },
        body: {
          error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
        },
      };
    }
    const route = this.route(req);
    const fault = this.opts.faults.take(`keyvault:${route.operation}`);
    if (fault) return faultResponse(fault, req);
    const apiVersion = req.url.searchParams.get('api-version') ?? '';
    try {
      if (!API_VERSION.test(apiVersion))
        throw badParameter('The request URI contains an invalid or unsupported API version.');
      const nowMs = this.opts.now();
      return await route.run({
        vault,
        base: req.url.origin,
        apiVersion,
        nowMs,
        s: Math.floor(nowMs / 1000),
        req,
      });
    } catch (e) {
      if (e instanceof KvError) {
        return json(e.status, {
          error: { code: e.code, message: e.message, ...(e.inner ? { innererror: { code: e.inner } } : {}) },
        });
      }
      if (e instanceof StoreConflict) {
        return json(409, {
          error: {
            code: 'Conflict',
            message:
              'There was a conflict while updating the object. This can happen when multiple operations are performed in parallel against it. To avoid this error, perform operations in a sequential manner.',
          },
        });
      }
      throw e;
    }
  }

  private route(req: CloudRequest): Route {
    const parts = req.url.pathname.split('/').slice(1).map(decodeURIComponent);
    const [collection, name, a, b] = parts;
    const m = req.method.toUpperCase();
    const body = (req.json ?? {}) as Record<string, unknown>;
    const n = parts.length;
    const named = (run: (ctx: Ctx, name: string) => Promise<CloudResponse>) => (ctx: Ctx) => {
      if (!NAME.test(name ?? '')) throw badParameter(`The name ${JSON.stringify(name)} is not valid.`);
      return run(ctx, name!);
    };
    const unsupported: Route = {
      operation: 'unsupported',
      run: () =>
        Promise.resolve(
          json(501, {
            error: {
              code: 'NotImplemented',
              message: `${m} ${req.url.pathname} is not supported by the local Key Vault emulator.`,
            },
          }),
        ),
    };
    const r = (operation: string, run: (ctx: Ctx, name: string) => Promise<CloudResponse>): Route => ({
      operation,
      run: named(run),
    });

    switch (collection) {
      case 'keys':
        if (n === 1 && m === 'GET') return { operation: 'keys.list', run: (c) => this.list(c, 'k') };
        if (n === 3 && a === 'create' && m === 'POST')
          return r('keys.create', (c, nm) => this.createKey(c, nm, body));
        if (n === 3 && a === 'versions' && m === 'GET')
          return r('keys.versions', (c, nm) => this.versions(c, 'k', nm));
        if ((n === 2 || n === 3) && m === 'GET') return r('keys.get', (c, nm) => this.getKey(c, nm, a ?? ''));
        if (n === 3 && m === 'PATCH') return r('keys.update', (c, nm) => this.update(c, 'k', nm, a!, body));
        if (n === 2 && m === 'DELETE') return r('keys.delete', (c, nm) => this.remove(c, 'k', nm));
        if (n === 4 && b === 'sign' && m === 'POST')
          return r('keys.sign', (c, nm) => this.sign(c, nm, a!, body));
        if (n === 4 && b === 'verify' && m === 'POST')
          return r('keys.verify', (c, nm) => this.verify(c, nm, a!, body));
        return unsupported;
      case 'secrets':
        if (n === 1 && m === 'GET') return { operation: 'secrets.list', run: (c) => this.list(c, 's') };
        if (n === 2 && m === 'PUT') return r('secrets.set', (c, nm) => this.setSecret(c, nm, body));
        if (n === 3 && a === 'versions' && m === 'GET')
          return r('secrets.versions', (c, nm) => this.versions(c, 's', nm));
        if ((n === 2 || n === 3) && m === 'GET')
          return r('secrets.get', (c, nm) => this.getSecret(c, nm, a ?? ''));
        if (n === 3 && m === 'PATCH')
          return r('secrets.update', (c, nm) => this.update(c, 's', nm, a!, body));
        if (n === 2 && m === 'DELETE') return r('secrets.delete', (c, nm) => this.remove(c, 's', nm));
        return unsupported;
      case 'certificates':
        if (name === 'issuers' || name === 'contacts' || name === 'restore') return unsupported;
        if (n === 1 && m === 'GET') return { operation: 'certificates.list', run: (c) => this.list(c, 'c') };
        if (n === 3 && a === 'create' && m === 'POST')
          return r('certificates.create', (c, nm) => this.createCertificate(c, nm, body));
        if (n === 3 && a === 'pending' && m === 'GET')
          return r('certificates.pending', (c, nm) => this.pending(c, nm));
        if (n === 3 && a === 'pending' && m === 'PATCH')
          return r('certificates.cancel', (c, nm) => this.cancel(c, nm, body, false));
        if (n === 3 && a === 'pending' && m === 'DELETE')
          return r('certificates.deletePending', (c, nm) => this.cancel(c, nm, body, true));
        if (n === 4 && a === 'pending' && b === 'merge' && m === 'POST')
          return r('certificates.merge', (c, nm) => this.merge(c, nm, body));
        if (n === 3 && a === 'policy' && m === 'GET')
          return r('certificates.policy', (c, nm) => this.policy(c, nm));
        if (n === 3 && a === 'versions' && m === 'GET')
          return r('certificates.versions', (c, nm) => this.versions(c, 'c', nm));
        if ((n === 2 || n === 3) && m === 'GET')
          return r('certificates.get', (c, nm) => this.getCertificate(c, nm, a ?? ''));
        if (n === 2 && m === 'DELETE') return r('certificates.delete', (c, nm) => this.remove(c, 'c', nm));
        return unsupported;
      case 'deletedkeys':
      case 'deletedsecrets':
      case 'deletedcertificates': {
        const kind: Kind = collection === 'deletedkeys' ? 'k' : collection === 'deletedsecrets' ? 's' : 'c';
        const area = { k: 'keys', s: 'secrets', c: 'certificates' }[kind];
        if (n === 2 && m === 'GET') return r(`${area}.getDeleted`, (c, nm) => this.getDeleted(c, kind, nm));
        if (n === 2 && m === 'DELETE') return r(`${area}.purge`, (c, nm) => this.purge(c, kind, nm));
        if (n === 3 && a === 'recover' && m === 'POST')
          return r(`${area}.recover`, (c, nm) => this.recover(c, kind, nm));
        return unsupported;
      }
      default:
        return unsupported;
    }
  }

  /** Runs a read-modify-write again when another request committed first. */
  private async mutate<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof StoreConflict) || attempt >= 4) throw e;
      }
    }
  }

  private async live(ctx: Ctx, kind: Kind, name: string): Promise<StoredHead> {
    const head = await this.store.head(ctx.vault, kind, name);
    if (!head || head.deletedAt !== undefined || !head.latest) throw notFound(kind, name);
    return head;
  }

  private async versionOf<T>(ctx: Ctx, kind: Kind, head: Head, version: string): Promise<T> {
    const v = await this.store.version<T>(ctx.vault, kind, head.name, version || head.latest);
    if (!v) throw notFound(kind, `${head.name}/${version}`);
    return v;
  }

  // ---------- bundles ----------

  private keyBundle(ctx: Ctx, head: Head, k: KeyVersion): Record<string, unknown> {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = k.publicJwk;
    return {
      key: { kid: `${ctx.base}/keys/${head.name}/${k.version}`, ...pub, kty: k.kty, key_ops: k.keyOps },
      attributes: attributesOut(k.attributes, { exportable: k.exportable }),
      ...(k.tags ? { tags: k.tags } : {}),
      ...(head.managed ? { managed: true } : {}),
    };
  }

  private secretBundle(ctx: Ctx, head: Head, v: SecretVersion, withValue: boolean): Record<string, unknown> {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${ctx.base}/secrets/${head.name}/${v.version}`,
      ...(v.contentType ? { contentType: v.contentType } : {}),
      attributes: attributesOut(v.attributes),
      ...(v.tags ? { tags: v.tags } : {}),
      ...(v.kid ? { kid: v.kid } : {}),
      ...(head.managed ? { managed: true } : {}),
    };
  }

  private certBundle(ctx: Ctx, head: Head, v: CertVersion, withPolicy: boolean): Record<string, unknown> {
    const der = v.cer ? Buffer.from(v.cer, 'base64') : undefined;
    return {
      id: `${ctx.base}/certificates/${head.name}/${v.version}`,
      kid: `${ctx.base}/keys/${head.name}/${v.version}`,
      sid: `${ctx.base}/secrets/${head.name}/${v.version}`,
      ...(der ? { x5t: b64url(createHash('sha1').update(der).digest()), cer: der.toString('base64') } : {}),
      attributes: attributesOut(v.attributes),
      ...(v.tags ? { tags: v.tags } : {}),
      ...(withPolicy && head.policy ? { policy: this.policyBundle(ctx, head) } : {}),
    };
  }

  private policyBundle(ctx: Ctx, head: Head): Record<string, unknown> {
    return { id: `${ctx.base}/certificates/${head.name}/policy`, ...head.policy };
  }

  private opBundle(ctx: Ctx, head: Head, op: CertOperation): Record<string, unknown> {
    return {
      id: `${ctx.base}/certificates/${head.name}/pending`,
      issuer: { name: op.issuer },
      csr: op.csr,
      cancellation_requested: op.cancellationRequested,
      status: op.status,
      status_details:
        op.status === 'inProgress'
          ? op.issuer === 'Unknown'
            ? 'Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.'
            : 'Pending certificate created. Please check again later.'
          : op.status,
      request_id: op.requestId,
      ...(op.status === 'completed' ? { target: `${ctx.base}/certificates/${head.name}` } : {}),
    };
  }

  private deletedFields(ctx: Ctx, kind: Kind, head: Head): Record<string, unknown> {
    const collection = { k: 'deletedkeys', s: 'deletedsecrets', c: 'deletedcertificates' }[kind];
    return {
      recoveryId: `${ctx.base}/${collection}/${head.name}`,
      deletedDate: head.deletedAt,
      scheduledPurgeDate: (head.deletedAt ?? ctx.s) + RECOVERABLE_DAYS * 86_400,
    };
  }

  private async bundleOf(ctx: Ctx, kind: Kind, head: Head): Promise<Record<string, unknown>> {
    if (kind === 'k') return this.keyBundle(ctx, head, await this.versionOf<KeyVersion>(ctx, 'k', head, ''));
    if (kind === 's')
      return this.secretBundle(ctx, head, await this.versionOf<SecretVersion>(ctx, 's', head, ''), false);
    return this.certBundle(ctx, head, await this.versionOf<CertVersion>(ctx, 'c', head, ''), true);
  }

  // ---------- certificate completion ----------

  /** A self-issued certificate whose time has come is completed on the next read. */
  private async settle(ctx: Ctx, name: string): Promise<void> {
    const head = await this.store.head(ctx.vault, 'c', name);
    const op = head?.op;
    if (!head || !op || op.status !== 'inProgress' || op.readyAt === undefined || op.readyAt > ctx.nowMs)
      return;
    if (head.deletedAt !== undefined || !op.pendingCer) return;
    try {
      await this.complete(ctx, head, Buffer.from(op.pendingCer, 'base64'), []);
    } catch (e) {
      if (!(e instanceof StoreConflict)) throw e;
    }
  }

  private async settleAll(ctx: Ctx): Promise<void> {
    for (const head of await this.store.heads(ctx.vault, 'c'))
      if (head.op?.status === 'inProgress' && head.op.readyAt !== undefined && head.op.readyAt <= ctx.nowMs)
        await this.settle(ctx, head.name);
  }

  /** Publishes a pending version: certificate, its key enabled, and its secret. One transaction. */
  private async complete(ctx: Ctx, head: StoredHead, leaf: Buffer, chain: Buffer[]): Promise<CertVersion> {
    const op = head.op!;
    const policy = head.policy as unknown as Policy;
    const cert = new X509Certificate(leaf);
    const window = {
      nbf: Math.floor(new Date(cert.validFrom).getTime() / 1000),
      exp: Math.floor(new Date(cert.validTo).getTime() / 1000),
    };
    const cv = await this.versionOf<CertVersion>(ctx, 'c', head, op.version);
    const key = await this.versionOf<KeyVersion>(ctx, 'k', head, op.version);
    const certVersion: CertVersion = {
      ...cv,
      cer: leaf.toString('base64'),
      chain: chain.map((c) => c.toString('base64')),
      attributes: { ...cv.attributes, enabled: true, ...window, updated: ctx.s },
    };
    const secret = secretValue(policy, key, [leaf, ...chain]);
    const { pendingCer: _pc, readyAt: _r, ...rest } = op;
    const writes: Write[] = [
      {
        op: 'put-head',
        kind: 'c',
        head: { ...strip(head), op: { ...rest, status: 'completed' } },
        etag: head.etag,
      },
      { op: 'put-version', kind: 'c', name: head.name, data: certVersion },
      {
        op: 'put-version',
        kind: 'k',
        name: head.name,
        data: { ...key, attributes: { ...key.attributes, enabled: true, ...window, updated: ctx.s } },
      },
      { op: 'put-head', kind: 's', head: { name: head.name, latest: op.version, managed: true } },
      {
        op: 'put-version',
        kind: 's',
        name: head.name,
        data: {
          version: op.version,
          ...secret,
          attributes: { enabled: true, ...window, created: ctx.s, updated: ctx.s },
          kid: `${ctx.base}/keys/${head.name}/${op.version}`,
        } satisfies SecretVersion,
      },
    ];
    await this.store.commit(ctx.vault, writes);
    return certVersion;
  }

  // ---------- keys ----------

  private async createKey(ctx: Ctx, name: string, body: Record<string, unknown>): Promise<CloudResponse> {
    const kty = String(body['kty'] ?? '').replace(/-HSM$/, '');
    if (kty !== 'EC' && kty !== 'RSA')
      throw badParameter(`Property kty has invalid value ${String(body['kty'])}.`);
    let material: GeneratedKey;
    let crv: Curve | undefined;
    let size: number | undefined;
    if (kty === 'EC') {
      crv = (body['crv'] ?? 'P-256') as Curve;
      if (!CURVES.includes(crv))
        throw badParameter(
          `Curve ${String(crv)} is not supported by the local Key Vault emulator (P-256, P-384).`,
        );
      material = generateKey('EC', { curve: crv });
    } else {
      size = (body['key_size'] ?? 2048) as number;
      if (![2048, 3072, 4096].includes(size)) throw badParameter('Property key_size has invalid value.');
      material = generateKey('RSA', { size });
    }
    const keyOps =
      stringList(body['key_ops'], 'key_ops') ?? (kty === 'EC' ? ['sign', 'verify'] : KEY_OPS.slice(0, 6));
    for (const op of keyOps)
      if (!KEY_OPS.includes(op)) throw badParameter(`Key operation ${op} is not valid.`);
    const attrs = (body['attributes'] ?? {}) as Record<string, unknown>;
    const exportable = attrs['exportable'] === true;
    if (exportable && !body['release_policy'])
      throw badParameter('Exportable keys must have a release policy.');
    const tags = tagsIn(body['tags']);
    await sleep(LATENCY_MS.key * this.opts.latencyFactor);
    return this.mutate(async () => {
      const head = await this.store.head(ctx.vault, 'k', name);
      if (head?.deletedAt !== undefined) throw deletedConflict('k', name);
      if (head?.managed) throw new KvError(409, 'Conflict', `Key ${name} is managed by certificate ${name}.`);
      const version: KeyVersion = {
        version: newVersion(),
        kty,
        ...(crv ? { crv } : {}),
        ...(size ? { size } : {}),
        keyOps,
        publicJwk: material.publicJwk as Record<string, unknown>,
        privateKey: material.privateKey,
        exportable,
        attributes: attributesIn(attrs, ctx.s),
        ...(tags ? { tags } : {}),
      };
      const newHead: Head = { ...(head ? strip(head) : { name }), latest: version.version };
      await this.store.commit(ctx.vault, [
        { op: 'put-head', kind: 'k', head: newHead, ...(head ? { etag: head.etag } : { create: true }) },
        { op: 'put-version', kind: 'k', name, data: version },
      ]);
      return json(200, this.keyBundle(ctx, newHead, version));
    });
  }

  private async getKey(ctx: Ctx, name: string, version: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    const head = await this.live(ctx, 'k', name);
    return json(200, this.keyBundle(ctx, head, await this.versionOf<KeyVersion>(ctx, 'k', head, version)));
  }

  private async usableKey(ctx: Ctx, name: string, version: string, operation: 'sign' | 'verify') {
    await this.settle(ctx, name);
    const head = await this.live(ctx, 'k', name);
    const key = await this.versionOf<KeyVersion>(ctx, 'k', head, version);
    if (!key.attributes.enabled)
      throw new KvError(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on a disabled key.`,
        'KeyDisabled',
      );
    if (!key.keyOps.includes(operation))
      throw new KvError(
        403,
        'Forbidden',
        `Operation ${operation} is not permitted on this key.`,
        'KeyOperationForbidden',
      );
    if (
      (key.attributes.nbf !== undefined && ctx.s < key.attributes.nbf) ||
      (key.attributes.exp !== undefined && ctx.s > key.attributes.exp)
    )
      throw new KvError(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on a key outside its validity period.`,
      );
    return { head, key };
  }

  private checkAlgorithm(key: KeyVersion, alg: unknown, digest: Buffer | undefined): SignatureAlgorithm {
    const needs = typeof alg === 'string' ? algorithmNeeds(alg) : undefined;
    if (!needs) throw badParameter(`Property alg has invalid value ${String(alg)}.`);
    if (needs.kty !== key.kty || (needs.curve && needs.curve !== key.crv))
      throw badParameter(
        `Algorithm ${String(alg)} is not valid for a ${key.crv ? `${key.kty} ${key.crv}` : key.kty} key.`,
      );
    if (!digest || digest.length !== needs.digestLength)
      throw badParameter(`The digest for ${String(alg)} must be ${needs.digestLength} bytes.`);
    return alg as SignatureAlgorithm;
  }

  private async sign(
    ctx: Ctx,
    name: string,
    version: string,
    body: Record<string, unknown>,
  ): Promise<CloudResponse> {
    const { head, key } = await this.usableKey(ctx, name, version, 'sign');
    const digest = fromB64url(body['value']);
    const alg = this.checkAlgorithm(key, body['alg'], digest);
    const signature = signDigest(key.privateKey, alg, digest!);
    return json(200, { kid: `${ctx.base}/keys/${head.name}/${key.version}`, value: b64url(signature) });
  }

  private async verify(
    ctx: Ctx,
    name: string,
    version: string,
    body: Record<string, unknown>,
  ): Promise<CloudResponse> {
    const { key } = await this.usableKey(ctx, name, version, 'verify');
    const digest = fromB64url(body['digest']);
    const alg = this.checkAlgorithm(key, body['alg'], digest);
    const signature = fromB64url(body['value']) ?? Buffer.alloc(0);
    return json(200, { value: verifyDigest(key.publicJwk as never, alg, digest!, signature) });
  }

  // ---------- secrets ----------

  private async setSecret(ctx: Ctx, name: string, body: Record<string, unknown>): Promise<CloudResponse> {
    if (typeof body['value'] !== 'string') throw badParameter('Property value is required.');
    if (Buffer.byteLength(body['value']) > SECRET_MAX_BYTES)
      throw badParameter('The secret value exceeds the maximum allowed size of 25 KB.');
    if (body['contentType'] !== undefined && typeof body['contentType'] !== 'string')
      throw badParameter('Property contentType has invalid value.');
    const tags = tagsIn(body['tags']);
    return this.mutate(async () => {
      const head = await this.store.head(ctx.vault, 's', name);
      if (head?.deletedAt !== undefined) throw deletedConflict('s', name);
      if (head?.managed)
        throw new KvError(
          403,
          'Forbidden',
          `Secret ${name} is managed by certificate ${name} and cannot be set.`,
        );
      const version: SecretVersion = {
        version: newVersion(),
        value: body['value'] as string,
        ...(typeof body['contentType'] === 'string' ? { contentType: body['contentType'] } : {}),
        attributes: attributesIn(body['attributes'], ctx.s),
        ...(tags ? { tags } : {}),
      };
      const newHead: Head = { ...(head ? strip(head) : { name }), latest: version.version };
      await this.store.commit(ctx.vault, [
        { op: 'put-head', kind: 's', head: newHead, ...(head ? { etag: head.etag } : { create: true }) },
        { op: 'put-version', kind: 's', name, data: version },
      ]);
      return json(200, this.secretBundle(ctx, newHead, version, true));
    });
  }

  private async getSecret(ctx: Ctx, name: string, version: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    const head = await this.live(ctx, 's', name);
    const v = await this.versionOf<SecretVersion>(ctx, 's', head, version);
    if (!v.attributes.enabled)
      throw new KvError(
        403,
        'Forbidden',
        'Operation get is not allowed on a disabled secret.',
        'SecretDisabled',
      );
    return json(200, this.secretBundle(ctx, head, v, true));
  }

  // ---------- shared: list, versions, update, delete, deleted, purge, recover ----------

  private page(ctx: Ctx, items: Array<Record<string, unknown>>): CloudResponse {
    const max = Math.min(Number(ctx.req.url.searchParams.get('maxresults') ?? PAGE) || PAGE, PAGE);
    const skip = Number(ctx.req.url.searchParams.get('$skiptoken') ?? 0) || 0;
    const next = new URL(ctx.req.url.href);
    next.searchParams.set('$skiptoken', String(skip + max));
    return json(200, {
      value: items.slice(skip, skip + max),
      nextLink: skip + max < items.length ? next.href : null,
    });
  }

  private itemOf(
    ctx: Ctx,
    kind: Kind,
    head: Head,
    v: KeyVersion | SecretVersion | CertVersion,
    versioned: boolean,
  ) {
    const suffix = versioned ? `/${v.version}` : '';
    const common = {
      attributes: attributesOut(
        v.attributes,
        kind === 'k' ? { exportable: (v as KeyVersion).exportable } : {},
      ),
      ...(v.tags ? { tags: v.tags } : {}),
    };
    if (kind === 'k')
      return {
        kid: `${ctx.base}/keys/${head.name}${suffix}`,
        ...common,
        ...(head.managed ? { managed: true } : {}),
      };
    if (kind === 's') {
      const s = v as SecretVersion;
      return {
        id: `${ctx.base}/secrets/${head.name}${suffix}`,
        ...common,
        ...(s.contentType ? { contentType: s.contentType } : {}),
        ...(head.managed ? { managed: true } : {}),
      };
    }
    const c = v as CertVersion;
    return {
      id: `${ctx.base}/certificates/${head.name}${suffix}`,
      ...common,
      ...(c.cer ? { x5t: b64url(createHash('sha1').update(Buffer.from(c.cer, 'base64')).digest()) } : {}),
    };
  }

  private async list(ctx: Ctx, kind: Kind): Promise<CloudResponse> {
    await this.settleAll(ctx);
    const includePending = ctx.req.url.searchParams.get('includePending') === 'true';
    const items: Array<Record<string, unknown>> = [];
    const heads = (await this.store.heads(ctx.vault, kind)).filter(
      (h) => h.deletedAt === undefined && h.latest,
    );
    for (const head of heads.sort((x, y) => x.name.localeCompare(y.name))) {
      const v = await this.store.version<KeyVersion & SecretVersion & CertVersion>(
        ctx.vault,
        kind,
        head.name,
        head.latest,
      );
      if (!v || (kind === 'c' && !v.cer && !includePending)) continue;
      items.push(this.itemOf(ctx, kind, head, v, false));
    }
    return this.page(ctx, items);
  }

  private async versions(ctx: Ctx, kind: Kind, name: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    const head = await this.live(ctx, kind, name);
    const all = await this.store.versions<KeyVersion & SecretVersion & CertVersion>(ctx.vault, kind, name);
    all.sort((x, y) => x.attributes.created - y.attributes.created || x.version.localeCompare(y.version));
    return this.page(
      ctx,
      all.map((v) => this.itemOf(ctx, kind, head, v, true)),
    );
  }

  private async update(
    ctx: Ctx,
    kind: 'k' | 's',
    name: string,
    version: string,
    body: Record<string, unknown>,
  ) {
    return this.mutate(async () => {
      const head = await this.live(ctx, kind, name);
      const v = await this.versionOf<KeyVersion & SecretVersion>(ctx, kind, head, version);
      const tags = tagsIn(body['tags'], v.tags);
      const updated = {
        ...v,
        attributes: attributesIn(body['attributes'], ctx.s, v.attributes),
        ...(tags ? { tags } : {}),
        ...(kind === 'k' && body['key_ops'] ? { keyOps: stringList(body['key_ops'], 'key_ops')! } : {}),
        ...(kind === 's' && typeof body['contentType'] === 'string'
          ? { contentType: body['contentType'] }
          : {}),
      };
      await this.store.commit(ctx.vault, [
        { op: 'put-head', kind, head: strip(head), etag: head.etag },
        { op: 'put-version', kind, name, data: updated },
      ]);
      return json(
        200,
        kind === 'k' ? this.keyBundle(ctx, head, updated) : this.secretBundle(ctx, head, updated, false),
      );
    });
  }

  private async remove(ctx: Ctx, kind: Kind, name: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    return this.mutate(async () => {
      const head = await this.live(ctx, kind, name);
      if (head.managed)
        throw new KvError(
          403,
          'Forbidden',
          `${kind === 'k' ? 'Key' : 'Secret'} ${name} is managed by certificate ${name}; delete the certificate.`,
        );
      const deleted = { ...strip(head), deletedAt: ctx.s };
      const writes: Write[] = [{ op: 'put-head', kind, head: deleted, etag: head.etag }];
      if (kind === 'c') {
        // A certificate's key and secret go with it.
        for (const k of ['k', 's'] as const) {
          const owned = await this.store.head(ctx.vault, k, name);
          if (owned?.managed)
            writes.push({
              op: 'put-head',
              kind: k,
              head: { ...strip(owned), deletedAt: ctx.s },
              etag: owned.etag,
            });
        }
      }
      const bundle = await this.bundleOf(ctx, kind, head);
      await this.store.commit(ctx.vault, writes);
      return json(200, { ...bundle, ...this.deletedFields(ctx, kind, deleted) });
    });
  }

  private async deletedHead(ctx: Ctx, kind: Kind, name: string): Promise<StoredHead> {
    const head = await this.store.head(ctx.vault, kind, name);
    if (!head || head.deletedAt === undefined) {
      const what = { k: 'Key', s: 'Secret', c: 'Certificate' }[kind];
      throw new KvError(404, notFound(kind, name).code, `Deleted ${what} not found: ${name}`);
    }
    return head;
  }

  private async getDeleted(ctx: Ctx, kind: Kind, name: string): Promise<CloudResponse> {
    const head = await this.deletedHead(ctx, kind, name);
    return json(200, { ...(await this.bundleOf(ctx, kind, head)), ...this.deletedFields(ctx, kind, head) });
  }

  private async purge(ctx: Ctx, kind: Kind, name: string): Promise<CloudResponse> {
    const head = await this.deletedHead(ctx, kind, name);
    if (head.managed)
      throw new KvError(403, 'Forbidden', `${name} is managed by a certificate; purge the certificate.`);
    const kinds: Kind[] = kind === 'c' ? ['c', 'k', 's'] : [kind];
    const writes: Write[] = [];
    for (const k of kinds) {
      const h = k === kind ? head : await this.store.head(ctx.vault, k, name);
      if (!h || (k !== kind && !h.managed)) continue;
      writes.push({ op: 'delete-head', kind: k, name });
      for (const v of await this.store.versions<{ version: string }>(ctx.vault, k, name))
        writes.push({ op: 'delete-version', kind: k, name, version: v.version });
    }
    for (let i = 0; i < writes.length; i += 100) await this.store.commit(ctx.vault, writes.slice(i, i + 100));
    return { status: 204 };
  }

  private async recover(ctx: Ctx, kind: Kind, name: string): Promise<CloudResponse> {
    const head = await this.deletedHead(ctx, kind, name);
    if (head.managed)
      throw new KvError(403, 'Forbidden', `${name} is managed by a certificate; recover the certificate.`);
    const writes: Write[] = [];
    for (const k of kind === 'c' ? (['c', 'k', 's'] as const) : [kind]) {
      const h = k === kind ? head : await this.store.head(ctx.vault, k, name);
      if (!h || h.deletedAt === undefined || (k !== kind && !h.managed)) continue;
      const { deletedAt: _d, ...live } = strip(h);
      writes.push({ op: 'put-head', kind: k, head: live, etag: h.etag });
    }
    await this.store.commit(ctx.vault, writes);
    const { deletedAt: _d, ...live } = strip(head);
    return json(200, await this.bundleOf(ctx, kind, live));
  }

  // ---------- certificates ----------

  private async createCertificate(
    ctx: Ctx,
    name: string,
    body: Record<string, unknown>,
  ): Promise<CloudResponse> {
    const policy = policyIn(body['policy'], ctx.s);
    if (policy.issuer.name !== 'Self' && policy.issuer.name !== 'Unknown')
      throw badParameter(
        `Issuer ${policy.issuer.name} is not configured in this vault (the local emulator knows Self and Unknown).`,
      );
    const tags = tagsIn(body['tags']);
    const certAttrs = attributesIn(body['attributes'], ctx.s);
    const response = await this.mutate(async () => {
      const head = await this.store.head(ctx.vault, 'c', name);
      if (head?.deletedAt !== undefined) throw deletedConflict('c', name);
      if (head?.op?.status === 'inProgress')
        throw new KvError(
          409,
          'Conflict',
          `There is a pending operation for certificate ${name}. Complete, cancel or delete it before creating a new version.`,
        );
      const keyHead = await this.store.head(ctx.vault, 'k', name);
      if (keyHead && !keyHead.managed)
        throw new KvError(409, 'Conflict', `A key named ${name} already exists.`);
      if (keyHead?.deletedAt !== undefined) throw deletedConflict('k', name);
      const secretHead = await this.store.head(ctx.vault, 's', name);
      if (secretHead && !secretHead.managed)
        throw new KvError(409, 'Conflict', `A secret named ${name} already exists.`);
      const version = newVersion();
      const previousKey =
        policy.key_props.reuse_key && keyHead
          ? await this.store.version<KeyVersion>(ctx.vault, 'k', name, keyHead.latest)
          : undefined;
      const material = previousKey
        ? { privateKey: previousKey.privateKey, publicJwk: previousKey.publicJwk }
        : generateKey(policy.key_props.kty, {
            ...(policy.key_props.crv ? { curve: policy.key_props.crv } : {}),
            ...(policy.key_props.key_size ? { size: policy.key_props.key_size } : {}),
          });
      const key: KeyVersion = {
        version,
        kty: policy.key_props.kty,
        ...(policy.key_props.crv ? { crv: policy.key_props.crv } : {}),
        ...(policy.key_props.key_size ? { size: policy.key_props.key_size } : {}),
        keyOps: policy.key_props.kty === 'EC' ? ['sign', 'verify'] : KEY_OPS.slice(0, 6),
        publicJwk: material.publicJwk as Record<string, unknown>,
        privateKey: material.privateKey,
        exportable: policy.key_props.exportable,
        // Usable once the certificate is issued.
        attributes: { enabled: false, created: ctx.s, updated: ctx.s },
      };
      const csr = await buildCsr(policy, key);
      const op: CertOperation = {
        version,
        requestId: newVersion(),
        issuer: policy.issuer.name,
        csr: csr.toString('base64'),
        status: 'inProgress',
        cancellationRequested: false,
      };
      if (policy.issuer.name === 'Self') {
        op.pendingCer = (await buildSelfSigned(policy, key, ctx.nowMs)).toString('base64');
        op.readyAt = ctx.nowMs + LATENCY_MS.certificateSelf * this.opts.latencyFactor;
      }
      const newHead: Head = {
        ...(head ? strip(head) : {}),
        name: head?.name ?? name,
        latest: version,
        policy: policy as never,
        op,
      };
      const certVersion: CertVersion = {
        version,
        attributes: { ...certAttrs, enabled: false },
        ...(tags ? { tags } : {}),
      };
      await this.store.commit(ctx.vault, [
        { op: 'put-head', kind: 'c', head: newHead, ...(head ? { etag: head.etag } : { create: true }) },
        { op: 'put-version', kind: 'c', name, data: certVersion },
        {
          op: 'put-head',
          kind: 'k',
          head: { name: keyHead?.name ?? name, latest: version, managed: true },
          ...(keyHead ? { etag: keyHead.etag } : { create: true }),
        },
        { op: 'put-version', kind: 'k', name, data: key },
      ]);
      return json(202, this.opBundle(ctx, newHead, op), {
        location: `${ctx.base}/certificates/${name}/pending?api-version=${ctx.apiVersion}`,
        'retry-after': '10',
      });
    });
    return response;
  }

  private async pending(ctx: Ctx, name: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    const head = await this.store.head(ctx.vault, 'c', name);
    if (!head || head.deletedAt !== undefined || !head.op)
      throw new KvError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
    return json(200, this.opBundle(ctx, head, head.op));
  }

  private async policy(ctx: Ctx, name: string): Promise<CloudResponse> {
    const head = await this.store.head(ctx.vault, 'c', name);
    if (!head || head.deletedAt !== undefined || !head.policy) throw notFound('c', name);
    return json(200, this.policyBundle(ctx, head));
  }

  private async getCertificate(ctx: Ctx, name: string, version: string): Promise<CloudResponse> {
    await this.settle(ctx, name);
    const head = await this.live(ctx, 'c', name);
    return json(
      200,
      this.certBundle(ctx, head, await this.versionOf<CertVersion>(ctx, 'c', head, version), true),
    );
  }

  private async merge(ctx: Ctx, name: string, body: Record<string, unknown>): Promise<CloudResponse> {
    const certs = parseX5c(body['x5c']);
    const head = await this.store.head(ctx.vault, 'c', name);
    if (!head || head.deletedAt !== undefined) throw notFound('c', name);
    const op = head.op;
    if (!op || op.status !== 'inProgress')
      throw new KvError(403, 'Forbidden', 'Pending status must be in progress to allow merge.');
    if (op.issuer !== 'Unknown')
      throw badParameter(
        `Merge is only allowed for certificates with issuer Unknown; ${name} has issuer ${op.issuer}.`,
      );
    const key = await this.versionOf<KeyVersion>(ctx, 'k', head, op.version);
    const keySpki = spkiOfJwk(key.publicJwk);
    const leafIndex = certs.findIndex((c) =>
      c.publicKey.export({ type: 'spki', format: 'der' }).equals(keySpki),
    );
    if (leafIndex < 0)
      throw badParameter(
        'Public key from x5c parameter does not match the public key of the pending certificate.',
      );
    await sleep(LATENCY_MS.merge * this.opts.latencyFactor);
    const leaf = certs[leafIndex]!;
    const chain = certs.filter((_, i) => i !== leafIndex).map((c) => c.raw);
    let version: CertVersion;
    try {
      version = await this.complete(ctx, head, leaf.raw, chain);
    } catch (e) {
      if (e instanceof StoreConflict)
        throw new KvError(
          409,
          'Conflict',
          `There was a conflict while updating pending certificate '${ctx.base}/certificates/${name}/${op.version}'. This can happen when multiple operations are performed in parallel against the pending certificate. To avoid this error, perform operations against the pending certificate in a sequential manner.`,
        );
      throw e;
    }
    return json(201, this.certBundle(ctx, head, version, true));
  }

  /** Cancels (PATCH) or deletes (DELETE) the pending operation; the pending version goes away. */
  private async cancel(
    ctx: Ctx,
    name: string,
    body: Record<string, unknown>,
    remove: boolean,
  ): Promise<CloudResponse> {
    return this.mutate(async () => {
      const head = await this.store.head(ctx.vault, 'c', name);
      if (!head || head.deletedAt !== undefined || !head.op)
        throw new KvError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
      const op = head.op;
      if (!remove) {
        if (body['cancellation_requested'] !== true)
          throw badParameter('Property cancellation_requested must be true.');
        if (op.status !== 'inProgress')
          throw new KvError(403, 'Forbidden', 'Pending status must be in progress to allow update.');
      }
      const writes: Write[] = [];
      let latest = head.latest;
      if (op.status === 'inProgress') {
        writes.push({ op: 'delete-version', kind: 'c', name, version: op.version });
        writes.push({ op: 'delete-version', kind: 'k', name, version: op.version });
        const completed = (await this.store.versions<CertVersion>(ctx.vault, 'c', name))
          .filter((v) => v.cer && v.version !== op.version)
          .sort((x, y) => y.attributes.created - x.attributes.created);
        latest = completed[0]?.version ?? '';
        const keyHead = await this.store.head(ctx.vault, 'k', name);
        if (keyHead)
          writes.push(
            latest
              ? { op: 'put-head', kind: 'k', head: { ...strip(keyHead), latest }, etag: keyHead.etag }
              : { op: 'delete-head', kind: 'k', name, etag: keyHead.etag },
          );
      }
      const finalOp: CertOperation = {
        ...op,
        cancellationRequested: true,
        status: op.status === 'inProgress' ? 'cancelled' : op.status,
      };
      const { op: _op, ...rest } = strip(head);
      if (remove && !latest) writes.push({ op: 'delete-head', kind: 'c', name, etag: head.etag });
      else
        writes.push({
          op: 'put-head',
          kind: 'c',
          head: { ...rest, latest, ...(remove ? {} : { op: finalOp }) },
          etag: head.etag,
        });
      await this.store.commit(ctx.vault, writes);
      return json(200, this.opBundle(ctx, head, finalOp));
    });
  }

  // ---------- snapshot ----------

  async snapshot(): Promise<VaultSnapshot> {
    const rows = await this.store.all();
    const vaults: VaultSnapshot = {};
    const byKey = new Map(rows.map((r) => [`${r.vault}/${r.rowKey}`, r.data]));
    for (const { vault, rowKey, data } of rows) {
      const [kind, , version] = rowKey.split('|');
      if (version !== undefined) continue;
      const head = data as Head;
      const v = (vaults[vault] ??= { certificates: [], keys: [], secrets: [] });
      const latest = byKey.get(`${vault}/${rowKey}|${head.latest}`);
      if (kind === 's') {
        if (head.deletedAt === undefined) v.secrets.push(head.name);
      } else if (kind === 'k' && latest) {
        const k = latest as KeyVersion;
        v.keys.push({
          name: head.name,
          kty: k.kty,
          ...(k.crv ? { crv: k.crv } : {}),
          exportable: k.exportable,
          managed: head.managed === true,
          deleted: head.deletedAt !== undefined,
        });
      } else if (kind === 'c') {
        const c = latest as CertVersion | undefined;
        const status: CertificateStatus =
          head.deletedAt !== undefined
            ? 'deleted'
            : c?.cer
              ? 'completed'
              : head.op?.status === 'cancelled'
                ? 'cancelled'
                : 'pending';
        if (c?.cer) {
          const d = describeCertificate(derToPem(Buffer.from(c.cer, 'base64')));
          v.certificates.push({
            name: head.name,
            subject: d.subject,
            issuer: d.issuer,
            serial: d.serial,
            notBefore: d.notBefore.toISOString(),
            notAfter: d.notAfter.toISOString(),
            status,
          });
        } else {
          v.certificates.push({
            name: head.name,
            subject: (head.policy as Policy | undefined)?.x509_props.subject ?? '',
            status,
          });
        }
      }
    }
    for (const v of Object.values(vaults)) {
      v.certificates.sort((a, b) => a.name.localeCompare(b.name));
      v.keys.sort((a, b) => a.name.localeCompare(b.name));
      v.secrets.sort();
    }
    return vaults;
  }
}

/** A head without its ETag, ready to write back. */
function strip(head: StoredHead | Head): Head {
  const { etag: _e, ...rest } = head as StoredHead;
  return rest;
}
