import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { parseJws, SignedPayloadError, verifyJws } from './signed';

async function keyPair(alg: 'ES256' | 'EdDSA'): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

async function sign(payload: unknown, key: CryptoKey, alg: 'ES256' | 'EdDSA'): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg, kid: 'bank-a' })
    .sign(key);
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string } | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(SignedPayloadError);
    return { code: (e as SignedPayloadError).code, message: (e as Error).message };
  }
}

describe('verifyJws', () => {
  it.each(['ES256', 'EdDSA'] as const)(
    'accepts a %s signature by the key, and refuses it by another',
    async (alg) => {
      const signer = await keyPair(alg);
      const other = await keyPair(alg);
      const parsed = parseJws(await sign({ vote: 'approve' }, signer.privateKey, alg), 'kid');
      await expect(verifyJws(parsed, signer.publicJwk)).resolves.toBeUndefined();
      // Twice: the second time with the kept key.
      await expect(verifyJws(parsed, signer.publicJwk)).resolves.toBeUndefined();
      expect(await failure(verifyJws(parsed, other.publicJwk))).toEqual({
        code: 'JWS.SIGNATURE',
        message: "The signature does not verify with the signer's key.",
      });
    },
  );

  it('refuses a changed payload or signature', async () => {
    const signer = await keyPair('ES256');
    const jws = await sign({ vote: 'approve' }, signer.privateKey, 'ES256');
    const [h, , s] = jws.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ vote: 'reject' })).toString('base64url')}.${s}`;
    expect((await failure(verifyJws(parseJws(forged, 'kid'), signer.publicJwk)))?.code).toBe('JWS.SIGNATURE');
    const truncated = jws.slice(0, -4);
    expect((await failure(verifyJws(parseJws(truncated, 'kid'), signer.publicJwk)))?.code).toBe(
      'JWS.SIGNATURE',
    );
  });

  it('refuses a key that does not suit the algorithm, as jose does', async () => {
    const ed = await keyPair('EdDSA');
    const ec = await keyPair('ES256');
    const parsed = parseJws(await sign({ a: 1 }, ec.privateKey, 'ES256'), 'kid');
    const wrongType = await failure(verifyJws(parsed, ed.publicJwk));
    expect(wrongType?.code).toBe('JWS.SIGNATURE');
    expect(wrongType?.message).toMatch(/cannot be checked/);
    // A point that is not on the curve.
    const offCurve = { ...ec.publicJwk, y: ec.publicJwk.x };
    expect((await failure(verifyJws(parsed, offCurve)))?.message).toMatch(/cannot be checked/);
  });

  it('weighs key_ops and ext through jose, as before', async () => {
    const signer = await keyPair('ES256');
    const parsed = parseJws(await sign({ a: 1 }, signer.privateKey, 'ES256'), 'kid');
    await expect(verifyJws(parsed, { ...signer.publicJwk, key_ops: ['verify'] })).resolves.toBeUndefined();
    await expect(verifyJws(parsed, { ...signer.publicJwk, ext: true })).resolves.toBeUndefined();
    expect((await failure(verifyJws(parsed, { ...signer.publicJwk, key_ops: ['encrypt'] })))?.code).toBe(
      'JWS.SIGNATURE',
    );
  });
});
