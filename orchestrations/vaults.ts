import { randomBytes } from 'node:crypto';
import { consortiumCa, type ConsortiumCa } from '../azure/consortium-ca';
import { vaultAdapter, type VaultAdapter } from '../azure/key-vault';
import { azureConnection } from '../azure/connection';
import { bankResourceNames, certificateSerial, type ProvisionPlan } from '../core/provisioning';
import { describeCertificate } from '../core/certificates';
import { getAudit, getConsortium } from '../functions/edge/services';
import { now, nowMs } from '../runtime/clock';
import { getPlacements, platformVaultUrl } from './provisioning-services';

/**
 * Key Vault as provisioning uses it: the platform vault (consortium CA keys, VPN shared keys) and each
 * bank's own vault (its node certificate, whose private key never leaves it).
 */

const adapters = new Map<string, VaultAdapter>();

export function vaultAt(url: string): VaultAdapter {
  const connection = azureConnection();
  const key = `${connection.mode}|${url}`;
  let v = adapters.get(key);
  if (!v) {
    v = vaultAdapter(url, {
      credential: connection.credential,
      ...(connection.httpClient ? { httpClient: connection.httpClient } : {}),
    });
    adapters.set(key, v);
  }
  return v;
}

export function platformVault(): VaultAdapter {
  return vaultAt(platformVaultUrl());
}

const cas = new Map<string, ConsortiumCa>();

/** One CA per platform vault and consortium, so its certificates are read once, not per signature. */
export function getCa(): ConsortiumCa {
  const name = getConsortium().name;
  const key = `${azureConnection().mode}|${platformVaultUrl()}|${name}`;
  let ca = cas.get(key);
  if (!ca) cas.set(key, (ca = consortiumCa(platformVault(), { consortiumName: name, now })));
  return ca;
}

export async function readPlatformSecret(name: string): Promise<string> {
  const value = await platformVault().getSecret(name);
  if (value === undefined) throw new Error(`Secret ${name} is missing from the platform vault.`);
  return value;
}

/** A pre-shared key for one VPN pair: 48 random bytes, made once, kept only in the platform vault. */
export async function ensureSharedKey(name: string): Promise<void> {
  const vault = platformVault();
  if ((await vault.getSecret(name)) !== undefined) return;
  await vault.setSecret(name, randomBytes(48).toString('base64url'), { purpose: 'vpn-psk' });
}

export async function deletePlatformSecret(name: string): Promise<void> {
  await platformVault().deleteSecret(name);
}

/**
 * A founder has no request: its plan's requestId is `founder:<id>` (as the local cloud names what it
 * builds for founders), and its certificates are issued against its `member.seeded` entry.
 */
export const FOUNDER_REQUEST_PREFIX = 'founder:';

/** The audit entry a certificate is issued against: the request's approval, or a founder's seeding. */
async function issuedAgainst(plan: ProvisionPlan): Promise<{ decisionSeq: number; requestId?: string }> {
  if (!plan.requestId.startsWith(FOUNDER_REQUEST_PREFIX))
    return { decisionSeq: await approvalSeq(plan.requestId), requestId: plan.requestId };
  const audit = await getAudit();
  let seeded: number | undefined;
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof audit.list>> = await audit.list({ continuation, limit: 500 });
    // The latest, as `audit verify` reads it.
    for (const e of page.items) if (e.kind === 'member.seeded' && e.subject === plan.bankId) seeded = e.seq;
    continuation = page.continuation;
  } while (continuation);
  if (seeded === undefined)
    throw Object.assign(new Error(`Founder ${plan.bankId} has no member.seeded entry: no certificate.`), {
      code: 'CERT.NO_APPROVAL',
    });
  return { decisionSeq: seeded };
}

