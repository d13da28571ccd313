import { randomBytes } from 'node:crypto';
import { buildCrl, issueDoorman, issueNodeCa, selfSignedRoot, type CrlReason } from '../core/certificates';
import { VaultError, type KeyVaultSigner, type VaultAdapter } from './key-vault';

/**
 * The consortium CA in the platform's Key Vault: a root and a doorman (Corda's intermediate CA) whose
 * keys are non-exportable EC P-256 keys (`trustnet-root-ca`, `trustnet-doorman-ca`) and whose
 * certificates are kept as secrets (`trustnet-root-ca-cert`, `trustnet-doorman-ca-cert`, PEM) tagged with
 * the key version that signs for them. Every signature is a Key Vault `sign`: no private key is ever here.
 *
 * Creation happens once. Key Vault has no conditional write, but it does refuse a second pending
 * operation on a certificate, so a pending certificate (`trustnet-ca-lock`) serves as the lock: one caller
 * creates, the others wait and read what it made. A caller that dies holding it leaves a lock that is
 * broken after `lockStaleMs`.
 */

export const ROOT_KEY = 'trustnet-root-ca';
export const DOORMAN_KEY = 'trustnet-doorman-ca';
export const ROOT_CERT_SECRET = 'trustnet-root-ca-cert';
export const DOORMAN_CERT_SECRET = 'trustnet-doorman-ca-cert';
export const CA_LOCK = 'trustnet-ca-lock';

export interface ConsortiumCaOptions {
  consortiumName: string;
  now: () => Date;
  /** L and C of the CA names (Corda's own dev CAs use London, GB). */
  locality?: string;
  country?: string;
  /** How long a CRL is good for (nextUpdate); default 7 days. */
  crlValidityDays?: number;
  /** Waiting for another caller's creation: poll interval and give-up time (then a transient error). */
  lockPollMs?: number;
  lockWaitMs?: number;
  lockStaleMs?: number;
}

interface CaPart {
  pem: string;
  /** The key version that signs for this certificate. */
  kid: string;
}

const DAY = 86_400_000;

