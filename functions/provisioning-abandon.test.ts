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

// A whole onboarding after the abandoned one: dozens of activities on a busy 2-core machine.
jest.setTimeout(120_000);

/**
 * An onboarding that never got a plan (an operator's bad setting), abandoned by a member: nothing was
 * built, and the bank's id, legal name and governance key are free again, so the same bank applies
 * again with all three and is approved and onboarded.
 */
describe('abandoning an onboarding whose plan failed (local cloud, three founders)', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => new Date(host.clock.now());
  const saved = process.env['TRUSTNET_RETRY_WINDOW'];

  beforeAll(async () => {
    const c = await testConsortium();
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c.file);
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['TRUSTNET_RETRY_WINDOW'];
    else process.env['TRUSTNET_RETRY_WINDOW'] = saved;
    await host.stop();
  });

  async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    let last = await read();
    for (let i = 0; i < 3200 && !done(last); i++) {
      await new Promise((r) => setTimeout(r, 25));
      last = await read();
    }
    if (!done(last)) throw new Error(`${what}: still ${JSON.stringify(last).slice(0, 2000)}`);
    return last;
  }

  const request = async (id: string): Promise<Json> =>
    json(await fetch(`${host.url}/api/membership-requests/${id}`));
  const provision = async (id: string): Promise<Json> => {
    const res = await fetch(
      `${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`${id}:provision`)}`,
    );
    return res.status === 404 ? undefined : json(res);
  };

  async function apply(key: TestBank, azure: Record<string, unknown>) {
    const payload = applicantPayload(
      name,
      now(),
      {},
      { id: 'bank-p', legalName: 'O=Bank P, L=Porto, C=PT', azure },
    );
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    return { id: payload.requestId, res };
  }

  async function approve(id: string) {
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
  }

  it('frees the id, name and key: the same bank applies again, is approved and becomes ACTIVE', async () => {
    const key = await newBank('applicant-p');
    const azure = {
      ...applicantPayload(name, now()).applicant.azure,
      resourceGroup: 'rg-bank-p',
      addressSpace: '10.44.0.0/16',
    };
    const rg = await fetch(`${host.url}/admin/cloud/resource-groups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        subscriptionId: azure.subscriptionId,
        resourceGroup: azure.resourceGroup,
        location: azure.region,
      }),
    });
    expect(rg.status).toBe(201);

    // An operator's typo in a setting the plan reads: the plan activity fails on every try.
    process.env['TRUSTNET_RETRY_WINDOW'] = '7 days';
    const first = await apply(key, azure);
    expect(first.res.status).toBe(202);
    await approve(first.id);
    // The plan's retries wait on durable timers (seconds to half a minute): move the clock past them.
    const failed = await until(
      'the plan to fail',
      async () => {
        await host.advanceClock('PT1M');
        return request(first.id);
      },
      (r) => r.phase === 'failed' || r.phase === 'active',
    );
    expect(failed.phase).toBe('failed');
    expect((await provision(first.id)).customStatus).toMatchObject({
      phase: 'failed',
      step: 'plan',
      error: { code: 'AZURE.RETRIES_EXHAUSTED' },
    });
    // Still reserved while the failed onboarding waits: the same bank cannot apply twice.
    const meanwhile = await apply(key, azure);
    expect(meanwhile.res.status).toBe(409);

    process.env['TRUSTNET_RETRY_WINDOW'] = saved ?? 'P7D';
    const body = { consortium: name, actor: 'bank-c', issuedAt: now().toISOString() };
    const abandoned = await joseRequest(
      `${host.url}/api/membership-requests/${first.id}/abandon`,
      await sign({ ...body, action: 'abandon', subject: first.id }, banks['bank-c']!.privateKey, {
        kid: 'bank-c',
      }),
    );
    expect(abandoned.status).toBe(202);
    const ended = await until(
      'the abandoned onboarding to end',
      () => provision(first.id),
      (s) => s?.runtimeStatus === 'Completed' || s?.runtimeStatus === 'Failed',
    );
    expect(ended).toMatchObject({ runtimeStatus: 'Completed', output: { tornDown: true } });
    // Nothing was built for it, and it never became a member.
    expect((await fetch(`${host.url}/api/members/bank-p`)).status).toBe(404);

    // The same id, legal name and key, in a new request: accepted, approved, onboarded.
    const second = await apply(key, azure);
    expect(second.res.status).toBe(202);
    await approve(second.id);
    const done = await until(
      'the second onboarding',
      () => request(second.id),
      (r) => r.phase === 'active' || r.phase === 'failed',
    );
    expect(done.phase).toBe('active');
    expect(done.outcome).toBe('approved');
    const member = await json(await fetch(`${host.url}/api/members/bank-p`));
    expect(member).toMatchObject({ status: 'ACTIVE', legalName: 'O=Bank P, L=Porto, C=PT' });
    expect(member.keyThumbprint).toBe(done.applicantKeyThumbprint);
  });
});
