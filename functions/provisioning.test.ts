import { X509Certificate } from 'node:crypto';
import { verifyChain as verifyAudit } from '../core/audit';
import { CORDA_ROLE_OID, describeCertificate, splitPem, x509 } from '../core/certificates';
import { deploymentName as deploymentNameOf } from '../core/provisioning';
import { getPlacements } from '../orchestrations/provisioning-services';
import { vaultAt } from '../orchestrations/vaults';
import { json, type Json } from '../test/http';
import { applicantPayload, newBank, startTrustNet, testConsortium, type TestBank } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

// Whole onboardings and teardowns, each dozens of activities: generous on a busy 2-core machine.
jest.setTimeout(120_000);

/**
 * Onboarding end to end in the local cloud: a fourth bank is approved, and the platform builds its
 * node through the real Azure SDKs against the emulators until the bank is an ACTIVE member.
 */
describe('provisioning an approved bank (three founders, local cloud)', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => host.now();

  beforeAll(async () => {
    const c = await testConsortium();
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  it('builds the node, certificate and a connection each way per member; the bank becomes ACTIVE', async () => {
    const { id, key } = await host.applyAndApprove({});
    // From here on bank-d votes and is removed like any member.
    banks['bank-d'] = { id: 'bank-d', privateKey: key.privateKey, publicJwk: key.publicJwk };
    const done = await host.phase(id, ['active', 'failed']);
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
    const member = await host.member('bank-d');
    expect(member.status).toBe('ACTIVE');

    const cloud = await json(await host.admin('/admin/cloud/resources'));
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
    const cloud = await json(await host.admin('/admin/cloud/resources'));
    const vaults = cloud.vaults as Record<string, Json>;
    const entry = Object.entries(vaults).find(([v]) => v.startsWith('kv-bankd'));
    expect(entry).toBeDefined();
    const cert = (entry![1].certificates as Json[]).find((c) => c.name === 'corda-node-ca');
    expect(cert).toMatchObject({ status: 'completed' });
    expect(cert.subject).toContain('O=Bank D');

    // The chain, as the bank's vault holds it, verifies up to the root in the platform vault.
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
    const issued = audit.items.find((e: Json) => e.kind === 'certificate.issued' && e.subject === 'bank-d');
    const decision = audit.items.find((e: Json) => e.seq === issued.data.decisionSeq);
    expect(decision).toMatchObject({ kind: 'request.decided', data: { outcome: 'approved' } });
  });

  it('lets the new member vote on the next applicant', async () => {
    const azure = { ...applicantPayload(name, now()).applicant.azure, addressSpace: '10.50.0.0/16' };
    const { payload, res } = await host.apply(
      { id: 'bank-e', legalName: 'O=Bank E, L=Rome, C=IT', azure },
      {},
      await newBank('applicant-e'),
    );
    expect(res.status).toBe(202);
    const r = await host.vote(payload.requestId, 'bank-d', { decision: 'reject', reason: 'not yet' });
    expect(r.status).toBe(202);
    expect((await json(r)).tally).toEqual({ approve: 0, reject: 1, eligible: 4, required: 3 });
  });

  it('stops as failed when the bank has not delegated its resource group, naming the step and code', async () => {
    const { id } = await host.applyAndApprove(
      {
        id: 'bank-f',
        legalName: 'O=Bank F, L=Lisbon, C=PT',
        azure: {
          ...applicantPayload(name, now()).applicant.azure,
          resourceGroup: 'rg-bank-f',
          addressSpace: '10.60.0.0/16',
        },
      },
      { prepare: false, voters: ['bank-a', 'bank-b', 'bank-c'] },
    );
    const failed = await host.phase(id, ['failed', 'active']);
    expect(failed.phase).toBe('failed');
    const access = failed.steps.find((s: Json) => s.name === 'access');
    expect(access).toMatchObject({ state: 'failed', error: { code: 'ACCESS.RESOURCE_GROUP_NOT_FOUND' } });
    expect((await host.member('bank-f')).status).toBe('PENDING');
  });

  it('abandoning a failed onboarding tears it down, frees the bank to apply again and audits who asked', async () => {
    const list = await json(await fetch(`${host.url}/api/membership-requests?phase=failed`));
    const failed = list.items.find((r: Json) => r.applicant.id === 'bank-f');
    expect(failed).toBeDefined();
    const wrong = await host.signedAction(`/api/membership-requests/${failed.id}/abandon`, {
      action: 'retry',
      subject: failed.id,
    });
    expect(wrong.status).toBe(400);
    const res = await host.signedAction(`/api/membership-requests/${failed.id}/abandon`, {
      action: 'abandon',
      subject: failed.id,
    });
    expect(res.status).toBe(202);
    await host.until(
      'bank-f removed',
      () => host.member('bank-f'),
      (m) => m.status === 'REMOVED',
    );
    expect((await host.member('bank-f')).status).toBe('REMOVED');
    const after = await host.request(failed.id);
    expect(after.phase).toBe('failed');
    expect(after.steps.find((s: Json) => s.name === 'teardown')).toMatchObject({ state: 'succeeded' });
    const again = await host.signedAction(`/api/membership-requests/${failed.id}/retry`, {
      action: 'retry',
      subject: failed.id,
    });
    expect(again.status).toBe(409);
    expect((await json(again)).code).toBe('PROVISIONING.NOT_FAILED');
  });

  it('a permanent Azure failure stops at its step with the Azure code; retry resumes from there', async () => {
    const faults = await host.admin('/admin/cloud/faults', {
      operation: 'arm:deploy:Microsoft.Network/virtualNetworkGateways',
      kind: 'quota',
    });
    expect(faults.status).toBe(200);
    const azure = {
      ...applicantPayload(name, now()).applicant.azure,
      resourceGroup: 'rg-bank-g',
      addressSpace: '10.70.0.0/16',
    };
    const { payload } = await host.applyAndApprove(
      { id: 'bank-g', legalName: 'O=Bank G, L=Vienna, C=AT', azure },
      { voters: ['bank-a', 'bank-b', 'bank-c'] },
    );
    const failed = await host.phase(payload.requestId, ['failed', 'active']);
    expect(failed.phase).toBe('failed');
    expect(failed.steps.find((s: Json) => s.name === 'gateway')).toMatchObject({
      state: 'failed',
      error: { code: 'DEPLOY.QUOTA_EXCEEDED', azureCode: 'QuotaExceeded' },
    });
    expect(failed.steps.find((s: Json) => s.name === 'network')).toMatchObject({ state: 'succeeded' });
    const runsBefore = host.cloud.arm.stats().deploymentRuns;
    const res = await host.signedAction(`/api/membership-requests/${payload.requestId}/retry`, {
      action: 'retry',
      subject: payload.requestId,
    });
    expect(res.status).toBe(202);
    const done = await host.phase(payload.requestId, ['active']);
    expect(done.steps.every((s: Json) => s.state === 'succeeded')).toBe(true);
    // The network was not deployed again; the gateway once more (its first run failed).
    const runsAfter = host.cloud.arm.stats().deploymentRuns;
    const network = Object.keys(runsAfter).find((k) =>
      k.endsWith(deploymentNameOf(payload.requestId, 'network')),
    )!;
    expect(runsAfter[network]).toBe(runsBefore[network]);
    expect(runsAfter[network]).toBe(1);
    const gateway = Object.keys(runsAfter).find((k) =>
      k.endsWith(deploymentNameOf(payload.requestId, 'gateway')),
    )!;
    expect(runsAfter[gateway]).toBe(2);
  });

  it('rides out throttling and server errors from Azure: the onboarding still ends ACTIVE', async () => {
    const faults = await host.admin('/admin/cloud/faults', [
      // More 429s than the SDK's own two retries: the orchestration's retry policy takes over.
      { operation: 'arm:deployments.put', kind: 'throttle', count: 4, retryAfterSeconds: 0 },
      { operation: 'keyvault:secrets.get', kind: 'server', count: 2 },
      { operation: 'arm:securityRules.put', kind: 'timeout', count: 1 },
    ]);
    expect(faults.status).toBe(200);
    const azure = {
      ...applicantPayload(name, now()).applicant.azure,
      resourceGroup: 'rg-bank-h',
      addressSpace: '10.80.0.0/16',
    };
    const { id } = await host.applyAndApprove(
      { id: 'bank-h', legalName: 'O=Bank H, L=Oslo, C=NO', azure },
      { voters: ['bank-a', 'bank-b', 'bank-c'] },
    );
    const done = await host.phase(id, ['active', 'failed']);
    expect(done.phase).toBe('active');
    const left = await json(await host.admin('/admin/cloud/faults'));
    expect(left.faults.every((f: Json) => f.remaining === 0)).toBe(true);
    expect(host.cloud.arm.stats().throttled).toBeGreaterThanOrEqual(4);
  });

  it('abandoning after a partial build leaves nothing of the bank behind, on its side or the members’', async () => {
    await host.admin('/admin/cloud/faults', {
      operation: 'arm:deploy:Microsoft.Compute/virtualMachineScaleSets',
      kind: 'quota',
    });
    const azure = {
      ...applicantPayload(name, now()).applicant.azure,
      resourceGroup: 'rg-bank-i',
      addressSpace: '10.90.0.0/16',
    };
    const { payload } = await host.applyAndApprove(
      { id: 'bank-i', legalName: 'O=Bank I, L=Dublin, C=IE', azure },
      { voters: ['bank-a', 'bank-b', 'bank-c', 'bank-d'] },
    );
    const failed = await host.phase(payload.requestId, ['failed', 'active']);
    expect(failed.steps.find((s: Json) => s.name === 'node')).toMatchObject({
      state: 'failed',
      error: { code: 'DEPLOY.QUOTA_EXCEEDED' },
    });
    // Wait for the gateway branch (peering) to settle too: the failure is recorded when both are done.
    expect(failed.steps.find((s: Json) => s.name === 'certificate').state).toBe('succeeded');
    const built = await host.resources();
    expect(built).toContain('vnet-bank-i');
    const serial = (await getPlacements().get('bank-i'))!.certificate!.serial;

    const res = await host.signedAction(`/api/membership-requests/${payload.requestId}/abandon`, {
      action: 'abandon',
      subject: payload.requestId,
    });
    expect(res.status).toBe(202);
    const text = await host.until('bank-i torn down', host.resources, (t) => !t.includes('bank-i'));
    expect(text).not.toContain('bank-i');
    await host.until(
      'bank-i removed',
      () => host.member('bank-i'),
      (m) => m.status === 'REMOVED',
    );
    expect((await host.member('bank-i')).status).toBe('REMOVED');
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    expect(audit.items.some((e: Json) => e.kind === 'certificate.revoked' && e.data.serial === serial)).toBe(
      true,
    );
  });

  it('removing a member tears down its node and connections and publishes its certificate in the CRL', async () => {
    const placement = await getPlacements().get('bank-d');
    const serial = placement!.certificate!.serial;
    const id = await host.propose('bank-d', 'remove', { reason: 'left the consortium' });
    for (const voter of ['bank-a', 'bank-b', 'bank-c']) await host.vote(id, voter, {}, 'proposals');
    const text = await host.until('bank-d torn down', host.resources, (t) => !t.includes('bank-d'));
    // Nothing of bank-d is left: not its resources, its connections, nor its rules on other members.
    expect(text).not.toContain('bank-d');
    expect(text).toContain('vmss-bank-a');

    let crl: InstanceType<typeof x509.X509Crl> | undefined;
    const listed = () => (crl?.entries ?? []).map((e) => e.serialNumber.toLowerCase().replace(/^0+/, ''));
    for (let i = 0; i < 200 && !listed().includes(serial.replace(/^0+/, '')); i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      const res = await fetch(`${host.url}/api/crl`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/pkix-crl');
      crl = new x509.X509Crl(new Uint8Array(await res.arrayBuffer()));
    }
    expect(crl!.entries.map((e) => e.serialNumber.toLowerCase().replace(/^0+/, ''))).toContain(
      serial.replace(/^0+/, ''),
    );
    const doormanPem = await vaultAt('https://trustnet-platform.vault.azure.net').getSecret(
      'trustnet-doorman-ca-cert',
    );
    await expect(
      crl!.verify({ publicKey: new x509.X509Certificate(splitPem(doormanPem!)[0]!).publicKey }),
    ).resolves.toBe(true);
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    expect(audit.items.some((e: Json) => e.kind === 'certificate.revoked' && e.data.serial === serial)).toBe(
      true,
    );
    await expect(verifyAudit(audit.items)).resolves.toMatchObject({ ok: true });
  });
});

/** The peering step on its own consortium, so the member it adds changes no other test's majority. */
describe('peering with every member (three founders, local cloud)', () => {
  let host: Host;
  let name: string;
  const now = () => host.now();

  beforeAll(async () => {
    const c = await testConsortium();
    name = c.config.name;
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  it('a connection Azure refuses fails the peering step with its code; retry redeploys only that one', async () => {
    // The first connection deployment to run is refused; every other one succeeds.
    const faults = await host.admin('/admin/cloud/faults', {
      operation: 'arm:deploy:Microsoft.Network/connections',
      kind: 'quota',
      count: 1,
    });
    expect(faults.status).toBe(200);
    const azure = {
      ...applicantPayload(name, now()).applicant.azure,
      resourceGroup: 'rg-bank-j',
      addressSpace: '10.75.0.0/16',
    };
    const { payload } = await host.applyAndApprove(
      { id: 'bank-j', legalName: 'O=Bank J, L=Lisbon, C=PT', azure },
      { voters: ['bank-a', 'bank-b'] },
    );
    const failed = await host.phase(payload.requestId, ['failed', 'active']);
    expect(failed.phase).toBe('failed');
    expect(failed.steps.find((s: Json) => s.name === 'peering')).toMatchObject({
      state: 'failed',
      error: { code: 'DEPLOY.QUOTA_EXCEEDED', azureCode: 'QuotaExceeded' },
    });
    const connectionRuns = () =>
      Object.entries(host.cloud.arm.stats().deploymentRuns as Record<string, number>).filter(([k]) =>
        k.includes(deploymentNameOf(payload.requestId, 'cn-')),
      );
    const members = (await json(await fetch(`${host.url}/api/members`))).items.filter(
      (m: Json) => m.status === 'ACTIVE' && m.id !== 'bank-j',
    ).length;
    // Every member's two connections were started, the refused one included; none twice.
    expect(connectionRuns()).toHaveLength(2 * members);
    expect(connectionRuns().every(([, runs]) => runs === 1)).toBe(true);
    const res = await host.signedAction(`/api/membership-requests/${payload.requestId}/retry`, {
      action: 'retry',
      subject: payload.requestId,
    });
    expect(res.status).toBe(202);
    // The request shows `failed` until the retry has begun: wait for the end that counts.
    expect((await host.phase(payload.requestId, ['active'])).phase).toBe('active');
    const runs = connectionRuns().map(([, n]) => n);
    expect(runs.filter((n) => n === 2)).toHaveLength(1);
    expect(runs.filter((n) => n === 1)).toHaveLength(2 * members - 1);
  });
});
