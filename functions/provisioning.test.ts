import { X509Certificate } from 'node:crypto';
import { verifyChain as verifyAudit } from '../core/audit';
import { CORDA_ROLE_OID, describeCertificate, splitPem, x509 } from '../core/certificates';
import { json, type Json } from '../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
  type TestBank,
} from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/**
 * Onboarding end to end in the local cloud: a fourth bank is approved, and the platform builds its
 * node through the real Azure SDKs against the emulators until the bank is an ACTIVE member.
 */
describe('provisioning an approved bank (three founders, local cloud)', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  let bankD: TestBank;
  const now = () => new Date(host.clock.now());

  beforeAll(async () => {
    const c = await testConsortium();
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c.file);
  });
  afterAll(() => host.stop());

  async function admin(path: string, body?: unknown): Promise<Response> {
    return fetch(`${host.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  }

  async function applyAndApprove(
    applicant: Record<string, unknown>,
    prepare = true,
    voters = ['bank-a', 'bank-b'],
  ) {
    const key = await newBank('applicant');
    const payload = applicantPayload(name, now(), {}, applicant);
    if (prepare) {
      const rg = await admin('/admin/cloud/resource-groups', {
        subscriptionId: payload.applicant.azure.subscriptionId,
        resourceGroup: payload.applicant.azure.resourceGroup,
        location: payload.applicant.azure.region,
      });
      expect(rg.status).toBe(201);
    }
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);
    for (const voter of voters) {
      const vote = {
        consortium: name,
        requestId: payload.requestId,
        voter,
        decision: 'approve',
        reason: 'ok',
        issuedAt: now().toISOString(),
      };
      const r = await joseRequest(
        `${host.url}/api/membership-requests/${payload.requestId}/votes`,
        await sign(vote, banks[voter]!.privateKey, { kid: voter }),
      );
      expect(r.status).toBe(202);
    }
    return { payload, key };
  }

  async function until(id: string, phases: string[]): Promise<Json> {
    let last: Json;
    for (let i = 0; i < 600; i++) {
      last = await json(await fetch(`${host.url}/api/membership-requests/${id}`));
      if (phases.includes(last.phase)) return last;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${id} is ${last.phase}, not ${phases.join(' or ')}: ${JSON.stringify(last.steps)}`);
  }

  it('builds the node, certificate and a connection each way per member; the bank becomes ACTIVE', async () => {
    const { payload, key } = await applyAndApprove({});
    bankD = key;
    const id = payload.requestId;
    const done = await until(id, ['active', 'failed']);
    expect(done.phase).toBe('active');
    expect(done.steps.map((s: Json) => [s.name, s.state])).toEqual([
      ['access', 'succeeded'],
      ['network', 'succeeded'],
      ['gateway', 'succeeded'],
      ['vault', 'succeeded'],
      ['certificate', 'succeeded'],
      ['node', 'succeeded'],
      ['peering', 'succeeded'],
      ['activate', 'succeeded'],
    ]);
    for (const s of done.steps) expect(Date.parse(s.ended)).toBeGreaterThanOrEqual(Date.parse(s.started));
    const member = await json(await fetch(`${host.url}/api/members/bank-d`));
    expect(member.status).toBe('ACTIVE');

    const cloud = await json(await admin('/admin/cloud/resources'));
    const text = JSON.stringify(cloud);
    // The scale set at the Medium profile's 7 VMs, the gateway, the NSG rule on every founder.
    expect(text).toMatch(/vmss-bank-d/);
    expect(text).toMatch(/vgw-bank-d/);
    for (const f of ['bank-a', 'bank-b', 'bank-c']) {
      expect(text).toContain(`cn-bank-d-to-${f}`);
      expect(text).toContain(`cn-${f}-to-bank-d`);
      expect(text).toContain('corda-p2p-bank-d');
    }
    const stats = host.cloud.arm.stats();
    // One run per deployment: network, gateway, vault, node, and two connections per founder.
    const runs = Object.entries(stats.deploymentRuns).filter(([k]) => !k.includes('founder'));
    expect(runs.every(([, n]) => n === 1)).toBe(true);
  });

  it('issues a node CA certificate for the legal name, chained to the consortium root, with Corda’s role', async () => {
    const cloud = await json(await admin('/admin/cloud/resources'));
    const vaults = cloud.vaults as Record<string, Json>;
    const entry = Object.entries(vaults).find(([v]) => v.startsWith('kv-bankd'));
    expect(entry).toBeDefined();
    const cert = (entry![1].certificates as Json[]).find((c) => c.name === 'corda-node-ca');
    expect(cert).toMatchObject({ status: 'completed' });
    expect(cert.subject).toContain('O=Bank D');

    // The chain, as the bank's vault holds it, verifies up to the root in the platform vault.
    const { vaultAt } = await import('../orchestrations/vaults');
    const stored = await vaultAt(`https://${entry![0]}.vault.azure.net`).getCertificate('corda-node-ca');
    const rootPem = await vaultAt('https://trustnet-platform.vault.azure.net').getSecret(
      'trustnet-root-ca-cert',
    );
    const doormanPem = await vaultAt('https://trustnet-platform.vault.azure.net').getSecret(
      'trustnet-doorman-ca-cert',
    );
    const leaf = new X509Certificate(stored!.pem);
    const doorman = new X509Certificate(splitPem(doormanPem!)[0]!);
    const root = new X509Certificate(splitPem(rootPem!)[0]!);
    expect(leaf.verify(doorman.publicKey)).toBe(true);
    expect(doorman.verify(root.publicKey)).toBe(true);
    expect(describeCertificate(stored!.pem)).toMatchObject({ cordaRole: 4, isCa: true });
    expect(new x509.X509Certificate(stored!.pem).getExtension(CORDA_ROLE_OID)).toBeTruthy();

    // The audit log verifies, and the certificate maps to the approval it was issued against.
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    await expect(verifyAudit(audit.items)).resolves.toMatchObject({ ok: true });
    const issued = audit.items.find((e: Json) => e.kind === 'certificate.issued');
    const decision = audit.items.find((e: Json) => e.seq === issued.data.decisionSeq);
    expect(decision).toMatchObject({ kind: 'request.decided', data: { outcome: 'approved' } });
  });

  it('lets the new member vote on the next applicant', async () => {
    const key = await newBank('applicant-e');
    const azure = { ...applicantPayload(name, now()).applicant.azure, addressSpace: '10.50.0.0/16' };
    const payload = applicantPayload(
      name,
      now(),
      {},
      { id: 'bank-e', legalName: 'O=Bank E, L=Rome, C=IT', azure },
    );
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);
    const vote = {
      consortium: name,
      requestId: payload.requestId,
      voter: 'bank-d',
      decision: 'reject',
      reason: 'not yet',
      issuedAt: now().toISOString(),
    };
    const r = await joseRequest(
      `${host.url}/api/membership-requests/${payload.requestId}/votes`,
      await sign(vote, bankD.privateKey, { kid: 'bank-d' }),
    );
    expect(r.status).toBe(202);
    expect((await json(r)).tally).toEqual({ approve: 0, reject: 1, eligible: 4, required: 3 });
  });

  it('stops as failed when the bank has not delegated its resource group, naming the step and code', async () => {
    const { payload } = await applyAndApprove(
      {
        id: 'bank-f',
        legalName: 'O=Bank F, L=Lisbon, C=PT',
        azure: {
          ...applicantPayload(name, now()).applicant.azure,
          resourceGroup: 'rg-bank-f',
          addressSpace: '10.60.0.0/16',
        },
      },
      false,
      ['bank-a', 'bank-b', 'bank-c'],
    );
    const failed = await until(payload.requestId, ['failed', 'active']);
    expect(failed.phase).toBe('failed');
    const access = failed.steps.find((s: Json) => s.name === 'access');
    expect(access).toMatchObject({ state: 'failed', error: { code: 'ACCESS.RESOURCE_GROUP_NOT_FOUND' } });
    expect((await json(await fetch(`${host.url}/api/members/bank-f`))).status).toBe('PENDING');
  });
});
