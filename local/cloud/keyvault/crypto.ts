import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

/**
 * Key Vault's `sign` and `verify` take a digest the client computed, and Node signs only messages (it
 * always hashes), so the emulator signs digests itself: ECDSA in BigInt arithmetic for P-256 and P-384,
 * and RSA through the raw private operation with PKCS#1 v1.5 or PSS encoding done here. Local use only:
 * none of this is constant-time.
 */

export type KeyType = 'EC' | 'RSA';
export type Curve = 'P-256' | 'P-384';
export type SignatureAlgorithm =
  'ES256' | 'ES384' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

export const CURVES: readonly Curve[] = ['P-256', 'P-384'];
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  'ES256',
  'ES384',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];

interface CurveParams {
  p: bigint;
  a: bigint;
  b: bigint;
  n: bigint;
  G: [bigint, bigint];
  size: number;
  nodeName: string;
}

const h = (hex: string) => BigInt(`0x${hex}`);

const CURVE_PARAMS: Record<Curve, CurveParams> = {
  'P-256': {
    p: h('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
    a: h('ffffffff00000001000000000000000000000000fffffffffffffffffffffffc'),
    b: h('5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'),
    n: h('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
    G: [
      h('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
      h('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
    ],
    size: 32,
    nodeName: 'prime256v1',
  },
  'P-384': {
    p: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff'),
    a: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc'),
    b: h('b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef'),
    n: h('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'),
    G: [
      h('aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7'),
      h('3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f'),
    ],
    size: 48,
    nodeName: 'secp384r1',
  },
};

const mod = (a: bigint, m: bigint) => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

/** Both moduli are prime, so Fermat gives the inverse. */
const inv = (a: bigint, m: bigint) => modPow(a, m - 2n, m);

type Jacobian = [bigint, bigint, bigint] | null;

function double(c: CurveParams, P: Jacobian): Jacobian {
  if (!P || P[1] === 0n) return null;
  const [X, Y, Z] = P;
  const { p } = c;
  // dbl-2001-b, for a = -3.
  const delta = (Z * Z) % p;
  const gamma = (Y * Y) % p;
  const beta = (X * gamma) % p;
  const alpha = mod(3n * (X - delta) * (X + delta), p);
  const X3 = mod(alpha * alpha - 8n * beta, p);
  const Z3 = mod((Y + Z) * (Y + Z) - gamma - delta, p);
  const Y3 = mod(alpha * (4n * beta - X3) - 8n * gamma * gamma, p);
  return [X3, Y3, Z3];
}

function add(c: CurveParams, P: Jacobian, Q: Jacobian): Jacobian {
  if (!P) return Q;
  if (!Q) return P;
  const { p } = c;
  const [X1, Y1, Z1] = P;
  const [X2, Y2, Z2] = Q;
  // add-2007-bl
  const Z1Z1 = (Z1 * Z1) % p;
  const Z2Z2 = (Z2 * Z2) % p;
  const U1 = (X1 * Z2Z2) % p;
  const U2 = (X2 * Z1Z1) % p;
  const S1 = (((Y1 * Z2) % p) * Z2Z2) % p;
  const S2 = (((Y2 * Z1) % p) * Z1Z1) % p;
  const H = mod(U2 - U1, p);
  const r = mod(2n * (S2 - S1), p);
  if (H === 0n) return r === 0n ? double(c, P) : null;
  const I = (4n * H * H) % p;
  const J = (H * I) % p;
  const V = (U1 * I) % p;
  const X3 = mod(r * r - J - 2n * V, p);
  const Y3 = mod(r * (V - X3) - 2n * S1 * J, p);
  const Z3 = mod(((Z1 + Z2) * (Z1 + Z2) - Z1Z1 - Z2Z2) * H, p);
  return [X3, Y3, Z3];
}

function multiply(c: CurveParams, k: bigint, P: [bigint, bigint]): Jacobian {
  let R: Jacobian = null;
  const base: Jacobian = [P[0], P[1], 1n];
  for (let i = k.toString(2).length - 1; i >= 0; i--) {
    R = double(c, R);
    if ((k >> BigInt(i)) & 1n) R = add(c, R, base);
  }
  return R;
}

function affine(c: CurveParams, P: Jacobian): [bigint, bigint] | null {
  if (!P) return null;
  const zi = inv(P[2], c.p);
  const zi2 = (zi * zi) % c.p;
  return [(P[0] * zi2) % c.p, (((P[1] * zi2) % c.p) * zi) % c.p];
}

const toBig = (bytes: Uint8Array) => (bytes.length ? BigInt(`0x${Buffer.from(bytes).toString('hex')}`) : 0n);
const toBytes = (v: bigint, size: number) => Buffer.from(v.toString(16).padStart(size * 2, '0'), 'hex');

/** The digest as an integer, cut to the order's bit length (FIPS 186-4, 6.4). */
function digestInt(c: CurveParams, digest: Uint8Array): bigint {
  const bits = c.n.toString(2).length;
  let e = toBig(digest);
  const excess = digest.length * 8 - bits;
  if (excess > 0) e >>= BigInt(excess);
  return e;
}

function curveOf(key: KeyObject): CurveParams {
  const name = key.asymmetricKeyDetails?.namedCurve;
  const c = Object.values(CURVE_PARAMS).find((x) => x.nodeName === name);
  if (!c) throw new Error(`Unsupported curve ${name}.`);
  return c;
}

function ecSign(key: KeyObject, digest: Uint8Array): Buffer {
  const c = curveOf(key);
  const d = toBig(Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url'));
  const e = digestInt(c, digest);
  for (;;) {
    const k = mod(toBig(randomBytes(c.size + 8)), c.n - 1n) + 1n;
    const R = affine(c, multiply(c, k, c.G));
    if (!R) continue;
    const r = mod(R[0], c.n);
    if (r === 0n) continue;
    const s = mod(inv(k, c.n) * (e + r * d), c.n);
    if (s === 0n) continue;
    return Buffer.concat([toBytes(r, c.size), toBytes(s, c.size)]);
  }
}

function ecVerify(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const c = curveOf(key);
  if (signature.length !== 2 * c.size) return false;
  const r = toBig(signature.subarray(0, c.size));
  const s = toBig(signature.subarray(c.size));
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const jwk = key.export({ format: 'jwk' });
  const Q: [bigint, bigint] = [
    toBig(Buffer.from(jwk.x!, 'base64url')),
    toBig(Buffer.from(jwk.y!, 'base64url')),
  ];
  const w = inv(s, c.n);
  const X = affine(
    c,
    add(c, multiply(c, mod(digestInt(c, digest) * w, c.n), c.G), multiply(c, mod(r * w, c.n), Q)),
  );
  return X !== null && mod(X[0], c.n) === r;
}

// ---------- RSA ----------

const HASHES = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const;
const DIGEST_INFO_PREFIX: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; Buffer.concat(out).length < length; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    out.push(createHash(hash).update(seed).update(counter).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

function modulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails?.modulusLength ?? 0;
}

/** EMSA-PSS-ENCODE (RFC 8017, 9.1.1), salt as long as the hash, as Key Vault uses. */
function pssEncode(hash: string, digest: Uint8Array, emBits: number): Buffer {
  const hLen = digest.length;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const H = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(hash, H, db.length);
  const masked = Buffer.from(db.map((b, i) => b ^ mask[i]!));
  masked[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([masked, H, Buffer.from([0xbc])]);
}

function pssVerify(hash: string, digest: Uint8Array, em: Buffer, emBits: number): boolean {
  const hLen = digest.length;
  const emLen = Math.ceil(emBits / 8);
  if (em.length !== emLen || em[emLen - 1] !== 0xbc) return false;
  const masked = em.subarray(0, emLen - hLen - 1);
  const H = em.subarray(emLen - hLen - 1, emLen - 1);
  const mask = mgf1(hash, H, masked.length);
  const db = Buffer.from(masked.map((b, i) => b ^ mask[i]!));
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const sep = emLen - 2 * hLen - 2;
  if (!db.subarray(0, sep).every((b) => b === 0) || db[sep] !== 1) return false;
  const salt = db.subarray(sep + 1);
  const H2 = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return H2.equals(H);
}

// ---------- the operations the emulator exposes ----------

const DIGEST_LENGTH: Record<string, number> = { '256': 32, '384': 48, '512': 64 };

/** Which key type and digest length an algorithm needs; undefined when unknown. */
export function algorithmNeeds(
  alg: string,
): { kty: KeyType; digestLength: number; curve?: Curve } | undefined {
  const m = /^(ES|RS|PS)(256|384|512)$/.exec(alg);
  if (!m || !(SIGNATURE_ALGORITHMS as readonly string[]).includes(alg)) return undefined;
  const digestLength = DIGEST_LENGTH[m[2]!]!;
  if (m[1] === 'ES') return { kty: 'EC', digestLength, curve: m[2] === '256' ? 'P-256' : 'P-384' };
  return { kty: 'RSA', digestLength };
}

export function signDigest(privateKeyPkcs8: string, alg: SignatureAlgorithm, digest: Uint8Array): Buffer {
  const key = createPrivateKey({ key: Buffer.from(privateKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  if (alg.startsWith('ES')) return ecSign(key, digest);
  const hash = HASHES[alg.slice(2) as keyof typeof HASHES];
  if (alg.startsWith('RS')) {
    const info = Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash]!, 'hex'), digest]);
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, info);
  }
  const em = pssEncode(hash, digest, modulusBits(key) - 1);
  const padded = Buffer.concat([Buffer.alloc(Math.ceil(modulusBits(key) / 8) - em.length), em]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, padded);
}

export function verifyDigest(
  publicJwk: JsonWebKey,
  alg: SignatureAlgorithm,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  const key = createPublicKey({ key: publicJwk, format: 'jwk' });
  try {
    if (alg.startsWith('ES')) return ecVerify(key, digest, signature);
    const hash = HASHES[alg.slice(2) as keyof typeof HASHES];
    if (alg.startsWith('RS')) {
      const info = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
      return info.equals(Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash]!, 'hex'), digest]));
    }
    const raw = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, signature);
    const emBits = modulusBits(key) - 1;
    return pssVerify(hash, digest, raw.subarray(raw.length - Math.ceil(emBits / 8)), emBits);
  } catch {
    return false;
  }
}

export interface GeneratedKey {
  /** PKCS#8 DER, base64; stays in the emulator's table. */
  privateKey: string;
  publicJwk: JsonWebKey;
}

export function generateKey(kty: KeyType, opts: { curve?: Curve; size?: number }): GeneratedKey {
  const pair =
    kty === 'EC'
      ? generateKeyPairSync('ec', { namedCurve: CURVE_PARAMS[opts.curve ?? 'P-256'].nodeName })
      : generateKeyPairSync('rsa', { modulusLength: opts.size ?? 2048 });
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    publicJwk: pair.publicKey.export({ format: 'jwk' }),
  };
}
