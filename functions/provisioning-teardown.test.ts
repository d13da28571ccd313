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

// Whole onboardings and teardowns, each dozens of activities: generous on a busy 2-core machine.
jest.setTimeout(120_000);

/**
 * A teardown that Azure refuses part-way (a resource lock on the gateway): it stops at that stage, shows
 * in the request's `teardown` step with our code and Azure's, deletes nothing after it, and a member's
 * next `abandon` finishes it. A removal's teardown refused the same way says so in the log.
 */
describe('teardown refused by Azure (local cloud, three founders)', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => new Date(host.clock.now());
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
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c.file);
  });
  afterAll(() => host.stop());

  async function admin(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') {
    return fetch(`${host.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  }

  const resources = async () => JSON.stringify((await json(await admin('/admin/cloud/resources'))).resources);
  const request = async (id: string): Promise<Json> =>
    json(await fetch(`${host.url}/api/membership-requests/${id}`));

  async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    let last = await read();
    for (let i = 0; i < 3200 && !done(last); i++) {
      await new Promise((r) => setTimeout(r, 25));
      last = await read();
    }
    if (!done(last)) throw new Error(`${what}: still ${JSON.stringify(last).slice(0, 2000)}`);
    return last;
  }

  async function signedAction(path: string, payload: Record<string, unknown>, as = 'bank-a') {
    const body = { consortium: name, actor: as, issuedAt: now().toISOString(), ...payload };
    return joseRequest(`${host.url}${path}`, await sign(body, banks[as]!.privateKey, { kid: as }));
  }

  it('stops at the locked gateway, keeps its VNet, and finishes when abandoned again', async () => {
    // The node's scale set is refused: onboarding stops with the network, gateway and peering built.
    await admin('/admin/cloud/faults', {
      operation: 'arm:deploy:Microsoft.Compute/virtualMachineScaleSets',
      kind: 'quota',
    });
    const key = await newBank('applicant-t');
    const payload = applicantPayload(
      name,
      now(),
      {},
      {
        id: 'bank-t',
        legalName: 'O=Bank T, L=Turin, C=IT',
        azure: { ...applicantPayload(name, now()).applicant.azure, resourceGroup: 'rg-bank-t' },
      },
    );
    const rg = await admin('/admin/cloud/resource-groups', {
      subscriptionId: payload.applicant.azure.subscriptionId,
      resourceGroup: payload.applicant.azure.resourceGroup,
      location: payload.applicant.azure.region,
    });
    expect(rg.status).toBe(201);
    const created = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(created.status).toBe(202);
    const id = payload.requestId;
    for (const voter of ['bank-a', 'bank-b']) {
      const vote = {
        consortium: name,
        requestId: id,
        voter,
        decision: 'approve',
        reason: 'ok',
        issuedAt: now().toISOString(),
      };
      const r = await joseRequest(
        `${host.url}/api/membership-requests/${id}/votes`,
        await sign(vote, banks[voter]!.privateKey, { kid: voter }),
      );
      expect(r.status).toBe(202);
    }
    const failed = await until(
      'onboarding',
      () => request(id),
      (r) => r.phase === 'failed' || r.phase === 'active',
    );
    expect(failed.steps.find((s: Json) => s.name === 'node')).toMatchObject({ state: 'failed' });
    const built = await resources();
    for (const part of ['vgw-bank-t', 'vnet-bank-t', 'cn-bank-t-to-bank-a', 'cn-bank-a-to-bank-t'])
      expect(built).toContain(part);

    // A lock on the gateway: Azure refuses to delete it, for as long as the lock stays.
    expect((await admin('/admin/cloud/faults', [LOCKED_GATEWAY, VNET_TRIPWIRE])).status).toBe(200);
    const first = await signedAction(`/api/membership-requests/${id}/abandon`, {
      action: 'abandon',
      subject: id,
    });
    expect(first.status).toBe(202);
    const stopped = await until(
      'teardown step',
      () => request(id),
      (r) => ['failed', 'succeeded'].includes(r.steps.find((s: Json) => s.name === 'teardown')?.state),
    );
    expect(stopped.phase).toBe('failed');
    expect(stopped.steps.find((s: Json) => s.name === 'teardown')).toMatchObject({
      state: 'failed',
      error: { code: 'AZURE.CONFLICT', azureCode: 'ScopeLocked' },
    });
    const half = await resources();
    // Deleted before the gateway's stage: the connections, both ways. Kept: the gateway, and its VNet,
    // which was not even attempted (Azure refuses a VNet whose gateway is still in it).
    expect(half).not.toContain('cn-bank-t-to-bank-a');
    expect(half).not.toContain('cn-bank-a-to-bank-t');
    expect(half).toContain('vgw-bank-t');
    expect(half).toContain('vnet-bank-t');
    const faults = (await json(await admin('/admin/cloud/faults'))).faults as Json[];
    expect(faults.find((f) => f.operation === 'arm:virtualNetworks.delete')).toMatchObject({ fired: 0 });
    // Not abandoned yet: the bank keeps its place until nothing of it is left.
    expect((await json(await fetch(`${host.url}/api/members/bank-t`))).status).toBe('PENDING');
    // The members heard about it, as about any failed step.
    const outbox = await json(await admin('/admin/cloud/outbox'));
    expect(JSON.stringify(outbox)).toMatch(/teardown/);

    // The lock is lifted; a member abandons again and the teardown resumes where it stopped.
    expect((await admin('/admin/cloud/faults', undefined, 'DELETE')).status).toBe(204);
    const second = await signedAction(
      `/api/membership-requests/${id}/abandon`,
      { action: 'abandon', subject: id },
      'bank-b',
    );
    expect(second.status).toBe(202);
    const gone = await until('resources', resources, (text) => !text.includes('bank-t'));
    expect(gone).not.toContain('bank-t');
    const after = await until(
      'teardown step',
      () => request(id),
      (r) => r.steps.find((s: Json) => s.name === 'teardown')?.state === 'succeeded',
    );
    expect(after.phase).toBe('failed');
    const member = await until(
      'member',
      async () => json(await fetch(`${host.url}/api/members/bank-t`)),
      (m) => m.status === 'REMOVED',
    );
    expect(member.status).toBe('REMOVED');
    // Once torn down, nothing more to abandon.
    const third = await signedAction(`/api/membership-requests/${id}/abandon`, {
      action: 'abandon',
      subject: id,
    });
    expect(third.status).toBe(409);
  });

  it('a removal whose teardown is refused says so in the log and in its outcome', async () => {
    expect((await admin('/admin/cloud/faults', LOCKED_GATEWAY)).status).toBe(200);
    const proposed = await signedAction('/api/members/bank-c/proposals', {
      action: 'remove',
      subject: 'bank-c',
      reason: 'left the consortium',
    });
    expect(proposed.status).toBe(202);
    const proposalId = (await json(proposed)).id as string;
    for (const voter of ['bank-a', 'bank-b']) {
      const vote = {
        consortium: name,
        requestId: proposalId,
        voter,
        decision: 'approve',
        reason: 'ok',
        issuedAt: now().toISOString(),
      };
      const r = await joseRequest(
        `${host.url}/api/proposals/${proposalId}/votes`,
        await sign(vote, banks[voter]!.privateKey, { kid: voter }),
      );
      expect(r.status).toBe(202);
    }
    const status = await until(
      'removal teardown',
      async () => {
        const res = await fetch(
          `${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`${proposalId}:teardown`)}`,
        );
        return res.status === 404 ? undefined : ((await json(res)) as Json);
      },
      (s) => s?.runtimeStatus === 'Completed' || s?.runtimeStatus === 'Failed',
    );
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toMatchObject({
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
      code: 'AZURE.CONFLICT',
      azureCode: 'ScopeLocked',
    });
    // Its VNet is still there: nothing after the refused stage was attempted.
    const left = await resources();
    expect(left).toContain('vgw-bank-c');
    expect(left).toContain('vnet-bank-c');
    await admin('/admin/cloud/faults', undefined, 'DELETE');
  });
});
