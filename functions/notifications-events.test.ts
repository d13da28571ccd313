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

/**
 * The events no orchestration step raises directly: deadline reminders (from the sweep timer) to the
 * voters who have not voted, and governance proposals: voters must act, and a suspension is announced.
 * Email only here (functions/notifications.test.ts covers Teams cards).
 */
describe('notifications for deadlines and proposals', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  const saved = { ...process.env };
  const now = () => new Date(host.clock.now()).toISOString();

  beforeAll(async () => {
    const c = await testConsortium({}, ['bank-a', 'bank-b', 'bank-c', 'bank-e']);
    banks = c.banks;
    name = c.config.name;
    process.env['TRUSTNET_EMAIL_ENDPOINT'] = 'https://trustnet.communication.azure.com';
    process.env['TRUSTNET_EMAIL_SENDER'] = 'DoNotReply@trustnet.example';
    process.env['TRUSTNET_DEADLINE_REMINDER'] = 'PT24H';
    // Hourly, so a jump of days runs a sweep an hour rather than one a minute.
    host = await startTrustNet(c.file, { schedules: { TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 0 * * * *' } });
  });
  afterAll(async () => {
    await host.stop();
    process.env = saved;
  });

  const outbox = async (): Promise<Json[]> =>
    (await json(await fetch(`${host.url}/admin/cloud/outbox`))).items as Json[];
  const to = (items: Json[], who: string, subject: RegExp) =>
    items.filter(
      (i) =>
        i.kind === 'email' && (i.to as string[]).includes(`ops@${who}.example`) && subject.test(i.subject),
    );

  async function until(what: string, ok: (items: Json[]) => boolean): Promise<Json[]> {
    let items = await outbox();
    for (let i = 0; i < 600 && !ok(items); i++) {
      await new Promise((r) => setTimeout(r, 25));
      items = await outbox();
    }
    if (!ok(items)) throw new Error(`${what}: ${JSON.stringify(items.map((i) => [i.to, i.subject]))}`);
    return items;
  }

  it('reminds the voters who have not voted a day before the deadline, once', async () => {
    const key = await newBank('applicant');
    const payload = applicantPayload(name, new Date(host.clock.now()));
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);
    const vote = await joseRequest(
      `${host.url}/api/membership-requests/${payload.requestId}/votes`,
      await sign(
        {
          consortium: name,
          requestId: payload.requestId,
          voter: 'bank-a',
          decision: 'approve',
          reason: 'ok',
          issuedAt: now(),
        },
        banks['bank-a']!.privateKey,
        { kid: 'bank-a' },
      ),
    );
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
    const proposed = await joseRequest(
      `${host.url}/api/members/bank-e/proposals`,
      await sign(
        {
          consortium: name,
          action: 'suspend',
          subject: 'bank-e',
          actor: 'bank-a',
          reason: 'unpaid fees',
          issuedAt: now(),
        },
        banks['bank-a']!.privateKey,
        { kid: 'bank-a' },
      ),
    );
    expect(proposed.status).toBe(202);
    const id = (await json(proposed)).id as string;
    await until('no proposal email', (i) => to(i, 'bank-b', /suspend/i).length >= 1);
    for (const voter of ['bank-a', 'bank-b', 'bank-c']) {
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
    const items = await until('no suspension news', (i) =>
      ['bank-a', 'bank-b', 'bank-c', 'bank-e'].every((m) => to(i, m, /suspended/i).length >= 1),
    );
    expect(items.length).toBeGreaterThan(0);
  });
});
