import { json, type Json } from '../test/http';
import { joseRequest, newBank, sign, startTrustNet, testConsortium, type TestBank } from '../test/trustnet';

/** Proposals beyond suspension: reinstate, replace-key and remove, each voted by the others. */
describe('proposals: reinstate, replace-key, remove', () => {
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => new Date(host.clock.now()).toISOString();

  beforeAll(async () => {
    const c = await testConsortium({}, ['bank-a', 'bank-b', 'bank-c', 'bank-d']);
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c.file);
  });
  afterAll(() => host.stop());

  async function propose(
    subject: string,
    action: string,
    extra: Record<string, unknown> = {},
    by = 'bank-a',
  ): Promise<string> {
    const res = await joseRequest(
      `${host.url}/api/members/${subject}/proposals`,
      await sign(
        {
          consortium: name,
          action,
          subject,
          actor: by,
          reason: `${action} ${subject}`,
          issuedAt: now(),
          ...extra,
        },
        banks[by]!.privateKey,
        { kid: by },
      ),
    );
    expect(res.status).toBe(202);
    return (await json(res)).id;
  }

  async function approveBy(id: string, voters: string[]): Promise<Json> {
    for (const voter of voters) {
      const res = await joseRequest(
        `${host.url}/api/proposals/${id}/votes`,
        await sign(
          { consortium: name, requestId: id, voter, decision: 'approve', reason: 'agreed', issuedAt: now() },
          banks[voter]!.privateKey,
          { kid: voter },
        ),
      );
      expect(res.status).toBe(202);
    }
    for (let i = 0; i < 400; i++) {
      const view = await json(await fetch(`${host.url}/api/proposals/${id}`));
      if (view.phase !== 'voting') return view;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${id} still voting`);
  }

  const member = async (id: string): Promise<Json> => json(await fetch(`${host.url}/api/members/${id}`));

  it('suspends then reinstates a member', async () => {
    // Three others are eligible: a majority is two.
    expect(await approveBy(await propose('bank-d', 'suspend'), ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
      tally: { eligible: 3, required: 2 },
    });
    expect((await member('bank-d')).status).toBe('SUSPENDED');
    // Reinstating: bank-d does not vote on itself; eligible are the three ACTIVE others.
    expect(await approveBy(await propose('bank-d', 'reinstate'), ['bank-b', 'bank-c'])).toMatchObject({
      phase: 'approved',
    });
    expect((await member('bank-d')).status).toBe('ACTIVE');
  });

  it('replaces a member key by vote: the old key stops working, the new one signs', async () => {
    const next = await newBank('bank-c');
    const id = await propose('bank-c', 'replace-key', { newKey: next.publicJwk });
    expect(await approveBy(id, ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
      newKey: next.publicJwk,
    });
    expect((await member('bank-c')).governanceKey).toEqual(next.publicJwk);
    const old = await joseRequest(
      `${host.url}/api/members/bank-a/proposals`,
      await sign(
        {
          consortium: name,
          action: 'suspend',
          subject: 'bank-a',
          actor: 'bank-c',
          reason: 'x',
          issuedAt: now(),
        },
        banks['bank-c']!.privateKey,
        { kid: 'bank-c' },
      ),
    );
    expect(old.status).toBe(401);
    banks['bank-c'] = next;
  });

  it('removes a member; a removed member cannot propose or vote, and its id stays taken', async () => {
    expect(await approveBy(await propose('bank-d', 'remove'), ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
    });
    expect((await member('bank-d')).status).toBe('REMOVED');
    const refused = await joseRequest(
      `${host.url}/api/members/bank-a/proposals`,
      await sign(
        {
          consortium: name,
          action: 'suspend',
          subject: 'bank-a',
          actor: 'bank-d',
          reason: 'x',
          issuedAt: now(),
        },
        banks['bank-d']!.privateKey,
        { kid: 'bank-d' },
      ),
    );
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe('VOTER.NOT_ACTIVE');
    // A removed member cannot be suspended: the proposal does not apply.
    const again = await joseRequest(
      `${host.url}/api/members/bank-d/proposals`,
      await sign(
        {
          consortium: name,
          action: 'suspend',
          subject: 'bank-d',
          actor: 'bank-a',
          reason: 'x',
          issuedAt: now(),
        },
        banks['bank-a']!.privateKey,
        { kid: 'bank-a' },
      ),
    );
    expect(again.status).toBe(409);
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const { verifyChain } = await import('../core/audit');
    expect(await verifyChain(audit.items)).toMatchObject({ ok: true });
  });
});
