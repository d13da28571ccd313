import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  calculateJwkThumbprint,
  CompactSign,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { CliError, EXIT, usageError } from './errors';

/**
 * Governance keys as files: JWK JSON, `<name>.private.jwk.json` (mode 600) beside `<name>.public.jwk.json`.
 * Nothing here ever prints or sends a private key: error messages name files, never their contents.
 */

export type Algorithm = 'ES256' | 'EdDSA';

/** A private key in a JWK file on this machine. */
export interface FileSigningKey {
  kind: 'file';
  file: string;
  alg: Algorithm;
  key: CryptoKey;
  /** The public half, as the server expects it in a header `jwk` or a `newKey`. */
  publicJwk: JWK;
}

/** A key held in the bank's own Key Vault: only a SHA-256 digest goes in, a raw r||s signature comes out. */
export interface VaultSigningKey {
  kind: 'vault';
  /** The versioned key id, so every signature of one run comes from the same key version. */
  keyId: string;
  alg: 'ES256';
  publicJwk: JWK;
  /** The ES256 signature of a SHA-256 digest as JWS wants it: 64 bytes, r then s. */
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
}

/** What signs a payload: a key file (`--key`) or a Key Vault key (`--key-vault-key`). */
export type SigningKey = FileSigningKey | VaultSigningKey;

/** Where a signing key lives, for messages: a file name or a key id, never key material. */
export function keySource(key: SigningKey): string {
  return key.kind === 'file' ? key.file : key.keyId;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(
      `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text, which for a key file would be the key itself.
    throw usageError(`${what} ${file} is not JSON`);
  }
}

/** The public members of a P-256 or Ed25519 JWK, or undefined for any other key. */
function publicPart(jwk: Record<string, unknown>): { alg: Algorithm; jwk: JWK } | undefined {
  const b64 = (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
  if (jwk['kty'] === 'EC' && jwk['crv'] === 'P-256' && b64(jwk['x']) && b64(jwk['y']))
    return { alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: jwk['x'] as string, y: jwk['y'] as string } };
  if (jwk['kty'] === 'OKP' && jwk['crv'] === 'Ed25519' && b64(jwk['x']))
    return { alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk['x'] as string } };
  return undefined;
}

function asObject(value: unknown, file: string, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw usageError(`${what} ${file} is not a JWK (a JSON object)`);
  return value as Record<string, unknown>;
}

/** A private signing key from a JWK file: EC P-256 (ES256) or Ed25519 (EdDSA). */
export async function readPrivateKey(path: string): Promise<SigningKey> {
  const file = resolve(path);
  const jwk = asObject(readJsonFile(file, 'key file'), file, 'key file');
  const pub = publicPart(jwk);
  if (!pub) throw usageError(`key file ${file} is not an EC P-256 or Ed25519 JWK`);
  if (typeof jwk['d'] !== 'string')
    throw usageError(
      `key file ${file} holds a public key; signing needs the private key (.private.jwk.json)`,
    );
  let key: CryptoKey;
  try {
    const { kty, crv, x, y, d } = jwk as JWK;
    key = (await importJWK({ kty, crv, x, ...(y ? { y } : {}), d }, pub.alg)) as CryptoKey;
  } catch {
    throw usageError(`key file ${file} holds no usable ${pub.alg} private key`);
  }
  return { kind: 'file', file, alg: pub.alg, key, publicJwk: pub.jwk };
}

/** A public key from a JWK file, for rotation and replacement. A private key is refused, never sent. */
export function readPublicKey(path: string): JWK {
  const file = resolve(path);
  const jwk = asObject(readJsonFile(file, 'public key file'), file, 'public key file');
  if ('d' in jwk || 'p' in jwk || 'k' in jwk)
    throw usageError(
      `${file} holds a private key; give the public key file (.public.jwk.json) — a private key is never sent`,
    );
  const pub = publicPart(jwk);
  if (!pub) throw usageError(`public key file ${file} is not an EC P-256 or Ed25519 JWK`);
  return pub.jwk;
}

export function thumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/**
 * A compact JWS of `payload`. A key file signs through jose; a vault key gets the same protected header
 * and payload segments, built the way jose builds them (base64url of the JSON text), and signs their
 * SHA-256 digest in the vault, so the server cannot tell the two apart.
 */
export async function sign(
  payload: unknown,
  signer: SigningKey,
  header: { jwk: JWK } | { kid: string },
): Promise<string> {
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const protectedHeader = { alg: signer.alg, ...header };
  if (signer.kind === 'file')
    return new CompactSign(body).setProtectedHeader(protectedHeader).sign(signer.key);
  const input = `${b64url(JSON.stringify(protectedHeader))}.${b64url(body)}`;
  const digest = createHash('sha256').update(input, 'ascii').digest();
  const signature = await signer.signDigest(digest);
  return `${input}.${b64url(signature)}`;
}

export interface GeneratedKey {
  privateFile: string;
  publicFile: string;
  publicJwk: JWK;
  thumbprint: string;
}

/** A new P-256 key pair in `dir`; refuses to overwrite either file. */
export async function generateKeyFiles(dir: string, name: string): Promise<GeneratedKey> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name))
    throw usageError(`--name must be letters, digits, dots, hyphens or underscores; got "${name}"`);
  const out = resolve(dir);
  const privateFile = join(out, `${name}.private.jwk.json`);
  const publicFile = join(out, `${name}.public.jwk.json`);
  for (const file of [privateFile, publicFile])
    if (existsSync(file))
      throw usageError(`${file} exists; not overwriting a key file (choose another --name)`);
  try {
    mkdirSync(out, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw usageError(`cannot create ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const priv = { ...(await exportJWK(privateKey)), alg: 'ES256' };
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES256' };
  try {
    // 'wx': fails rather than overwrite, even if the file appeared since the check above.
    writeFileSync(privateFile, JSON.stringify(priv, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(privateFile, 0o600);
    writeFileSync(publicFile, JSON.stringify(publicJwk, null, 2) + '\n', { flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'EEXIST'
        ? `a key file named ${name} appeared in ${out} meanwhile; not overwriting it`
        : `cannot write the key files in ${out}: ${code ?? (e as Error).message}`,
      EXIT.usage,
    );
  }
  return { privateFile, publicFile, publicJwk, thumbprint: await thumbprint(publicJwk) };
}
