import type { Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/**
 * The events no orchestration step raises directly: deadline reminders (from the sweep timer) to the
 * voters who have not voted, and governance proposals: voters must act, and a suspension is announced.
 * Email only here (functions/notifications.test.ts covers Teams cards).
 */
describe('notifications for deadlines and proposals', () => {
  let host: Host;
  const saved = { ...process.env };

  beforeAll(async () => {
    const c = await testConsortium({}, ['bank-a', 'bank-b', 'bank-c', 'bank-e']);
    process.env['TRUSTNET_EMAIL_ENDPOINT'] = 'https://trustnet.communication.azure.com';
    process.env['TRUSTNET_EMAIL_SENDER'] = 'DoNotReply@trustnet.example';
    process.env['TRUSTNET_DEADLINE_REMINDER'] = 'PT24H';
    // Hourly, so a jump of days runs a sweep an hour rather than one a minute.
    host = await startTrustNet(c, { schedules: { TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 0 * * * *' } });
  });
  afterAll(async () => {
    await host.stop();
    process.env = saved;
  });

  const outbox = () => host.outbox();
  const to = (items: Json[], who: string, subject: RegExp) =>
    items.filter(
      (i) =>
        i.kind === 'email' && (i.to as string[]).includes(`ops@${who}.example`) && subject.test(i.subject),
    );

  const until = (what: string, ok: (items: Json[]) => boolean) =>
    host.until(what, outbox, ok, { show: (items) => items.map((i) => [i.to, i.subject]) });

  it('reminds the voters who have not voted a day before the deadline, once', async () => {
    const { payload, res } = await host.apply();
    expect(res.status).toBe(202);
    const vote = await host.vote(payload.requestId, 'bank-a');
    expect(vote.status).toBe(202);
    // Five days on: no reminder yet (the window is 7 days, the reminder 24 hours before its end).
    await host.advanceClock('P5D');
    expect(to(await outbox(), 'bank-b', /Vote closing/i)).toHaveLength(0);
    await host.advanceClock('P1DT2H');
    // Each voter's reminder is its own delivery: wait for all of them, then check none went to bank-a.
    const items = await until('no reminder', (i) =>
      ['bank-b', 'bank-c', 'bank-e'].every((m) => to(i, m, /Vote closing/i).length >= 1),
    );
    expect(to(items, 'bank-b', /Vote closing/i)).toHaveLength(1);
    expect(to(items, 'bank-c', /Vote closing/i)).toHaveLength(1);
    expect(to(items, 'bank-a', /Vote closing/i)).toHaveLength(0);
    // Later sweeps do not remind again.
    await host.advanceClock('PT3H');
    expect(to(await outbox(), 'bank-b', /Vote closing/i)).toHaveLength(1);
  });

  it('asks the voters to act on a proposal, and tells every member when a member is suspended', async () => {
    const id = await host.propose('bank-e', 'suspend', { reason: 'unpaid fees' });
    await until('no proposal email', (i) => to(i, 'bank-b', /suspend/i).length >= 1);
    // Two of the three voters (bank-e is the subject) decide under majority; a third vote could find
    // the proposal already closed.
    for (const voter of ['bank-a', 'bank-b'])
      expect((await host.vote(id, voter, { reason: 'agreed' }, 'proposals')).status).toBe(202);
    const items = await until('no suspension news', (i) =>
      ['bank-a', 'bank-b', 'bank-c', 'bank-e'].every((m) => to(i, m, /suspended/i).length >= 1),
    );
    expect(items.length).toBeGreaterThan(0);
  });
});
