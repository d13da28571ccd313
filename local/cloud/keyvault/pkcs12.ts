import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * The PKCS#12 Key Vault puts in a certificate's secret: no password, the key (when exportable) in a plain
 * keyBag, the chain in certBags, and a SHA-256 MAC under the empty password so OpenSSL and Windows open
 * it as they open Key Vault's own downloads. Built with a few DER helpers rather than a library.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octets = (b: Buffer) => tlv(0x04, b);
const explicit0 = (b: Buffer) => tlv(0xa0, b);
const NULL = Buffer.from([0x05, 0x00]);

function int(v: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return tlv(0x02, Buffer.from(hex, 'hex'));
}

function oid(text: string): Buffer {
  const arcs = text.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift((v & 0x7f) | (chunk.length ? 0x80 : 0));
      v = Math.floor(v / 128);
    } while (v > 0);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
};

const dataContent = (content: Buffer) => seq(oid(OID.data), explicit0(octets(content)));

/** RFC 7292 appendix B.2 key derivation, with SHA-256 (u = 32, v = 64). */
function deriveKey(id: number, password: Buffer, salt: Buffer, iterations: number, n: number): Buffer {
  const u = 32;
  const v = 64;
  const fill = (b: Buffer) =>
    b.length === 0
      ? Buffer.alloc(0)
      : Buffer.from(Array.from({ length: v * Math.ceil(b.length / v) }, (_, i) => b[i % b.length]!));
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  for (let i = 0; i < Math.ceil(n / u); i++) {
    let A = createHash('sha256').update(D).update(I).digest();
    for (let j = 1; j < iterations; j++) A = createHash('sha256').update(A).digest();
    out.push(A);
    const B = Buffer.from(Array.from({ length: v }, (_, k) => A[k % u]!));
    for (let off = 0; off < I.length; off += v) {
      // I_j = (I_j + B + 1) mod 2^(8v), big-endian.
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[off + k]! + B[k]! + carry;
        I[off + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n);
}

export function pkcs12(p: { privateKeyPkcs8?: Buffer; certificates: Buffer[] }): Buffer {
  const keyId = createHash('sha1')
    .update(p.certificates[0] ?? Buffer.alloc(0))
    .digest();
  const attrs = set(seq(oid(OID.localKeyId), set(octets(keyId))));
  const certBags = p.certificates.map((der, i) =>
    seq(
      oid(OID.certBag),
      explicit0(seq(oid(OID.x509Certificate), explicit0(octets(der)))),
      // The leaf carries the key's id, so readers pair them.
      ...(i === 0 && p.privateKeyPkcs8 ? [attrs] : []),
    ),
  );
  const safes = [dataContent(seq(...certBags))];
  if (p.privateKeyPkcs8)
    safes.push(dataContent(seq(seq(oid(OID.keyBag), explicit0(p.privateKeyPkcs8), attrs))));
  const authSafe = seq(...safes);
  const salt = randomBytes(16);
  const iterations = 2048;
  // The empty password as a BMPString with its terminator, as Windows and OpenSSL encode it.
  const macKey = deriveKey(3, Buffer.alloc(2), salt, iterations, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  return seq(
    int(3),
    dataContent(authSafe),
    seq(seq(seq(oid(OID.sha256), NULL), octets(mac)), octets(salt), int(iterations)),
  );
}
