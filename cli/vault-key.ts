import type { TokenCredential } from '@azure/core-auth';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import type { JWK } from 'jose';
import { CliError, EXIT, clean, usageError } from './errors';
import type { VaultSigningKey } from './keys';

/**
 * Governance keys held in a bank's own Azure Key Vault (`--key-vault-key <key id>`). The private key never
 * leaves the vault: the CLI reads the public key, hashes the JWS signing input here and asks the vault to
 * sign the digest (`CryptographyClient.sign('ES256', digest)`), which answers the raw r||s form JWS uses.
 *
 * Messages name the vault, the key and Key Vault's error code, never a token or the service's free text
 * (which can carry the caller's object ids).
 */

/** How to reach Key Vault; tests point it at the local cloud's emulator. */
export interface VaultKeyOptions {
  /** Default: DefaultAzureCredential (az login, environment, managed identity, …). */
  credential?: TokenCredential;
  httpClient?: HttpClient;
  retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

export interface VaultKeyId {
  vaultUrl: string;
  name: string;
  version?: string;
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** `https://<vault>.vault.azure.net/keys/<name>[/<version>]`, as the portal and `az keyvault key show` give it. */
export function parseVaultKeyId(id: string): VaultKeyId {
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    throw usageError(
      `--key-vault-key ${clean(id)} is not a key id (https://<vault>.vault.azure.net/keys/<name>[/<version>])`,
    );
  }
  const parts = url.pathname.split('/').filter(Boolean);
  if (
    url.protocol !== 'https:' ||
    url.search ||
    url.hash ||
    url.username ||
    parts[0] !== 'keys' ||
    parts.length < 2 ||
    parts.length > 3 ||
    !parts.slice(1).every((p) => NAME.test(p))
  )
    throw usageError(
      `--key-vault-key ${clean(id)} is not a key id (https://<vault>.vault.azure.net/keys/<name>[/<version>])`,
    );
  return { vaultUrl: url.origin, name: parts[1]!, ...(parts[2] ? { version: parts[2] } : {}) };
}

interface RestLike {
  name?: string;
  code?: string;
  statusCode?: number;
  details?: unknown;
  message?: string;
  response?: { bodyAsText?: string | null; parsedBody?: unknown };
}

const NETWORK = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH']);

/** Key Vault's `innererror.code` (KeyDisabled, …), wherever this SDK version left the error body. */
function innerCode(e: RestLike): string | undefined {
  const bodies: unknown[] = [e.details, e.response?.parsedBody];
  try {
    if (e.response?.bodyAsText) bodies.push(JSON.parse(e.response.bodyAsText));
  } catch {
    // not JSON: no inner code
  }
  for (const body of bodies) {
    // The service sends `innererror`; the SDK's deserialised `details` call it `innerError`.
    type Inner = { innererror?: { code?: unknown }; innerError?: { code?: unknown } };
    const b = body as (Inner & { error?: Inner }) | undefined;
    const code =
      b?.error?.innerError?.code ?? b?.error?.innererror?.code ?? b?.innerError?.code ?? b?.innererror?.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Key Vault and sign-in failures as one clear line, with no secret and no service free text in it. */
export function vaultKeyError(what: string, id: VaultKeyId, e: unknown): CliError {
  const err = (e ?? {}) as RestLike;
  const key = `key ${id.name} in ${id.vaultUrl}`;
  if (err.name === 'CredentialUnavailableError' || err.name === 'AggregateAuthenticationError')
    return usageError(
      `cannot sign in to Azure to use ${key}: no credential is available (run az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret or certificate, or run with a managed identity)`,
    );
  if (err.name === 'AuthenticationError' || err.name === 'AuthenticationRequiredError')
    return usageError(`cannot sign in to Azure to use ${key}: the sign-in was refused (${clean(err.name)})`);
  const status = err.statusCode;
  if (status === undefined) {
    if (err.code && NETWORK.has(err.code))
      return new CliError(`cannot reach ${id.vaultUrl}: ${err.code}`, EXIT.unreachable);
    return new CliError(
      `${what} with ${key} failed: ${clean(err.code ?? err.name ?? 'error')}`,
      EXIT.refused,
    );
  }
  const code = clean(err.code ?? String(status));
  const inner = innerCode(err);
  if (status === 401)
    return usageError(`Key Vault refused the token for ${key} (401 ${code}): sign in to the vault's tenant`);
  if (status === 403 && inner === 'KeyDisabled')
    return usageError(`${key} is disabled; enable it or use another`);
  if (status === 403 && inner === 'KeyOperationForbidden')
    return usageError(`${key} does not allow sign (its key operations leave it out)`);
  if (status === 403)
    return usageError(
      `no access to ${key} (403 ${code}): the signed-in identity needs get and sign on keys (the "Key Vault Crypto User" role)`,
    );
  if (status === 404) return usageError(`there is no ${key} (404 ${code})`);
  if (status === 429 || status >= 500)
    return new CliError(
      `${what} with ${key} failed: Key Vault answered ${status} ${code}; try again`,
      EXIT.refused,
    );
  return new CliError(`${what} with ${key} failed: ${status} ${code}`, EXIT.refused);
}

function b64(bytes: Uint8Array | undefined, length: number): string | undefined {
  if (!bytes || bytes.length > length) return undefined;
  // A coordinate with leading zero bytes may come shorter; JWK wants it full length.
  const full = Buffer.alloc(length);
  Buffer.from(bytes).copy(full, length - bytes.length);
  return full.toString('base64url');
}

/** The key's public JWK, or a usage error saying why it cannot be a governance key. */
function governanceJwk(key: KeyVaultKey, id: VaultKeyId): JWK {
  const k = key.key;
  const where = `key ${id.name} in ${id.vaultUrl}`;
  if (!key.keyType?.startsWith('EC') || k?.crv !== 'P-256')
    throw usageError(
      `${where} is ${key.keyType ?? '?'}${k?.crv ? ` ${k.crv}` : ''}; governance keys are EC P-256 (ES256)`,
    );
  if (key.properties.enabled === false) throw usageError(`${where} is disabled; enable it or use another`);
  if (key.keyOperations && !key.keyOperations.includes('sign'))
    throw usageError(`${where} does not allow sign (its key operations leave it out)`);
  const x = b64(k.x, 32);
  const y = b64(k.y, 32);
  if (!x || !y) throw usageError(`${where} has no usable P-256 public key`);
  return { kty: 'EC', crv: 'P-256', x, y };
}

/** The Key Vault key behind `--key-vault-key`, read once; each signature is one call to the vault. */
export async function openVaultKey(keyId: string, options: VaultKeyOptions = {}): Promise<VaultSigningKey> {
  const id = parseVaultKeyId(keyId);
  // Loaded only when a vault key is used, so file-key commands start as fast as before.
  const { KeyClient, CryptographyClient } = await import('@azure/keyvault-keys');
  const credential = options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
  const clientOptions = {
    retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000, ...options.retryOptions },
    ...(options.httpClient ? { httpClient: options.httpClient } : {}),
  };
  let key: KeyVaultKey;
  try {
    key = await new KeyClient(id.vaultUrl, credential, clientOptions).getKey(
      id.name,
      id.version ? { version: id.version } : {},
    );
  } catch (e) {
    throw vaultKeyError('reading the public key', id, e);
  }
  const publicJwk = governanceJwk(key, id);
  const crypto = new CryptographyClient(key, credential, clientOptions);
  const versioned = key.id ?? keyId;
  return {
    kind: 'vault',
    keyId: versioned,
    alg: 'ES256',
    publicJwk,
    async signDigest(digest: Uint8Array): Promise<Uint8Array> {
      let result: Uint8Array;
      try {
        result = (await crypto.sign('ES256', digest)).result;
      } catch (e) {
        throw vaultKeyError('signing', id, e);
      }
      // JWS ES256 is r||s, 32 bytes each; Key Vault answers that form (not DER), which this holds it to.
      if (result.length !== 64)
        throw new CliError(
          `signing with key ${id.name} in ${id.vaultUrl} gave a ${result.length}-byte signature; ES256 needs 64 (r||s)`,
          EXIT.refused,
        );
      return result;
    },
  };
}
