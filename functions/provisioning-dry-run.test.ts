import { json, type Json } from '../test/http';
import { applicantPayload, startTrustNet, testConsortium } from '../test/trustnet';

/** TRUSTNET_DRY_RUN=true: an approved request is validated and what-if'd; nothing is created. */
describe('provisioning dry run', () => {
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let c: Awaited<ReturnType<typeof testConsortium>>;
  const before = process.env['TRUSTNET_DRY_RUN'];

  beforeAll(async () => {
    process.env['TRUSTNET_DRY_RUN'] = 'true';
    c = await testConsortium();
    host = await startTrustNet(c);
  });
  afterAll(async () => {
    await host.stop();
    if (before === undefined) delete process.env['TRUSTNET_DRY_RUN'];
    else process.env['TRUSTNET_DRY_RUN'] = before;
  });

  it('lists the planned changes per step and builds nothing', async () => {
    const { azure } = applicantPayload(c.config.name, host.now()).applicant;
    await host.cloud.arm.prepareResourceGroup({
      subscriptionId: azure.subscriptionId,
      resourceGroup: azure.resourceGroup,
      location: azure.region,
    });
    const before = await json(await host.admin('/admin/cloud/resources'));
    const { id } = await host.applyAndApprove({ azure }, { prepare: false });
    const status = await host.until(
      'every step done',
      () => host.request(id),
      (r) =>
        r.steps?.length > 0 && (r.steps as Json[]).every((s) => !['pending', 'running'].includes(s.state)),
    );
    expect(status.phase).toBe('approved');
    const step = (n: string) => status.steps.find((s: Json) => s.name === n);
    expect(step('access').state).toBe('succeeded');
    for (const n of ['network', 'gateway', 'vault', 'peering']) {
      expect(step(n).state).toBe('skipped');
      expect(step(n).changes.length).toBeGreaterThan(0);
      expect(step(n).changes.every((ch: Json) => ch.changeType === 'Create')).toBe(true);
    }
    expect(step('network').changes.map((ch: Json) => ch.resourceId)).toEqual(
      expect.arrayContaining([expect.stringMatching(/virtualNetworks\/vnet-bank-d$/)]),
    );
    expect(step('peering').changes).toHaveLength(6);
    for (const n of ['certificate', 'node', 'activate']) expect(step(n).state).toBe('skipped');

    const after = await json(await host.admin('/admin/cloud/resources'));
    expect(after.resources).toEqual(before.resources);
    expect(JSON.stringify(after.vaults)).not.toContain('bankd');
    expect((await fetch(`${host.url}/api/members/bank-d`)).status).toBe(404);
  });
});
