import { json, type Json } from '../test/http';
import { applicantPayload, startTrustNet, testConsortium } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

// Whole onboardings and teardowns, each dozens of activities: generous on a busy 2-core machine.
jest.setTimeout(120_000);

/**
 * A teardown that Azure refuses part-way (a resource lock on the gateway): it stops at that stage, shows
 * in the request's `teardown` step with our code and Azure's, deletes nothing after it, and a member's
 * next `abandon` finishes it. A removal's teardown refused the same way says so in the log.
 */
describe('teardown refused by Azure (local cloud, three founders)', () => {
  let host: Host;
  let name: string;
  const LOCKED_GATEWAY = {
    operation: 'arm:virtualNetworkGateways.delete',
    kind: 'error',
    status: 409,
    code: 'ScopeLocked',
    message: 'The scope cannot perform delete operation because following scope(s) are locked.',
    count: 0,
  };
  // Counts any attempt to delete a VNet (there must be none while its gateway stands).
  const VNET_TRIPWIRE = {
    operation: 'arm:virtualNetworks.delete',
    kind: 'error',
    status: 409,
    code: 'Tripwire',
    count: 0,
  };

  beforeAll(async () => {
    const c = await testConsortium();
    name = c.config.name;
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  it('stops at the locked gateway, keeps its VNet, and finishes when abandoned again', async () => {
    // The node's scale set is refused: onboarding stops with the network, gateway and peering built.
    await host.admin('/admin/cloud/faults', {
      operation: 'arm:deploy:Microsoft.Compute/virtualMachineScaleSets',
      kind: 'quota',
    });
    const { id } = await host.applyAndApprove({
      id: 'bank-t',
      legalName: 'O=Bank T, L=Turin, C=IT',
      azure: { ...applicantPayload(name, host.now()).applicant.azure, resourceGroup: 'rg-bank-t' },
    });
    const failed = await host.phase(id, ['failed', 'active']);
    expect(failed.steps.find((s: Json) => s.name === 'node')).toMatchObject({ state: 'failed' });
    const built = await host.resources();
    for (const part of ['vgw-bank-t', 'vnet-bank-t', 'cn-bank-t-to-bank-a', 'cn-bank-a-to-bank-t'])
      expect(built).toContain(part);

    // A lock on the gateway: Azure refuses to delete it, for as long as the lock stays.
    expect((await host.admin('/admin/cloud/faults', [LOCKED_GATEWAY, VNET_TRIPWIRE])).status).toBe(200);
    const first = await host.signedAction(`/api/membership-requests/${id}/abandon`, {
      action: 'abandon',
      subject: id,
    });
    expect(first.status).toBe(202);
    const stopped = await host.until(
      'teardown step',
      () => host.request(id),
      (r) => ['failed', 'succeeded'].includes(r.steps.find((s: Json) => s.name === 'teardown')?.state),
    );
    expect(stopped.phase).toBe('failed');
    expect(stopped.steps.find((s: Json) => s.name === 'teardown')).toMatchObject({
      state: 'failed',
      error: { code: 'AZURE.CONFLICT', azureCode: 'ScopeLocked' },
    });
    const half = await host.resources();
    // Deleted before the gateway's stage: the connections, both ways. Kept: the gateway, and its VNet,
    // which was not even attempted (Azure refuses a VNet whose gateway is still in it).
    expect(half).not.toContain('cn-bank-t-to-bank-a');
    expect(half).not.toContain('cn-bank-a-to-bank-t');
    expect(half).toContain('vgw-bank-t');
    expect(half).toContain('vnet-bank-t');
    const faults = (await json(await host.admin('/admin/cloud/faults'))).faults as Json[];
    expect(faults.find((f) => f.operation === 'arm:virtualNetworks.delete')).toMatchObject({ fired: 0 });
    // Not abandoned yet: the bank keeps its place until nothing of it is left.
    expect((await host.member('bank-t')).status).toBe('PENDING');
    // The members heard about it, as about any failed step.
    // Delivered by its own orchestration, after the step was recorded: wait for it.
    const outbox = await host.until(
      'teardown email',
      async () => JSON.stringify(await json(await host.admin('/admin/cloud/outbox'))),
      (text) => /teardown/.test(text),
    );
    expect(outbox).toMatch(/teardown/);

    // The lock is lifted; a member abandons again and the teardown resumes where it stopped.
    expect((await host.admin('/admin/cloud/faults', undefined, 'DELETE')).status).toBe(204);
    const second = await host.signedAction(
      `/api/membership-requests/${id}/abandon`,
      { action: 'abandon', subject: id },
      'bank-b',
    );
    expect(second.status).toBe(202);
    const gone = await host.until('resources', host.resources, (text) => !text.includes('bank-t'));
    expect(gone).not.toContain('bank-t');
    const after = await host.until(
      'teardown step',
      () => host.request(id),
      (r) => r.steps.find((s: Json) => s.name === 'teardown')?.state === 'succeeded',
    );
    expect(after.phase).toBe('failed');
    const member = await host.until(
      'member',
      () => host.member('bank-t'),
      (m) => m.status === 'REMOVED',
    );
    expect(member.status).toBe('REMOVED');
    // Once torn down, nothing more to abandon.
    const third = await host.signedAction(`/api/membership-requests/${id}/abandon`, {
      action: 'abandon',
      subject: id,
    });
    expect(third.status).toBe(409);
  });

  it('a removal whose teardown is refused says so in the log, tries again hourly, and finishes once the lock is lifted', async () => {
    expect((await host.admin('/admin/cloud/faults', LOCKED_GATEWAY)).status).toBe(200);
    const proposalId = await host.propose('bank-c', 'remove', { reason: 'left the consortium' });
    for (const voter of ['bank-a', 'bank-b'])
      expect((await host.vote(proposalId, voter, {}, 'proposals')).status).toBe(202);
    // Refused: it waits for its next try and says when, in its status and in the log.
    const waiting = await host.until(
      'removal teardown waiting',
      () => host.instance(`${proposalId}:teardown`),
      (s) => Boolean(s?.customStatus?.nextAttemptAt) || s?.runtimeStatus === 'Completed',
    );
    expect(waiting.runtimeStatus).toBe('Running');
    expect(waiting.customStatus).toMatchObject({
      tornDown: false,
      error: { code: 'AZURE.CONFLICT', azureCode: 'ScopeLocked' },
    });
    const line = host.logs.records.find(
      (r) => r.message.includes('"event":"teardown.failed"') && r.message.includes('"memberId":"bank-c"'),
    );
    expect(line).toBeDefined();
    expect(JSON.parse(line!.message.slice(line!.message.indexOf('{')))).toMatchObject({
      memberId: 'bank-c',
      requestId: null,
      attempt: 0,
      nextAttemptAt: waiting.customStatus.nextAttemptAt,
      code: 'AZURE.CONFLICT',
      azureCode: 'ScopeLocked',
    });
    // Its VNet is still there: nothing after the refused stage was attempted.
    const left = await host.resources();
    expect(left).toContain('vgw-bank-c');
    expect(left).toContain('vnet-bank-c');

    // The bank's admin lifts the lock; an hour later the next try finishes the job.
    expect((await host.admin('/admin/cloud/faults', undefined, 'DELETE')).status).toBe(204);
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT1H"}' });
    const done = await host.until(
      'removal teardown',
      () => host.instance(`${proposalId}:teardown`),
      (s) => s?.runtimeStatus === 'Completed' || s?.runtimeStatus === 'Failed',
    );
    expect(done.output).toMatchObject({ tornDown: true });
    const after = await host.resources();
    expect(after).not.toContain('vgw-bank-c');
    expect(after).not.toContain('vnet-bank-c');
  });
});
