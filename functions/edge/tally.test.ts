import { randomUUID } from 'node:crypto';
import { Registry } from '../../azure/registry';
import * as transactions from '../../azure/table-transaction';

const original = transactions.submitTransaction;
import type { Member, MembershipRequest, Vote } from '../../core/membership';
import { decisionsOn, recentStatuses, trackDecisions } from './tally';

/**
 * The vote door's caches against real Table storage (the run's Azurite). Two Registry objects on the
 * same tables stand for two processes: each must see the other's votes, and its own without reading
 * them back.
 */
describe('vote door reads', () => {
  const env = { ...process.env, TRUSTNET_TASK_HUB: `Tally${randomUUID().replace(/-/g, '').slice(0, 12)}` };
  let a: Registry;
  let b: Registry;

  beforeAll(async () => {
    a = await Registry.open(env);
    b = await Registry.open(env);
  });

  const vote = (subjectId: string, voter: string, decision: Vote['decision'] = 'approve'): Vote => ({
    subjectId,
    voter,
    decision,
    reason: 'test',
    at: new Date().toISOString(),
    jws: 'x.y.z',
  });

  const member = (id: string, status: Member['status'] = 'ACTIVE'): Member => ({
    id,
    legalName: `O=${id}, L=London, C=GB`,
    status,
    governanceKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    keyThumbprint: id,
    contacts: { email: [`ops@${id}.example`] },
    azure: {
      tenantId: randomUUID(),
      subscriptionId: randomUUID(),
      resourceGroup: 'rg',
      region: 'uksouth',
      addressSpace: '10.0.0.0/24',
    },
    profile: 'Small',
    joinedAt: new Date().toISOString(),
    founder: true,
  });

  it("counts this process's votes as storage confirms them, and the other process's votes by reading", async () => {
    const ballot = randomUUID();
    expect(await a.openVoting(ballot)).toBe(true);
    expect(await a.addVote(vote(ballot, 'bank-a'))).toBe('created');
    expect([...(await decisionsOn(a, ballot))]).toEqual([['bank-a', 'approve']]);
    // Written by "another process": a reads it back; its own next vote it knows without reading.
    expect(await b.addVote(vote(ballot, 'bank-b', 'reject'))).toBe('created');
    expect(await a.addVote(vote(ballot, 'bank-c'))).toBe('created');
    expect(new Map(await decisionsOn(a, ballot))).toEqual(
      new Map([
        ['bank-a', 'approve'],
        ['bank-b', 'reject'],
        ['bank-c', 'approve'],
      ]),
    );
    // b started after those writes: its first look reads every row.
    expect((await decisionsOn(b, ballot)).size).toBe(3);
    // A duplicate is refused and changes nothing.
    expect(await b.addVote(vote(ballot, 'bank-a', 'reject'))).toBe('duplicate');
    expect((await decisionsOn(a, ballot)).get('bank-a')).toBe('approve');
  });

  it("reads the other processes' votes only when one of them may have voted since the last read", async () => {
    const ballot = randomUUID();
    await a.openVoting(ballot);
    const reads = jest.spyOn(a, 'decisionsSince');
    try {
      expect(await a.addVote(vote(ballot, 'bank-a'))).toBe('created');
      expect((await decisionsOn(a, ballot)).size).toBe(1);
      expect(reads).toHaveBeenCalledTimes(1);
      // a's next writes follow its own (no other writer's vote between): counted without reading.
      expect(await a.addVote(vote(ballot, 'bank-b'))).toBe('created');
      expect(await a.addVote(vote(ballot, 'bank-c'))).toBe('created');
      expect([...(await decisionsOn(a, ballot)).keys()]).toEqual(['bank-a', 'bank-b', 'bank-c']);
      expect(reads).toHaveBeenCalledTimes(1);
      // Another process votes: a's next write finds the guard row changed, and its door reads.
      expect(await b.addVote(vote(ballot, 'bank-d', 'reject'))).toBe('created');
      expect(await a.addVote(vote(ballot, 'bank-e'))).toBe('created');
      expect((await decisionsOn(a, ballot)).get('bank-d')).toBe('reject');
      expect(reads).toHaveBeenCalledTimes(2);
      expect(await a.addVote(vote(ballot, 'bank-f'))).toBe('created');
      expect((await decisionsOn(a, ballot)).size).toBe(6);
      expect(reads).toHaveBeenCalledTimes(2);
      // A refused write (a duplicate) starts a new chain: the next door reads once more.
      expect(await a.addVote(vote(ballot, 'bank-a'))).toBe('duplicate');
      expect(await a.addVote(vote(ballot, 'bank-g'))).toBe('created');
      expect((await decisionsOn(a, ballot)).size).toBe(7);
      expect(reads).toHaveBeenCalledTimes(3);
    } finally {
      reads.mockRestore();
    }
    // Whatever a skipped reading, the stored rows agree with its count.
    expect((await b.decisionsSince(ballot)).length).toBe(7);
  });

  it('counts a ballot it created without reading, until another process votes on it', async () => {
    const request = (id: string) =>
      ({ id, kind: 'request', phase: 'voting', eligible: ['bank-a'] }) as unknown as MembershipRequest;
    trackDecisions(a);
    const opened: string[] = [];
    const stop = a.onVotingOpened((ballot) => opened.push(ballot.id));
    const reads = jest.spyOn(a, 'decisionsSince');
    try {
      // Created and opened here: no vote exists, and a's own votes follow the opening.
      const mine = randomUUID();
      expect((await a.createRequest(request(mine))).created).toBe(true);
      expect(opened).toEqual([mine]);
      expect(await a.addVote(vote(mine, 'bank-a'))).toBe('created');
      expect(await a.addVote(vote(mine, 'bank-b', 'reject'))).toBe('created');
      expect(new Map(await decisionsOn(a, mine))).toEqual(
        new Map([
          ['bank-a', 'approve'],
          ['bank-b', 'reject'],
        ]),
      );
      expect(reads).not.toHaveBeenCalled();
      // A resubmission opens nothing.
      expect((await a.createRequest(request(mine))).created).toBe(false);
      expect(opened).toEqual([mine]);

      // Created here, but another process votes first: a's first write is no sequel, and its door reads.
      const raced = randomUUID();
      await a.createRequest(request(raced));
      expect(await b.addVote(vote(raced, 'bank-c', 'reject'))).toBe('created');
      expect(await a.addVote(vote(raced, 'bank-a'))).toBe('created');
      expect(new Map(await decisionsOn(a, raced))).toEqual(
        new Map([
          ['bank-a', 'approve'],
          ['bank-c', 'reject'],
        ]),
      );
      expect(reads).toHaveBeenCalledTimes(1);

      // Created by another process: a knows nothing of it and reads.
      const theirs = randomUUID();
      await b.createRequest(request(theirs));
      expect(await a.addVote(vote(theirs, 'bank-a'))).toBe('created');
      expect((await decisionsOn(a, theirs)).size).toBe(1);
      expect(reads).toHaveBeenCalledTimes(2);
      expect(opened).toEqual([mine, raced]);
    } finally {
      reads.mockRestore();
      stop();
    }
  });

  it('leaves out only its own rows when asked for the others', async () => {
    const ballot = randomUUID();
    await a.openVoting(ballot);
    await Promise.all([a.addVote(vote(ballot, 'bank-a')), a.addVote(vote(ballot, 'bank-b'))]);
    await b.addVote(vote(ballot, 'bank-c'));
    expect((await a.decisionsSince(ballot)).map((r) => r.voter)).toEqual(['bank-a', 'bank-b', 'bank-c']);
    expect((await a.decisionsSince(ballot, undefined, true)).map((r) => r.voter)).toEqual(['bank-c']);
    expect((await b.decisionsSince(ballot, undefined, true)).map((r) => r.voter)).toEqual([
      'bank-a',
      'bank-b',
    ]);
  });

  it('writes votes only while voting is open, and never again once it has been closed', async () => {
    const ballot = randomUUID();
    // Never opened: refused.
    expect(await a.addVote(vote(ballot, 'bank-a'))).toBe('closed');
    expect(await a.openVoting(ballot)).toBe(true);
    expect(await b.openVoting(ballot)).toBe(false);
    // A burst goes in one transaction; a duplicate in a burst sends each vote on its own.
    expect(await Promise.all([a.addVote(vote(ballot, 'bank-a')), a.addVote(vote(ballot, 'bank-b'))])).toEqual(
      ['created', 'created'],
    );
    expect(
      await Promise.all([a.addVote(vote(ballot, 'bank-a', 'reject')), a.addVote(vote(ballot, 'bank-c'))]),
    ).toEqual(['duplicate', 'created']);
    await b.closeVoting(ballot);
    await b.closeVoting(ballot);
    // Closed wins over duplicate, alone and in a burst; reopening is refused.
    expect(await Promise.all([a.addVote(vote(ballot, 'bank-a')), a.addVote(vote(ballot, 'bank-d'))])).toEqual(
      ['closed', 'closed'],
    );
    expect(await a.addVote(vote(ballot, 'bank-e'))).toBe('closed');
    expect(await a.openVoting(ballot)).toBe(false);
    expect(await b.addVote(vote(ballot, 'bank-e'))).toBe('closed');
    // The guard rows are no votes.
    expect((await a.votesOn(ballot)).map((v) => v.voter)).toEqual(['bank-a', 'bank-b', 'bank-c']);
    expect((await b.decisionsSince(ballot)).map((v) => v.voter)).toEqual(['bank-a', 'bank-b', 'bank-c']);
    // A burst larger than one transaction holds (100 operations, the guard among them) goes in several,
    // none of them refused (a refused one would fall back to one write per vote).
    const big = randomUUID();
    await a.openVoting(big);
    const sizes: number[] = [];
    const spy = jest.spyOn(transactions, 'submitTransaction');
    spy.mockImplementation((client, actions) => {
      sizes.push(actions.length);
      return original(client, actions);
    });
    let burst: string[];
    try {
      burst = await Promise.all(Array.from({ length: 150 }, (_, i) => a.addVote(vote(big, `bank-${i}`))));
    } finally {
      spy.mockRestore();
    }
    expect(burst.every((r) => r === 'created')).toBe(true);
    expect(Math.max(...sizes)).toBe(100);
    expect(sizes.reduce((n, k) => n + k, 0)).toBe(150 + sizes.length);
    // Closed before it was ever opened: it cannot be opened.
    const other = randomUUID();
    await a.closeVoting(other);
    expect(await a.openVoting(other)).toBe(false);
    expect(await a.addVote(vote(other, 'bank-a'))).toBe('closed');
  });

  it('reads several members at once, and every status once, then only changes', async () => {
    const ids = Array.from(
      { length: 20 },
      (_, i) => `m${String(i).padStart(2, '0')}-${randomUUID().slice(0, 8)}`,
    );
    for (const id of ids) await a.addMember(member(id));
    const found = await a.getMembers([...ids, 'nobody-here', "o'brien"]);
    expect([...found.keys()].sort()).toEqual([...ids].sort());
    expect(found.get(ids[3]!)?.legalName).toBe(`O=${ids[3]}, L=London, C=GB`);
    expect([...(await a.getMembers([ids[0]!])).keys()]).toEqual([ids[0]]);

    const statuses = await recentStatuses(a);
    expect(ids.every((id) => statuses.get(id) === 'ACTIVE')).toBe(true);
    await b.setMemberStatus(ids[1]!, ['ACTIVE'], 'SUSPENDED');
    expect(
      (await b.memberStatusesSince(new Date(Date.now() - 60_000))).find((s) => s.id === ids[1])?.status,
    ).toBe('SUSPENDED');
  });

  it('reads only the phase of a ballot', async () => {
    const id = randomUUID();
    const request = {
      id,
      kind: 'request',
      phase: 'voting',
      eligible: ['bank-a'],
    } as unknown as MembershipRequest;
    await a.createRequest(request);
    expect(await a.ballotPhase('request', id)).toBe('voting');
    await b.updateRequest(id, (r) => ({ ...r, phase: 'approved' }));
    expect(await a.ballotPhase('request', id)).toBe('approved');
    expect(await a.ballotPhase('request', randomUUID())).toBeUndefined();
    expect(await a.ballotPhase('proposal', id)).toBeUndefined();
  });
});
