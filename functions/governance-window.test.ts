import { json, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';

describe('a 30-day voting window under a threshold policy', () => {
  it('stays open through day 29 and expires after day 30 on the virtual clock', async () => {
    const c = await testConsortium({
      votingWindow: 'P30D',
      policy: { kind: 'threshold', percent: 60, comparator: '>=', quorum: 3 },
    });
    const host = await startTrustNet(c);
    try {
      const { payload, res } = await host.apply();
      expect(res.status).toBe(202);
      const vote = (voter: string) => host.vote(payload.requestId, voter);
      // 60% of 3 needs 2 approvals, but the quorum of 3 votes cast is not reached by them.
      expect((await json(await vote('bank-a'))).tally).toEqual({
        approve: 1,
        reject: 0,
        eligible: 3,
        required: 2,
      });
      expect((await vote('bank-b')).status).toBe(202);
      const view = async (): Promise<Json> =>
        json(await fetch(`${host.url}/api/membership-requests/${payload.requestId}`));
      expect(Date.parse((await view()).deadline) - Date.parse((await view()).openedAt)).toBe(
        30 * 24 * 3600e3,
      );
      await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P29D"}' });
      expect((await view()).phase).toBe('voting');
      await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P2D"}' });
      const done = await host.settled(payload.requestId);
      expect(done).toMatchObject({ phase: 'expired', outcome: 'expired', tally: { approve: 2, reject: 0 } });
    } finally {
      await host.stop();
    }
  });
});