/** RFC 4514 escaping, so a consortium name with a comma stays one attribute. */
function escapeDn(value: string): string {
  return value
    .replace(/[,+"\\<>;]/g, (c) => `\\${c}`)
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

/** Corda starts validity at the start of the UTC day, which keeps nodes with a slow clock happy. */
function startOfDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

function addYears(d: Date, years: number): Date {
  const out = new Date(d);
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}

const randomSerial = () => randomBytes(16).toString('hex');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The kid's version, for opening the signer on exactly the key that signed the certificate. */
function keyRef(kid: string): { name: string; version: string } {
  const m = /\/keys\/([^/]+)\/([^/?]+)/.exec(kid);
  if (!m)
    throw new VaultError('VAULT.FAILED', `The CA certificate names no key version (${kid}).`, {
      transient: false,
    });
  return { name: m[1]!, version: m[2]! };
}

export function consortiumCa(platformVault: VaultAdapter, opts: ConsortiumCaOptions) {
  const tail = `O=${escapeDn(opts.consortiumName)}, L=${escapeDn(opts.locality ?? 'London')}, C=${opts.country ?? 'GB'}`;
  const rootSubject = `CN=${escapeDn(`${opts.consortiumName} Root CA`)}, ${tail}`;
  const doormanSubject = `CN=${escapeDn(`${opts.consortiumName} Doorman CA`)}, ${tail}`;
  const pollMs = opts.lockPollMs ?? 1000;
  const waitMs = opts.lockWaitMs ?? 60_000;
  const staleMs = opts.lockStaleMs ?? 10 * 60_000;

  let ready: { root: CaPart; doorman: CaPart } | undefined;
  let inflight: Promise<{ root: CaPart; doorman: CaPart; created: boolean }> | undefined;
  const signers = new Map<string, Promise<KeyVaultSigner>>();

  function signerFor(kid: string): Promise<KeyVaultSigner> {
    let s = signers.get(kid);
    if (!s) {
      const ref = keyRef(kid);
      s = platformVault.signer(ref.name, ref.version);
      signers.set(kid, s);
      s.catch(() => signers.delete(kid));
    }
    return s;
  }

  async function read(secret: string): Promise<CaPart | undefined> {
    const entry = await platformVault.readSecret(secret);
    if (!entry) return undefined;
    const kid = entry.tags['kid'];
    if (!kid) throw new VaultError('VAULT.FAILED', `Secret ${secret} has no kid tag.`, { transient: false });
    return { pem: entry.value, kid };
  }

  async function existing(): Promise<{ root: CaPart; doorman: CaPart } | undefined> {
    const [root, doorman] = await Promise.all([read(ROOT_CERT_SECRET), read(DOORMAN_CERT_SECRET)]);
    return root && doorman ? { root, doorman } : undefined;
  }

  /** Under the lock: whatever a previous, interrupted run left is reused. */
  async function create(): Promise<{ root: CaPart; doorman: CaPart }> {
    const day = startOfDay(opts.now());
    let root = await read(ROOT_CERT_SECRET);
    if (!root) {
      const key = await platformVault.ensureEcKey(ROOT_KEY);
      const pem = await selfSignedRoot({
        subject: rootSubject,
        signer: await signerFor(key.kid),
        serial: randomSerial(),
        notBefore: day,
        notAfter: addYears(day, 10),
      });
      await platformVault.setSecret(ROOT_CERT_SECRET, pem, { kid: key.kid });
      root = { pem, kid: key.kid };
    }
    let doorman = await read(DOORMAN_CERT_SECRET);
    if (!doorman) {
      const key = await platformVault.ensureEcKey(DOORMAN_KEY);
      const pem = await issueDoorman({
        subject: doormanSubject,
        issuerPem: root.pem,
        issuerSigner: await signerFor(root.kid),
        subjectPublicKeyJwk: key.jwk,
        serial: randomSerial(),
        notBefore: day,
        notAfter: addYears(day, 5),
      });
      await platformVault.setSecret(DOORMAN_CERT_SECRET, pem, { kid: key.kid });
      doorman = { pem, kid: key.kid };
    }
    return { root, doorman };
  }

  async function establish(): Promise<{ root: CaPart; doorman: CaPart; created: boolean }> {
    const found = await existing();
    if (found) return { ...found, created: false };
    const started = performance.now();
    for (;;) {
      if (await platformVault.tryLock(CA_LOCK, opts.now(), staleMs)) {
        try {
          const again = await existing();
          return again ? { ...again, created: false } : { ...(await create()), created: true };
        } finally {
          await platformVault.unlock(CA_LOCK).catch(() => undefined);
        }
      }
      await sleep(pollMs);
      const made = await existing();
      if (made) return { ...made, created: false };
      if (performance.now() - started > waitMs)
        throw new VaultError(
          'VAULT.BUSY',
          'Another caller is still creating the consortium CA; try again shortly.',
          {
            transient: true,
          },
        );
    }
  }

  async function material(): Promise<{ root: CaPart; doorman: CaPart; created: boolean }> {
    if (ready) return { ...ready, created: false };
    if (inflight) return { ...(await inflight), created: false };
    inflight = establish();
    try {
      const result = await inflight;
      ready = { root: result.root, doorman: result.doorman };
      return result;
    } finally {
      inflight = undefined;
    }
  }

  return {
    rootSubject,
    doormanSubject,

    /** The root and doorman certificates, created the first time. `created` is true for that one call. */
    async ensure(): Promise<{ rootPem: string; doormanPem: string; created: boolean }> {
      const m = await material();
      return { rootPem: m.root.pem, doormanPem: m.doorman.pem, created: m.created };
    },

    /**
     * Signs a member's node CA certificate with the doorman key (one Key Vault `sign`). Valid for a year
     * from the start of today, never beyond the doorman. CERT.* errors (a bad CSR) are permanent.
     */
    async signNodeCsr(p: {
      csrPem: string;
      legalName: string;
      serial: string;
    }): Promise<{ certPem: string; chainPems: string[] }> {
      const { root, doorman } = await material();
      const day = startOfDay(opts.now());
      const certPem = await issueNodeCa({
        csrPem: p.csrPem,
        legalName: p.legalName,
        issuerPem: doorman.pem,
        issuerSigner: await signerFor(doorman.kid),
        serial: p.serial,
        notBefore: day,
        notAfter: addYears(day, 1),
      });
      return { certPem, chainPems: [certPem, doorman.pem, root.pem] };
    },

    /** The doorman's CRL (DER) of revoked node CA certificates, from now for `crlValidityDays`. */
    async crl(revoked: Array<{ serial: string; revokedAt: Date; reason?: CrlReason }>): Promise<Uint8Array> {
      const { doorman } = await material();
      const now = opts.now();
      return buildCrl({
        issuerPem: doorman.pem,
        issuerSigner: await signerFor(doorman.kid),
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + (opts.crlValidityDays ?? 7) * DAY),
        revoked,
      });
    },
  };
}

export type ConsortiumCa = ReturnType<typeof consortiumCa>;
