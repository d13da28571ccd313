import { createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';

/**
 * Compact JWS as TrustNet receives it: ES256 (keys in Key Vault) or EdDSA (keys held elsewhere), the
 * signer named by an embedded public `jwk` (applicants) or a `kid` (members). Parsing and verifying are
 * separate because the key for a `kid` comes from the registry in between.
 */

export class SignedPayloadError extends Error {
  readonly status = 401;
  constructor(
    readonly code: 'JWS.INVALID' | 'JWS.SIGNATURE',
    message: string,
  ) {
    super(message);
    this.name = 'SignedPayloadError';
  }
}

export const ALGORITHMS = ['ES256', 'EdDSA'] as const;

export interface ParsedJws {
  jws: string;
  alg: (typeof ALGORITHMS)[number];
  jwk?: JWK;
  kid?: string;
  payload: Record<string, unknown>;
}

function decodePayload(jws: string): Record<string, unknown> {
  const part = jws.split('.')[1] ?? '';
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new SignedPayloadError('JWS.INVALID', 'The JWS payload is not JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SignedPayloadError('JWS.INVALID', 'The JWS payload must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/** Checks the shape (three base64url parts, allowed alg, one way of naming the key) without verifying. */
export function parseJws(text: string, signer: 'jwk' | 'kid'): ParsedJws {
  const jws = text.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws)) {
    throw new SignedPayloadError(
      'JWS.INVALID',
      'The body must be a compact JWS: three base64url parts joined by dots.',
    );
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new SignedPayloadError('JWS.INVALID', 'The JWS protected header is not valid JSON.');
  }
  if (!ALGORITHMS.includes(header.alg as (typeof ALGORITHMS)[number])) {
    throw new SignedPayloadError(
      'JWS.INVALID',
      `The JWS must use ES256 or EdDSA; got ${JSON.stringify(header.alg)}.`,
    );
  }
  if (header.crit !== undefined)
    throw new SignedPayloadError('JWS.INVALID', 'The JWS must not carry "crit" headers.');
  const payload = decodePayload(jws);
  if (signer === 'jwk') {
    const jwk = header.jwk as JWK | undefined;
    if (!jwk || typeof jwk !== 'object')
      throw new SignedPayloadError(
        'JWS.INVALID',
        'The protected header must carry the signer\'s public "jwk".',
      );
    if ('d' in jwk)
      throw new SignedPayloadError(
        'JWS.INVALID',
        'The "jwk" in the header is a private key; send the public key only.',
      );
    const fits =
      (jwk.kty === 'EC' && jwk.crv === 'P-256' && header.alg === 'ES256') ||
      (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && header.alg === 'EdDSA');
    if (!fits)
      throw new SignedPayloadError(
        'JWS.INVALID',
        'The header "jwk" must be an EC P-256 key (ES256) or an Ed25519 key (EdDSA).',
      );
    return { jws, alg: header.alg as ParsedJws['alg'], jwk, payload };
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new SignedPayloadError(
      'JWS.INVALID',
      'The protected header must carry "kid": the signing member\'s id.',
    );
  }
  return { jws, alg: header.alg as ParsedJws['alg'], kid: header.kid, payload };
}

// Importing a JWK costs about as much as verifying with it; members' keys are few and reused.
const imported = new Map<string, KeyObject>();
const MAX_IMPORTED = 2048;

/** A public key in the schema's shape for `alg`, with nothing (key_ops, ext, a private part) to weigh. */
function isPlain(key: JWK, alg: ParsedJws['alg']): boolean {
  return (
    (alg === 'ES256'
      ? key.kty === 'EC' && key.crv === 'P-256' && typeof key.y === 'string'
      : key.kty === 'OKP' && key.crv === 'Ed25519') &&
    typeof key.x === 'string' &&
    key.key_ops === undefined &&
    key.ext === undefined &&
    key.d === undefined
  );
}

/** The plain key as node:crypto uses it; undefined if it is not a valid public key. */
function plainKey(key: JWK, alg: ParsedJws['alg']): KeyObject | undefined {
  const id = `${alg}|${key.x}|${key.y ?? ''}`;
  let k = imported.get(id);
  if (!k) {
    const jwk =
      alg === 'ES256'
        ? { kty: 'EC', crv: 'P-256', x: key.x, y: key.y }
        : { kty: 'OKP', crv: 'Ed25519', x: key.x };
    try {
      k = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      return undefined;
    }
    if (imported.size >= MAX_IMPORTED) imported.delete(imported.keys().next().value!);
    imported.set(id, k);
  }
  return k;
}

/**
 * Verifies the signature with `key` (the header's jwk, or the member's registered key).
 *
 * For a plain public key (the schema's shape) this is node:crypto's one-shot verify, synchronous (the
 * thread pool's wake-ups would cost the event loop more than the check), after the same checks jose
 * makes: parseJws has checked three base64url parts, a JSON protected header, an allowed `alg` and no
 * `crit` (so `b64` is ignored and the payload is base64url); the key's type and curve suit `alg`, and
 * createPublicKey refuses a point that is not on the curve. ES256 signatures are IEEE P1363 r||s, as in
 * JWS. Any other key goes through jose's importJWK and compactVerify, which accept or refuse it as before.
 */
export async function verifyJws(parsed: ParsedJws, key: JWK): Promise<void> {
  const k = isPlain(key, parsed.alg) ? plainKey(key, parsed.alg) : undefined;
  if (!k) return verifyWithJose(parsed, key);
  const dot = parsed.jws.lastIndexOf('.');
  const data = Buffer.from(parsed.jws.slice(0, dot), 'ascii');
  const signature = Buffer.from(parsed.jws.slice(dot + 1), 'base64url');
  let ok: boolean;
  try {
    ok =
      parsed.alg === 'ES256'
        ? cryptoVerify('sha256', data, { key: k, dsaEncoding: 'ieee-p1363' }, signature)
        : cryptoVerify(null, data, k, signature);
  } catch (e) {
    throw cannotCheck(e);
  }
  if (!ok) throw doesNotVerify();
}

async function verifyWithJose(parsed: ParsedJws, key: JWK): Promise<void> {
  try {
    await compactVerify(parsed.jws, await importJWK(key, parsed.alg), { algorithms: [parsed.alg] });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw doesNotVerify();
    throw cannotCheck(e);
  }
}

function doesNotVerify(): SignedPayloadError {
  return new SignedPayloadError('JWS.SIGNATURE', "The signature does not verify with the signer's key.");
}

function cannotCheck(e: unknown): SignedPayloadError {
  const name = (e as { code?: string }).code;
  return new SignedPayloadError(
    'JWS.SIGNATURE',
    `The signature cannot be checked with the signer's key (${name ?? 'key mismatch'}).`,
  );
}

/** RFC 7638 thumbprint: the applicant key's stable identity. */
export function keyThumbprint(key: JWK): Promise<string> {
  return calculateJwkThumbprint(key, 'sha256');
}
