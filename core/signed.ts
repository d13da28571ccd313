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
const imported = new Map<string, Promise<Awaited<ReturnType<typeof importJWK>>>>();
const MAX_IMPORTED = 2048;

function importedKey(key: JWK, alg: string): ReturnType<typeof importJWK> {
  const id = `${alg}|${key.kty}|${key.crv}|${key.x}|${key.y ?? ''}`;
  let p = imported.get(id);
  if (!p) {
    if (imported.size >= MAX_IMPORTED) imported.delete(imported.keys().next().value!);
    p = importJWK(key, alg);
    imported.set(id, p);
    p.catch(() => imported.delete(id));
  }
  return p;
}

/** Verifies the signature with `key` (the header's jwk, or the member's registered key). */
export async function verifyJws(parsed: ParsedJws, key: JWK): Promise<void> {
  try {
    const imported = await importedKey(key, parsed.alg);
    await compactVerify(parsed.jws, imported, { algorithms: [parsed.alg] });
  } catch (e) {
    const name = (e as { code?: string }).code;
    if (name === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
      throw new SignedPayloadError('JWS.SIGNATURE', "The signature does not verify with the signer's key.");
    }
    throw new SignedPayloadError(
      'JWS.SIGNATURE',
      `The signature cannot be checked with the signer's key (${name ?? 'key mismatch'}).`,
    );
  }
}

/** RFC 7638 thumbprint: the applicant key's stable identity. */
export function keyThumbprint(key: JWK): Promise<string> {
  return calculateJwkThumbprint(key, 'sha256');
}
