import { json, type Json } from '../test/http';
import { newBank, startTrustNet, testConsortium, type TestBank } from '../test/trustnet';

/** Proposals beyond suspension: reinstate, replace-key and remove, each voted by the others. */
describe('proposals: reinstate, replace-key, remove', () => {
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let banks: Record<string, TestBank>;

  beforeAll(async () => {
    const c = await testConsortium({}, ['bank-a', 'bank-b', 'bank-c', 'bank-d']);
    banks = c.banks;
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  async function approveBy(id: string, voters: string[]): Promise<Json> {
    for (const voter of voters)
      expect((await host.vote(id, voter, { reason: 'agreed' }, 'proposals')).status).toBe(202);
    return host.settled(id, 'proposals');
  }

  const member = (id: string): Promise<Json> => host.member(id);

  it('suspends then reinstates a member', async () => {
    // Three others are eligible: a majority is two.
    expect(await approveBy(await host.propose('bank-d', 'suspend'), ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
      tally: { eligible: 3, required: 2 },
    });
    expect((await member('bank-d')).status).toBe('SUSPENDED');
    // Reinstating: bank-d does not vote on itself; eligible are the three ACTIVE others.
    expect(await approveBy(await host.propose('bank-d', 'reinstate'), ['bank-b', 'bank-c'])).toMatchObject({
      phase: 'approved',
    });
    expect((await member('bank-d')).status).toBe('ACTIVE');
  });

  it('replaces a member key by vote: the old key stops working, the new one signs', async () => {
    const next = await newBank('bank-c');
    const id = await host.propose('bank-c', 'replace-key', { newKey: next.publicJwk });
    expect(await approveBy(id, ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
      newKey: next.publicJwk,
    });
    expect((await member('bank-c')).governanceKey).toEqual(next.publicJwk);
    const old = await host.signedAction(
      '/api/members/bank-a/proposals',
      { action: 'suspend', subject: 'bank-a', reason: 'x' },
      'bank-c',
    );
    expect(old.status).toBe(401);
    banks['bank-c'] = next;
  });

  it('removes a member; a removed member cannot propose or vote, and its id stays taken', async () => {
    expect(await approveBy(await host.propose('bank-d', 'remove'), ['bank-a', 'bank-b'])).toMatchObject({
      phase: 'approved',
    });
    expect((await member('bank-d')).status).toBe('REMOVED');
    const refused = await host.signedAction(
      '/api/members/bank-a/proposals',
      { action: 'suspend', subject: 'bank-a', reason: 'x' },
      'bank-d',
    );
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe('VOTER.NOT_ACTIVE');
    // A removed member cannot be suspended: the proposal does not apply.
    const again = await host.signedAction(
      '/api/members/bank-d/proposals',
      { action: 'suspend', subject: 'bank-d', reason: 'x' },
      'bank-a',
    );
    expect(again.status).toBe(409);
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const { verifyChain } = await import('../core/audit');
    expect(await verifyChain(audit.items)).toMatchObject({ ok: true });
  });
});