/** The audit entry of the approval this request's certificate is issued against. */
async function approvalSeq(requestId: string): Promise<number> {
  const audit = await getAudit();
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof audit.list>> = await audit.list({ continuation, limit: 500 });
    const hit = page.items.find(
      (e) => e.kind === 'request.decided' && e.subject === requestId && e.data['outcome'] === 'approved',
    );
    if (hit) return hit.seq;
    continuation = page.continuation;
  } while (continuation);
  throw Object.assign(
    new Error(`No approved decision on request ${requestId} in the audit log: no certificate.`),
    {
      code: 'CERT.NO_APPROVAL',
    },
  );
}

async function alreadyAudited(serial: string): Promise<boolean> {
  const audit = await getAudit();
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof audit.list>> = await audit.list({ continuation, limit: 500 });
    if (page.items.some((e) => e.kind === 'certificate.issued' && e.data['serial'] === serial)) return true;
    continuation = page.continuation;
  } while (continuation);
  return false;
}

/**
 * The node CA certificate: key pair made in the bank's vault (issuer Unknown), its CSR signed by the
 * doorman through Key Vault `sign` only against the approval in the audit log, the chain merged back,
 * the signature audited. Every part looks first, so a retried activity finishes the job once.
 */
export async function issueNodeCertificate(
  plan: ProvisionPlan,
  vaultUri: string,
  generation = 1,
): Promise<Record<string, unknown>> {
  const { decisionSeq, requestId } = await issuedAgainst(plan);
  const name = bankResourceNames(plan.bankId).certificate;
  const bankVault = vaultAt(vaultUri);
  const serial = certificateSerial(plan.requestId, generation);
  const placements = getPlacements();
  const before = await placements.update(plan.bankId, (p) => ({ ...p, vaultUri }));
  // Already issued at this generation (a retried activity): nothing more to do.
  if (before.certificate && before.certificate.generation >= generation) {
    const c = before.certificate;
    return { serial: c.serial, thumbprint: c.thumbprint, subject: c.subject, notAfter: c.notAfter };
  }

  // A renewal makes a new key version in the bank's vault; a first issue resumes any pending one.
  const begun = await bankVault.beginCertificate(name, plan.legalName, {
    exportable: true,
    validityMonths: 12,
    renew: generation > 1,
  });
  let thumbprint: string;
  let certPem: string;
  if ('done' in begun) {
    const current = await bankVault.getCertificate(name);
    if (!current) throw new Error(`Certificate ${name} in ${vaultUri} vanished.`);
    certPem = current.pem;
    thumbprint = describeCertificate(certPem).thumbprint;
  } else {
    const ca = getCa();
    await ca.ensure();
    const signed = await ca.signNodeCsr({ csrPem: begun.csrPem, legalName: plan.legalName, serial });
    certPem = signed.certPem;
    thumbprint = (await bankVault.mergeCertificate(name, signed.chainPems)).thumbprint;
  }
  const described = describeCertificate(certPem);
  if (!(await alreadyAudited(described.serial))) {
    await (
      await getAudit()
    ).append(
      {
        kind: 'certificate.issued',
        subject: plan.bankId,
        actor: 'platform',
        data: {
          ...(requestId ? { requestId } : {}),
          memberId: plan.bankId,
          serial: described.serial,
          subject: described.subject,
          issuer: described.issuer,
          thumbprint,
          notAfter: described.notAfter.toISOString(),
          decisionSeq,
          generation,
        },
      },
      () => new Date(nowMs()),
    );
  }
  await placements.update(plan.bankId, (p) => ({
    ...p,
    vaultUri,
    // Every serial this member ever held, so a removal revokes the ones still valid.
    previousSerials: [
      ...(p.previousSerials ?? []),
      ...(p.certificate && p.certificate.serial !== described.serial ? [p.certificate.serial] : []),
    ],
    certificate: {
      serial: described.serial,
      thumbprint,
      subject: described.subject,
      notAfter: described.notAfter.toISOString(),
      generation,
      decisionSeq,
    },
  }));
  return {
    serial: described.serial,
    thumbprint,
    subject: described.subject,
    notAfter: described.notAfter.toISOString(),
  };
}
