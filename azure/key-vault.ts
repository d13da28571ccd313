import type { TokenCredential } from '@azure/core-auth';
import { RestError, type HttpClient, type PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { CertificateClient, type CertificateOperation } from '@azure/keyvault-certificates';
import { CryptographyClient, KeyClient, type KeyVaultKey } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import type { JsonWebKey } from 'node:crypto';
import { derToPem, describeCertificate, pemToDer, type Signer } from '../core/certificates';
import { retryAfterMs, serviceErrorBody } from './azure-error';

/**
 * Key Vault through the real SDKs, in our terms: typed errors with stable codes, signers for the
 * consortium CA, and certificate creation split into steps an orchestration can take one at a time (send
 * the create; read the CSR; merge the signed chain) instead of one SDK poller blocking an activity.
 *
 * In Azure the clients use the app's managed identity; under the local host `httpClient` hands every
 * request to the local cloud's Key Vault emulator.
 */

export type VaultErrorCode =
  | 'VAULT.NOT_FOUND'
  | 'VAULT.FORBIDDEN'
  | 'VAULT.CONFLICT'
  | 'VAULT.BAD_REQUEST'
  | 'VAULT.THROTTLED'
  | 'VAULT.UNAVAILABLE'
  | 'VAULT.UNREACHABLE'
  | 'VAULT.KEY_UNSUPPORTED'
  | 'VAULT.BUSY'
  | 'VAULT.FAILED';

/** A Key Vault call that failed. Messages name the operation and object, never a secret value. */
export class VaultError extends Error {
  readonly azureCode?: string;
  readonly status?: number;
  /** Waiting and trying again can help (429, 5xx, timeouts, a vault still coming up). */
  readonly transient: boolean;
  /** From Retry-After on a 429, when Key Vault said. */
  readonly retryAfterMs?: number;

  constructor(
    readonly code: VaultErrorCode,
    message: string,
    detail: { azureCode?: string; status?: number; transient: boolean; retryAfterMs?: number },
  ) {
    super(message);
    this.name = 'VaultError';
    this.transient = detail.transient;
    if (detail.azureCode !== undefined) this.azureCode = detail.azureCode;
    if (detail.status !== undefined) this.status = detail.status;
    if (detail.retryAfterMs !== undefined) this.retryAfterMs = detail.retryAfterMs;
  }

  /** What a step records: no stack, no request. */
  toJSON(): { code: string; message: string; azureCode?: string; transient: boolean } {
    return {
      code: this.code,
      message: this.message,
      ...(this.azureCode ? { azureCode: this.azureCode } : {}),
      transient: this.transient,
    };
  }
}

const DNS_ERRORS = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const NETWORK_ERRORS = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

const clip = (text: string) => (text.length > 400 ? `${text.slice(0, 397)}...` : text);

function serviceError(e: RestError): { code?: string; message?: string } {
  return serviceErrorBody(e) ?? { ...(e.code ? { code: e.code } : {}) };
}

/** Translates whatever an SDK call threw; `what` says what we were doing ("get secret x"). */
export function toVaultError(what: string, e: unknown): VaultError {
  if (e instanceof VaultError) return e;
  if (e instanceof RestError || (e instanceof Error && e.name === 'RestError')) {
    const rest = e as RestError;
    const status = rest.statusCode;
    if (status === undefined && rest.code && DNS_ERRORS.has(rest.code))
      // A vault created moments ago may not resolve yet.
      return new VaultError(
        'VAULT.UNREACHABLE',
        `${what} failed: the vault's name does not resolve (${rest.code}).`,
        {
          azureCode: rest.code,
          transient: true,
        },
      );
    if (status === undefined)
      return new VaultError('VAULT.UNAVAILABLE', `${what} failed: ${rest.code ?? 'no response'}.`, {
        ...(rest.code ? { azureCode: rest.code } : {}),
        transient: true,
      });
    const { code: azureCode, message } = serviceError(rest);
    const text = clip(
      `${what} failed (${status}${azureCode ? ` ${azureCode}` : ''})${message ? `: ${message}` : '.'}`,
    );
    const detail = { ...(azureCode ? { azureCode } : {}), status };
    if (status === 429) {
      const after = retryAfterMs(rest);
      return new VaultError('VAULT.THROTTLED', text, {
        ...detail,
        transient: true,
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      });
    }
    if (status === 408 || (status >= 500 && status !== 501))
      return new VaultError('VAULT.UNAVAILABLE', text, { ...detail, transient: true });
    if (status === 404) return new VaultError('VAULT.NOT_FOUND', text, { ...detail, transient: false });
    if (status === 401 || status === 403)
      return new VaultError('VAULT.FORBIDDEN', text, { ...detail, transient: false });
    if (status === 409) return new VaultError('VAULT.CONFLICT', text, { ...detail, transient: false });
    if (status === 400) return new VaultError('VAULT.BAD_REQUEST', text, { ...detail, transient: false });
    return new VaultError('VAULT.FAILED', text, { ...detail, transient: false });
  }
  const err = e as { name?: string; code?: string; message?: string };
  // No token for the vault's tenant (a bank in another tenant without the platform application set).
  if (err?.name === 'CredentialUnavailableError')
    return new VaultError('VAULT.FORBIDDEN', clip(`${what} failed: ${err.message ?? 'no credential'}`), {
      transient: false,
    });
  if (err?.name === 'AbortError' || NETWORK_ERRORS.has(err?.code ?? ''))
    return new VaultError('VAULT.UNAVAILABLE', `${what} failed: ${err.code ?? err.name}.`, {
      transient: true,
    });
  return new VaultError('VAULT.FAILED', clip(`${what} failed: ${err?.message ?? String(e)}`), {
    transient: false,
  });
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toVaultError(what, e);
  }
}

