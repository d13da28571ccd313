import { json, type Json } from '../test/http';
import { startTrustNet, testConsortium, type TestConsortium } from '../test/trustnet';
import { packJson, table } from '../azure/tables';
import { join } from 'node:path';
import type { Registry } from '../azure/registry';
import type { AuditLog } from '../azure/audit-log';
import { BALLOT_ORCHESTRATOR, LEGACY_BALLOT_ORCHESTRATOR, tallyBallot } from './ballot';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/** History event type of a scheduled activity (Durable Task's TaskScheduled). */
const TASK_SCHEDULED = 4;

describe('the ballot orchestration (three founders, majority)', () => {
  let c: TestConsortium;
  let host: Host;

  beforeAll(async () => {
    c = await testConsortium();
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  const activities = async (id: string) => {
    const record = await host.durable.getState(id);
    return {
      name: record?.state.name,
      scheduled: (record?.history ?? [])
        .filter((e) => (e as { EventType?: number }).EventType === TASK_SCHEDULED)
        .map((e) => (e as { Name?: string }).Name),
    };
  };
  const auditKinds = async (id: string) =>
    ((await json(await fetch(`${host.url}/api/audit?limit=1000`))).items as Json[])
      .filter((e) => e.subject === id)
      .map((e) => e.kind);
  const opened = (id: string) =>
    host.until(
      `ballot ${id} to open`,
      async () => host.durable.getState(id),
      (r) => r?.state.status === 'Running' && r.state.customStatus !== undefined,
    );
  const finished = (id: string) =>
    host.until(
      `ballot ${id} to finish`,
      async () => host.durable.getState(id),
      (r) => r?.state.status === 'Completed',
    );

  it('counts and closes in one activity once the outcome is certain', async () => {
    const { payload, res } = await host.apply();
    expect(res.status).toBe(202);
    const id = payload.requestId;
    await opened(id);
    expect((await host.vote(id, 'bank-a', { decision: 'reject' })).status).toBe(202);
    expect((await host.vote(id, 'bank-b', { decision: 'reject' })).status).toBe(202);
    expect(await host.settled(id)).toMatchObject({
      phase: 'rejected',
      tally: { approve: 0, reject: 2, eligible: 3, required: 2 },
    });
    await finished(id);
    expect(await activities(id)).toEqual({
      name: BALLOT_ORCHESTRATOR,
      scheduled: ['ballotOpenV1', 'ballotDecideV1'],
    });
    expect(await auditKinds(id)).toEqual([
      'request.received',
      'vote.accepted',
      'vote.accepted',
      'request.decided',
    ]);
  });

  /** Reads of the ballot's votes made after its voting closed (the final count's). */
  async function readsAfterClosing(vote: (id: string) => Promise<void>) {
    // The host runs the built app: its registry is the one dist's services module made.
    const services = (await import(join(__dirname, '../dist/functions/edge/services.js'))) as {
      getRegistry: () => Promise<Registry>;
    };
    const registry = await services.getRegistry();
    const close = jest.spyOn(registry, 'closeVoting');
    const reads = jest.spyOn(registry, 'decisionsSince');
    const memberReads = jest.spyOn(registry, 'allMembers');
    try {
      const { payload } = await host.apply();
      const id = payload.requestId;
      await opened(id);
      await vote(id);
      const view = await host.settled(id);
      // The decision's notification is planned (with who hears of it) before the activity ends.
      await finished(id);
      expect(await host.instance(`notify:request.decided:${id}`)).toMatchObject({
        input: { deliveries: expect.arrayContaining([expect.objectContaining({ owner: 'bank-a' })]) },
      });
      const closedAt = close.mock.calls.findIndex(([b]) => b === id);
      expect(closedAt).toBeGreaterThanOrEqual(0);
      const after = reads.mock.invocationCallOrder.filter(
        (order, i) => reads.mock.calls[i]![0] === id && order > close.mock.invocationCallOrder[closedAt]!,
      );
      const since = (spy: jest.SpyInstance) =>
        spy.mock.invocationCallOrder.filter((order) => order > close.mock.invocationCallOrder[closedAt]!)
          .length;
      return { view, reads: after.length, memberReads: since(memberReads) };
    } finally {
      close.mockRestore();
      reads.mockRestore();
      memberReads.mockRestore();
    }
  }

  it('counts again after closing, unless every eligible voter had voted; reads the members once', async () => {
    // Decided with one voter left: a late vote may have landed before the close, so the count is redone.
    const early = await readsAfterClosing(async (id) => {
      expect((await host.vote(id, 'bank-a', { decision: 'reject' })).status).toBe(202);
      expect((await host.vote(id, 'bank-b', { decision: 'reject' })).status).toBe(202);
    });
    expect(early.view).toMatchObject({ phase: 'rejected', tally: { approve: 0, reject: 2, eligible: 3 } });
    expect(early.reads).toBe(1);
    // The members the deciding count read are those the plan of who hears of the decision uses.
    expect(early.memberReads).toBe(0);
    // Decided by the last eligible voter: no other vote can come, so the deciding count is the final one.
    const last = await readsAfterClosing(async (id) => {
      expect((await host.vote(id, 'bank-a', { decision: 'approve' })).status).toBe(202);
      expect((await host.vote(id, 'bank-b', { decision: 'reject' })).status).toBe(202);
      expect((await host.vote(id, 'bank-c', { decision: 'reject' })).status).toBe(202);
    });
    expect(last.view).toMatchObject({ phase: 'rejected', tally: { approve: 1, reject: 2, eligible: 3 } });
    expect(last.reads).toBe(0);
  });

  it('decides on one round trip of reads, and closes and audits at once when everyone has voted', async () => {
    const services = (await import(join(__dirname, '../dist/functions/edge/services.js'))) as {
      getRegistry: () => Promise<Registry>;
      getAudit: () => Promise<AuditLog>;
    };
    const registry = await services.getRegistry();
    const audit = await services.getAudit();
    const { payload } = await host.apply();
    const id = payload.requestId;
    await opened(id);
    // Each call's start and end, in the order they happened (only those made for this ballot's decision).
    const events: string[] = [];
    const track = <T extends object>(
      target: T,
      method: keyof T & string,
      concerns: (args: unknown[]) => boolean,
    ) => {
      const original = (target[method] as (...a: unknown[]) => Promise<unknown>).bind(target);
      return jest.spyOn(target, method as never).mockImplementation(((...args: unknown[]) => {
        if (!concerns(args)) return original(...args);
        events.push(`${method} start`);
        return original(...args).finally(() => events.push(`${method} end`));
      }) as never);
    };
    const spies = [
      track(registry, 'getTaggedRequest', ([x]) => x === id),
      track(registry, 'allMembers', () => true),
      track(registry, 'decisionsSince', ([x]) => x === id),
      track(registry, 'closeVoting', ([x]) => x === id),
      track(audit, 'append', ([e]) => (e as { kind?: string }).kind === 'request.decided'),
    ];
    try {
      // Decided by the last eligible voter.
      expect((await host.vote(id, 'bank-a', { decision: 'approve' })).status).toBe(202);
      expect((await host.vote(id, 'bank-b', { decision: 'reject' })).status).toBe(202);
      expect((await host.vote(id, 'bank-c', { decision: 'reject' })).status).toBe(202);
      await finished(id);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // The deciding count: the record, the members and the votes are all asked for before any answers.
    const firstEnd = events.findIndex((e) => e.endsWith(' end'));
    expect(events.slice(0, firstEnd).sort()).toEqual(
      ['allMembers start', 'decisionsSince start', 'getTaggedRequest start'].sort(),
    );
    // Every eligible voter had voted: the close and the decision's audit entry go at once, and no count
    // is read after the close.
    const closing = events.slice(events.indexOf('closeVoting start'));
    expect(closing.indexOf('append start')).toBeLessThan(closing.indexOf('closeVoting end'));
    expect(closing).not.toContain('decisionsSince start');
  });

  it('closes in one write: a request with the claims it frees, a proposal with its decision audited', async () => {
    const services = (await import(join(__dirname, '../dist/functions/edge/services.js'))) as {
      getRegistry: () => Promise<Registry>;
    };
    const registry = await services.getRegistry();
    const { payload, key } = await host.apply();
    const id = payload.requestId;
    await opened(id);
    const requestWrites = jest.spyOn(registry, 'updateRequest');
    const proposalWrites = jest.spyOn(registry, 'updateProposal');
    try {
      expect((await host.vote(id, 'bank-a', { decision: 'reject' })).status).toBe(202);
      expect((await host.vote(id, 'bank-b', { decision: 'reject' })).status).toBe(202);
      await finished(id);
      expect(requestWrites.mock.calls.filter(([r]) => r === id)).toHaveLength(1);
      // Its id, name and key are free again: the same bank, with the same key, applies anew at once.
      const again = await host.apply(payload.applicant, {}, key);
      expect(again.res.status).toBe(202);
      // Rejected too, so that the tests after this one may use the same address space.
      await opened(again.payload.requestId);
      for (const voter of ['bank-a', 'bank-b'])
        expect((await host.vote(again.payload.requestId, voter, { decision: 'reject' })).status).toBe(202);
      await finished(again.payload.requestId);

      const proposal = await host.propose('bank-c', 'suspend');
      await opened(proposal);
      proposalWrites.mockClear();
      // bank-c does not vote on itself: one of two rejecting leaves a majority out of reach.
      expect((await host.vote(proposal, 'bank-a', { decision: 'reject' }, 'proposals')).status).toBe(202);
      await finished(proposal);
      expect(proposalWrites.mock.calls.filter(([p]) => p === proposal)).toHaveLength(1);
      expect(await host.settled(proposal, 'proposals')).toMatchObject({ phase: 'rejected' });
      expect(await auditKinds(proposal)).toEqual(['proposal.opened', 'vote.accepted', 'proposal.decided']);
    } finally {
      requestWrites.mockRestore();
      proposalWrites.mockRestore();
    }
  });

  it('finishes a ballot that started on V1 on V1, auditing it once', async () => {
    const { payload, res } = await host.apply();
    expect(res.status).toBe(202);
    const id = payload.requestId;
    await opened(id);
    // As if this ballot had started before V2: its orchestration runs V1 from the start.
    await host.durable.terminate(id, 'restarted on V1 by the test');
    await host.until(
      'the V2 instance to stop',
      async () => host.durable.getState(id),
      (r) => r?.state.status === 'Terminated',
    );
    await host.durable.startNew(LEGACY_BALLOT_ORCHESTRATOR, id, { kind: 'request', id });
    await opened(id);
    expect((await host.vote(id, 'bank-a', { decision: 'reject' })).status).toBe(202);
    expect((await host.vote(id, 'bank-c', { decision: 'reject' })).status).toBe(202);
    expect(await host.settled(id)).toMatchObject({ phase: 'rejected', tally: { reject: 2 } });
    await finished(id);
    expect(await activities(id)).toEqual({
      name: LEGACY_BALLOT_ORCHESTRATOR,
      scheduled: ['ballotOpenV1', 'ballotTallyV1', 'ballotCloseV1'],
    });
    // Opened twice (V2, then V1), received and decided once each.
    expect(await auditKinds(id)).toEqual([
      'request.received',
      'vote.accepted',
      'vote.accepted',
      'request.decided',
    ]);
  });

  it('counts vote rows written before the Decision column from their bodies', async () => {
    const { payload, res } = await host.apply();
    expect(res.status).toBe(202);
    const id = payload.requestId;
    await opened(id);
    expect((await host.vote(id, 'bank-a', { decision: 'reject' })).status).toBe(202);
    // bank-b's row as the first release wrote it: the vote in Body, no Decision column.
    const votes = await table('Votes');
    const at = host.now().toISOString();
    await votes.createEntity({
      partitionKey: id,
      rowKey: 'bank-b',
      ...packJson('Body', {
        subjectId: id,
        voter: 'bank-b',
        decision: 'approve',
        reason: 'ok',
        at,
        jws: 'x',
      }),
    });
    expect((await tallyBallot({ kind: 'request', id })).tally).toEqual({
      approve: 1,
      reject: 1,
      eligible: 3,
      required: 2,
    });
  });
});
