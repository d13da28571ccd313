import { randomUUID, X509Certificate } from 'node:crypto';
import { verifyChain, type AuditEntry } from '../../core/audit';
import { CORDA_ROLE_OID, describeCertificate, splitPem, x509 } from '../../core/certificates';
import { getAudit } from '../../functions/edge/services';
import { getPlacements } from '../../orchestrations/provisioning-services';
import { vaultAt } from '../../orchestrations/vaults';
import { table } from '../../azure/tables';
import { consortium } from '../../runtime/consortium';
import { nowMs } from '../../runtime/clock';
import { testConsortium } from '../../test/trustnet';
import { buildFounders } from './founders';
import { LocalCloud } from './index';
import { startLocalCloud } from './start';

jest.setTimeout(60_000);

const PLATFORM_VAULT = 'https://trustnet-platform.vault.azure.net';

async function auditEntries(): Promise<AuditEntry[]> {
  const audit = await getAudit();
  const out: AuditEntry[] = [];
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof audit.list>> = await audit.list({ continuation, limit: 500 });
    out.push(...page.items);
    continuation = page.continuation;
  } while (continuation);
  return out;
}

/**
 * The founders' nodes in the local cloud get their node CA certificates at first start, as an onboarded
 * bank does: key in the founder's vault, signed by the doorman, chained to the root, audited against
 * the founder's seed entry, and issued once however often the cloud starts.
 */
describe('founders in the local cloud', () => {
  let cloud: LocalCloud;
  let legalNames: Map<string, string>;

  beforeAll(async () => {
    const c = await testConsortium();
    legalNames = new Map(c.config.members.map((m) => [m.id, m.legalName]));
    process.env['TRUSTNET_CONSORTIUM_FILE'] = c.file;
    process.env['TRUSTNET_TASK_HUB'] = `F${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    process.env['TRUSTNET_KEY_VAULT_URL'] = PLATFORM_VAULT;
    process.env['TRUSTNET_PLATFORM_PRINCIPAL_ID'] ??= '00000000-0000-4000-8000-000000000001';
    cloud = await startLocalCloud({ latencyFactor: 0 });
  });
  afterAll(() => cloud.uninstall());

  it('issues each founder a node CA certificate for its legal name, chained to the consortium root', async () => {
    const root = new X509Certificate(
      splitPem((await vaultAt(PLATFORM_VAULT).getSecret('trustnet-root-ca-cert'))!)[0]!,
    );
    const doorman = new X509Certificate(
      splitPem((await vaultAt(PLATFORM_VAULT).getSecret('trustnet-doorman-ca-cert'))!)[0]!,
    );
    expect(doorman.verify(root.publicKey)).toBe(true);
    const listed = (await cloud.admin('GET', '/admin/cloud/resources', ''))!.body as {
      vaults: Record<
        string,
        { certificates: Array<{ name: string; subject: string; issuer?: string; status: string }> }
      >;
    };
    for (const [id, legalName] of legalNames) {
      const placement = await getPlacements().get(id);
      expect(placement?.certificate).toMatchObject({ generation: 1, subject: legalName });
      const stored = await vaultAt(placement!.vaultUri!).getCertificate('corda-node-ca');
      expect(stored).toBeDefined();
      const described = describeCertificate(stored!.pem);
      expect(described).toMatchObject({ subject: legalName, cordaRole: 4, isCa: true });
      expect(described.serial).toBe(placement!.certificate!.serial);
      expect(new x509.X509Certificate(stored!.pem).getExtension(CORDA_ROLE_OID)).toBeTruthy();
      expect(new X509Certificate(stored!.pem).verify(doorman.publicKey)).toBe(true);
      // Listed by GET /admin/cloud/resources, in the founder's own vault.
      const vaultName = new URL(placement!.vaultUri!).hostname.split('.')[0]!;
      expect(listed.vaults[vaultName]?.certificates).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'corda-node-ca',
            status: 'completed',
            subject: expect.stringContaining(legalName.split(',')[0]!),
          }),
        ]),
      );
    }
  });

  it('audits each certificate against the founder’s seed entry, in a log that verifies', async () => {
    const entries = await auditEntries();
    const issued = entries.filter((e) => e.kind === 'certificate.issued');
    expect(issued.map((e) => e.subject).sort()).toEqual([...legalNames.keys()].sort());
    for (const e of issued) {
      const seed = entries.find((s) => s.seq === e.data['decisionSeq']);
      expect(seed).toMatchObject({ kind: 'member.seeded', subject: e.subject });
      expect(e.data['requestId']).toBeUndefined();
      expect(e.data['serial']).toBe((await getPlacements().get(e.subject))!.certificate!.serial);
    }
    await expect(verifyChain(entries)).resolves.toMatchObject({ ok: true, entries: entries.length });
  });

  it('issues nothing again when the cloud starts again', async () => {
    const before = await auditEntries();
    const serials = await Promise.all(
      [...legalNames.keys()].map(async (id) => (await getPlacements().get(id))!.certificate),
    );
    const again = new LocalCloud({ tables: (suffix) => table(suffix), now: nowMs, latencyFactor: 0 });
    const result = await buildFounders(again, consortium(), process.env['TRUSTNET_PLATFORM_PRINCIPAL_ID']!);
    expect(result).toEqual({ built: [], issued: [] });
    expect((await auditEntries()).length).toBe(before.length);
    const after = await Promise.all(
      [...legalNames.keys()].map(async (id) => (await getPlacements().get(id))!.certificate),
    );
    expect(after).toEqual(serials);
  });

  it('finishes a founder whose certificate was left half-done, without a second audit entry', async () => {
    // As after a crash between the merge and the placement write: the vault and the log have it.
    const [id] = [...legalNames.keys()];
    const before = await getPlacements().get(id!);
    await getPlacements().update(id!, ({ certificate: _dropped, ...rest }) => rest);
    const again = new LocalCloud({ tables: (suffix) => table(suffix), now: nowMs, latencyFactor: 0 });
    const result = await buildFounders(again, consortium(), process.env['TRUSTNET_PLATFORM_PRINCIPAL_ID']!);
    expect(result.issued).toEqual([id]);
    expect((await getPlacements().get(id!))!.certificate).toEqual(before!.certificate);
    const entries = await auditEntries();
    expect(entries.filter((e) => e.kind === 'certificate.issued' && e.subject === id)).toHaveLength(1);
  });
});