/** Undefined for a 404, the value otherwise. */
async function optional<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call(what, fn);
  } catch (e) {
    if (e instanceof VaultError && e.code === 'VAULT.NOT_FOUND') return undefined;
    throw e;
  }
}

export interface VaultClientOptions {
  credential: TokenCredential;
  /** Set in local mode: the local cloud's in-process client. */
  httpClient?: HttpClient;
  /** Kept short by default (2 retries): orchestrations own the long waits. */
  retryOptions?: PipelineRetryOptions;
}

function clientOptions(opts: VaultClientOptions) {
  return {
    retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000, ...opts.retryOptions },
    ...(opts.httpClient ? { httpClient: opts.httpClient } : {}),
  };
}

function jwkOf(key: KeyVaultKey): JsonWebKey {
  const k = key.key!;
  const b64 = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString('base64url') : undefined);
  return k.kty?.startsWith('EC')
    ? { kty: 'EC', crv: k.crv, x: b64(k.x), y: b64(k.y) }
    : { kty: 'RSA', n: b64(k.n), e: b64(k.e) };
}

function checkEcP256(key: KeyVaultKey, what: string): void {
  if (!key.keyType?.startsWith('EC') || key.key?.crv !== 'P-256')
    throw new VaultError('VAULT.KEY_UNSUPPORTED', `${what} is not an EC P-256 key (ES256 needs one).`, {
      transient: false,
    });
}

/** Signs ES256 with a Key Vault key; the SDK hashes locally and sends only the digest. */
export class KeyVaultSigner implements Signer {
  readonly algorithm = 'ES256' as const;

  private constructor(
    /** The versioned key id: every signature comes from this exact version. */
    readonly keyId: string,
    readonly publicKeyJwk: JsonWebKey,
    private readonly client: CryptographyClient,
  ) {}

  static async open(
    vaultUrl: string,
    keyName: string,
    opts: VaultClientOptions & { version?: string },
  ): Promise<KeyVaultSigner> {
    const keys = new KeyClient(vaultUrl, opts.credential, clientOptions(opts));
    const key = await call(`get key ${keyName}`, () =>
      keys.getKey(keyName, opts.version ? { version: opts.version } : {}),
    );
    checkEcP256(key, `Key ${keyName}`);
    // Built from the fetched key, so signing costs one call and never re-reads the key.
    const client = new CryptographyClient(key, opts.credential, clientOptions(opts));
    return new KeyVaultSigner(key.id!, jwkOf(key), client);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const result = await call(`sign with ${this.keyId}`, () => this.client.signData('ES256', data));
    return result.result;
  }
}

export interface StoredCertificate {
  pem: string;
  version: string;
  thumbprint: string;
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  keyId: string;
}

