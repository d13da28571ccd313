import { json, type Json } from '../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
} from '../test/trustnet';

/** TRUSTNET_DRY_RUN=true: an approved request is validated and what-if'd; nothing is created. */
describe('provisioning dry run', () => {
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let c: Awaited<ReturnType<typeof testConsortium>>;
  const before = process.env['TRUSTNET_DRY_RUN'];

  beforeAll(async () => {
    process.env['TRUSTNET_DRY_RUN'] = 'true';
    c = await testConsortium();
    host = await startTrustNet(c.file);
  });
  afterAll(async () => {
    await host.stop();
    if (before === undefined) delete process.env['TRUSTNET_DRY_RUN'];
    else process.env['TRUSTNET_DRY_RUN'] = before;
  });

  it('lists the planned changes per step and builds nothing', async () => {
    const key = await newBank('applicant');
    const payload = applicantPayload(c.config.name, new Date(host.clock.now()));
    const { azure } = payload.applicant;
    await host.cloud.arm.prepareResourceGroup({
      subscriptionId: azure.subscriptionId,
      resourceGroup: azure.resourceGroup,
      location: azure.region,
    });
    const before = await json(await fetch(`${host.url}/admin/cloud/resources`));
    expect(
      (
        await joseRequest(
          `${host.url}/api/membership-requests`,
          await sign(payload, key.privateKey, { jwk: key.publicJwk }),
        )
      ).status,
    ).toBe(202);
    for (const voter of ['bank-a', 'bank-b']) {
      const vote = {
        consortium: c.config.name,
        requestId: payload.requestId,
        voter,
        decision: 'approve',
        reason: 'ok',
        issuedAt: new Date(host.clock.now()).toISOString(),
      };
      await joseRequest(
        `${host.url}/api/membership-requests/${payload.requestId}/votes`,
        await sign(vote, c.banks[voter]!.privateKey, { kid: voter }),
      );
    }
    let status: Json;
    for (let i = 0; i < 400; i++) {
      status = await json(await fetch(`${host.url}/api/membership-requests/${payload.requestId}`));
      const steps: Json[] = status.steps ?? [];
      if (steps.length && steps.every((s) => !['pending', 'running'].includes(s.state))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
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

    const after = await json(await fetch(`${host.url}/admin/cloud/resources`));
    expect(after.resources).toEqual(before.resources);
    expect(JSON.stringify(after.vaults)).not.toContain('bankd');
    expect((await fetch(`${host.url}/api/members/bank-d`)).status).toBe(404);
  });
});
