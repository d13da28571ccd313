import type { Json } from '../test/http';
import { applicantPayload, newBank, startTrustNet, testConsortium, type TestBank } from '../test/trustnet';

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
  let name: string;
  const saved = process.env['TRUSTNET_RETRY_WINDOW'];

  beforeAll(async () => {
    const c = await testConsortium();
    name = c.config.name;
    host = await startTrustNet(c);
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['TRUSTNET_RETRY_WINDOW'];
    else process.env['TRUSTNET_RETRY_WINDOW'] = saved;
    await host.stop();
  });

  const provision = (id: string): Promise<Json> => host.instance(`${id}:provision`);

  async function apply(key: TestBank, azure: Record<string, unknown>) {
    const { payload, res } = await host.apply(
      { id: 'bank-p', legalName: 'O=Bank P, L=Porto, C=PT', azure },
      {},
      key,
    );
    return { id: payload.requestId, res };
  }

  async function approve(id: string) {
    for (const voter of ['bank-a', 'bank-b']) expect((await host.vote(id, voter)).status).toBe(202);
  }

  it('frees the id, name and key: the same bank applies again, is approved and becomes ACTIVE', async () => {
    const key = await newBank('applicant-p');
    const azure = {
      ...applicantPayload(name, host.now()).applicant.azure,
      resourceGroup: 'rg-bank-p',
      addressSpace: '10.44.0.0/16',
    };
    const rg = await host.prepareResourceGroup(azure);
    expect(rg.status).toBe(201);

    // An operator's typo in a setting the plan reads: the plan activity fails on every try.
    process.env['TRUSTNET_RETRY_WINDOW'] = '7 days';
    const first = await apply(key, azure);
    expect(first.res.status).toBe(202);
    await approve(first.id);
    // The plan's retries wait on durable timers (seconds to half a minute): move the clock past them.
    const failed = await host.until(
      'the plan to fail',
      async () => {
        await host.advanceClock('PT1M');
        return host.request(first.id);
      },
      (r) => r.phase === 'failed' || r.phase === 'active',
    );
    expect(failed.phase).toBe('failed');
    // The status says which step failed and why, though the plan is not one of the listed steps.
    const planStep = failed.steps.find((s: { name: string }) => s.name === 'plan');
    expect(planStep).toMatchObject({ state: 'failed', error: { code: 'AZURE.RETRIES_EXHAUSTED' } });
    expect(planStep.error.message).toMatch(/TRUSTNET_RETRY_WINDOW/);
    expect((await provision(first.id)).customStatus).toMatchObject({
      phase: 'failed',
      step: 'plan',
      error: { code: 'AZURE.RETRIES_EXHAUSTED' },
    });
    // Still reserved while the failed onboarding waits: the same bank cannot apply twice.
    const meanwhile = await apply(key, azure);
    expect(meanwhile.res.status).toBe(409);

    process.env['TRUSTNET_RETRY_WINDOW'] = saved ?? 'P7D';
    const abandoned = await host.signedAction(
      `/api/membership-requests/${first.id}/abandon`,
      { action: 'abandon', subject: first.id },
      'bank-c',
    );
    expect(abandoned.status).toBe(202);
    const ended = await host.until(
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
    const done = await host.until(
      'the second onboarding',
      () => host.request(second.id),
      (r) => r.phase === 'active' || r.phase === 'failed',
    );
    expect(done.phase).toBe('active');
    expect(done.outcome).toBe('approved');
    const member = await host.member('bank-p');
    expect(member).toMatchObject({ status: 'ACTIVE', legalName: 'O=Bank P, L=Porto, C=PT' });
    expect(member.keyThumbprint).toBe(done.applicantKeyThumbprint);
  });
});