export interface SecretEntry {
  value: string;
  version: string;
  tags: Record<string, string>;
  createdOn?: Date;
}

export type PendingStatus = 'inProgress' | 'completed' | 'cancelled' | 'failed';

function csrPemOf(op: CertificateOperation | undefined): string | undefined {
  return op?.csr ? derToPem(op.csr, 'CERTIFICATE REQUEST') : undefined;
}

export function vaultAdapter(vaultUrl: string, opts: VaultClientOptions) {
  const options = clientOptions(opts);
  const certs = new CertificateClient(vaultUrl, opts.credential, options);
  const keys = new KeyClient(vaultUrl, opts.credential, options);
  const secrets = new SecretClient(vaultUrl, opts.credential, options);

  async function operation(name: string): Promise<CertificateOperation | undefined> {
    const poller = await optional(`read the pending operation of ${name}`, () =>
      certs.getCertificateOperation(name),
    );
    return poller?.getOperationState().certificateOperation;
  }

  async function latestCompleted(name: string): Promise<StoredCertificate | undefined> {
    const latest = await optional(`get certificate ${name}`, () => certs.getCertificate(name));
    if (!latest) return undefined;
    let found = latest.cer?.length ? latest : undefined;
    if (!found) {
      // A newer version is pending (a renewal): the newest completed one is what the node uses.
      const versions: Array<{ version: string; createdOn: number }> = [];
      await call(`list versions of certificate ${name}`, async () => {
        for await (const p of certs.listPropertiesOfCertificateVersions(name))
          if (p.x509Thumbprint?.length && p.version && p.enabled !== false)
            versions.push({ version: p.version, createdOn: p.createdOn?.getTime() ?? 0 });
      });
      versions.sort((a, b) => b.createdOn - a.createdOn);
      if (!versions[0]) return undefined;
      found = await call(`get certificate ${name}`, () =>
        certs.getCertificateVersion(name, versions[0]!.version),
      );
    }
    const pem = derToPem(found.cer!);
    const d = describeCertificate(pem);
    return {
      pem,
      version: found.properties.version!,
      thumbprint: d.thumbprint,
      serial: d.serial,
      subject: d.subject,
      notBefore: d.notBefore,
      notAfter: d.notAfter,
      keyId: found.keyId!,
    };
  }

  return {
    vaultUrl,

    /** The key's latest version, created (non-exportable EC P-256, sign/verify only) when missing. */
    async ensureEcKey(name: string): Promise<{ kid: string; jwk: JsonWebKey; created: boolean }> {
      let created = false;
      let key = await optional(`get key ${name}`, () => keys.getKey(name));
      if (!key) {
        key = await call(`create key ${name}`, () =>
          keys.createEcKey(name, { curve: 'P-256', keyOps: ['sign', 'verify'], exportable: false }),
        );
        created = true;
      }
      checkEcP256(key, `Key ${name}`);
      return { kid: key.id!, jwk: jwkOf(key), created };
    },

    signer(name: string, version?: string): Promise<KeyVaultSigner> {
      return KeyVaultSigner.open(vaultUrl, name, { ...opts, ...(version ? { version } : {}) });
    },

    /**
     * Starts a certificate whose key never leaves the vault, to be signed outside it (issuer Unknown).
     * Sends the create and returns its CSR without waiting; called again while that operation is pending
     * it returns the same CSR, and once the certificate exists it answers `done` (unless `renew`).
     */
    async beginCertificate(
      name: string,
      subject: string,
      o: { exportable: boolean; validityMonths: number; renew?: boolean },
    ): Promise<{ csrPem: string } | { done: true }> {
      for (let attempt = 0; ; attempt++) {
        const op = await operation(name);
        if (op?.status === 'inProgress' && op.csr) return { csrPem: csrPemOf(op)! };
        if (!o.renew && (await latestCompleted(name))) return { done: true };
        try {
          await call(`create certificate ${name}`, () =>
            certs.beginCreateCertificate(name, {
              issuerName: 'Unknown',
              subject,
              keyType: 'EC',
              keyCurveName: 'P-256',
              exportable: o.exportable,
              reuseKey: false,
              validityInMonths: o.validityMonths,
              contentType: 'application/x-pem-file',
            }),
          );
        } catch (e) {
          // Another caller's create won the race: theirs is the pending operation to use.
          if (e instanceof VaultError && e.code === 'VAULT.CONFLICT' && attempt === 0) continue;
          throw e;
        }
        const csrPem = csrPemOf(await operation(name));
        if (!csrPem)
          throw new VaultError('VAULT.FAILED', `Certificate ${name} was created but has no CSR.`, {
            transient: true,
          });
        return { csrPem };
      }
    },

    /** The pending operation's CSR and status (VAULT.NOT_FOUND when there is none). */
    async pendingCsr(name: string): Promise<{ csrPem: string; status: PendingStatus }> {
      const op = await operation(name);
      const csrPem = csrPemOf(op);
      if (!op || !csrPem)
        throw new VaultError('VAULT.NOT_FOUND', `Certificate ${name} has no pending operation.`, {
          transient: false,
        });
      return { csrPem, status: op.status as PendingStatus };
    },

    /** Merges the signed chain (leaf first). Merging the same leaf again succeeds (a retried step). */
    async mergeCertificate(
      name: string,
      chainPems: string[],
    ): Promise<{ thumbprint: string; serial: string }> {
      const leaf = describeCertificate(chainPems[0]!);
      try {
        await call(`merge certificate ${name}`, () => certs.mergeCertificate(name, chainPems.map(pemToDer)));
      } catch (e) {
        const current = e instanceof VaultError && !e.transient ? await latestCompleted(name) : undefined;
        if (current?.thumbprint !== leaf.thumbprint) throw e;
      }
      return { thumbprint: leaf.thumbprint, serial: leaf.serial };
    },

    /** The newest completed version, or undefined when there is none. */
    getCertificate: latestCompleted,

    async deleteCertificate(name: string): Promise<void> {
      await optional(`delete certificate ${name}`, () => certs.beginDeleteCertificate(name));
    },

    /**
     * A lock made of a pending certificate operation, the one thing Key Vault refuses to create twice
     * (409 while one is pending). A holder that died leaves it behind: after `staleAfterMs` it is broken.
     */
    async tryLock(name: string, now: Date, staleAfterMs: number): Promise<boolean> {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await call(`take lock ${name}`, () =>
            certs.beginCreateCertificate(name, {
              issuerName: 'Unknown',
              subject: `CN=${name}`,
              keyType: 'EC',
              keyCurveName: 'P-256',
              exportable: false,
            }),
          );
          return true;
        } catch (e) {
          if (!(e instanceof VaultError && e.code === 'VAULT.CONFLICT')) throw e;
        }
        const held = await optional(`read lock ${name}`, () => certs.getCertificate(name));
        const since = held?.properties.createdOn?.getTime();
        if (since === undefined || now.getTime() - since < staleAfterMs) return false;
        await optional(`break lock ${name}`, () => certs.deleteCertificateOperation(name)).catch(
          () => undefined,
        );
      }
      return false;
    },

    async unlock(name: string): Promise<void> {
      await optional(`release lock ${name}`, () => certs.deleteCertificateOperation(name));
    },

    async setSecret(
      name: string,
      value: string,
      tags?: Record<string, string>,
    ): Promise<{ version: string }> {
      const s = await call(`set secret ${name}`, () => secrets.setSecret(name, value, tags ? { tags } : {}));
      return { version: s.properties.version! };
    },

    async getSecret(name: string): Promise<string | undefined> {
      return (await optional(`get secret ${name}`, () => secrets.getSecret(name)))?.value;
    },

    /** The value with its version and tags (for values that say which key they belong with). */
    async readSecret(name: string, version?: string): Promise<SecretEntry | undefined> {
      const s = await optional(`get secret ${name}`, () =>
        secrets.getSecret(name, version ? { version } : {}),
      );
      if (!s || s.value === undefined) return undefined;
      return {
        value: s.value,
        version: s.properties.version!,
        tags: s.properties.tags ?? {},
        ...(s.properties.createdOn ? { createdOn: s.properties.createdOn } : {}),
      };
    },

    async deleteSecret(name: string): Promise<void> {
      await optional(`delete secret ${name}`, () => secrets.beginDeleteSecret(name));
    },
  };
}

export type VaultAdapter = ReturnType<typeof vaultAdapter>;
