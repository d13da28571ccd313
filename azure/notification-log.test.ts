import { TableClient } from '@azure/data-tables';
import { channelKey, NotificationLog, type NotificationLogOptions } from './notification-log';
import * as transactions from './table-transaction';

const T0 = Date.UTC(2026, 0, 1);
const LEASE = 60_000;

let run = 0;
function log(options: Partial<NotificationLogOptions> = {}) {
  const clock = { now: T0 };
  // A table that does not exist yet: the log creates it.
  const table = TableClient.fromConnectionString(
    process.env['AzureWebJobsStorage']!,
    `notif${Date.now()}${run++}`,
    {
      allowInsecureConnection: true,
    },
  );
  const l = new NotificationLog({
    table,
    now: () => clock.now,
    leaseMs: LEASE,
    failingThreshold: 5,
    ...options,
  });
  return { log: l, clock, table };
}

const teams = channelKey(
  'teams',
  'https://prod-1.westeurope.logic.azure.com/workflows/a/triggers/manual?sig=Secret1',
);
const email = channelKey('email', 'Ops@Bank-A.example');

describe('NotificationLog dedupe', () => {
  it('claim, markSent, claim again: already-sent', async () => {
    const { log: l } = log();
    expect(await l.claim('evt-1', teams)).toBe('send');
    await l.markSent('evt-1', teams, { messageId: 'm-1' });
    expect(await l.claim('evt-1', teams)).toBe('already-sent');
    expect(await l.record('evt-1', teams)).toMatchObject({
      eventId: 'evt-1',
      channelKey: teams,
      state: 'sent',
      claims: 1,
      sentAt: T0,
      messageId: 'm-1',
    });
    // Another channel of the same event, and the same channel of another event, are separate.
    expect(await l.claim('evt-1', email)).toBe('send');
    expect(await l.claim('evt-2', teams)).toBe('send');
    expect((await l.deliveries('evt-1')).map((d) => [d.channelKey, d.state]).sort()).toEqual(
      [
        [email, 'sending'],
        [teams, 'sent'],
      ].sort(),
    );
  });

  it("writes a burst of one event's claims and sends together, telling apart the one that existed", async () => {
    const { log: l } = log();
    const keys = Array.from({ length: 8 }, (_, i) => channelKey('email', `ops${i}@bank-a.example`));
    expect(await l.claim('evt-burst', keys[0]!)).toBe('send');
    await l.markSent('evt-burst', keys[0]!);
    const spy = jest.spyOn(transactions, 'submitTransaction');
    try {
      // Seven new claims and one for a channel sent before: the transaction is refused as a whole and
      // each claim then goes alone, so the seven still win.
      expect(await Promise.all(keys.map((k) => l.claim('evt-burst', k)))).toEqual([
        'already-sent',
        ...keys.slice(1).map(() => 'send'),
      ]);
      spy.mockClear();
      await Promise.all(keys.slice(1).map((k, i) => l.markSent('evt-burst', k, { messageId: `m-${i}` })));
      await Promise.all(keys.slice(1).map((k) => l.recordOutcome(k, true)));
      // One transaction for the seven sends, one for the seven health rows.
      expect(spy.mock.calls.map(([, actions]) => actions.length)).toEqual([7, 7]);
    } finally {
      spy.mockRestore();
    }
    expect((await l.deliveries('evt-burst')).every((d) => d.state === 'sent')).toBe(true);
    expect(await l.record('evt-burst', keys[3]!)).toMatchObject({ messageId: 'm-2', claims: 1 });
    expect(await l.channelHealth(keys[5]!)).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: T0 });
  });

  it('of concurrent claims exactly one gets send', async () => {
    const { log: l } = log();
    const results = await Promise.all(Array.from({ length: 8 }, () => l.claim('evt-c', teams)));
    expect(results.filter((r) => r === 'send')).toHaveLength(1);
    expect(results.filter((r) => r === 'in-flight')).toHaveLength(7);
  });

  it('a claim stuck sending past its lease can be taken over, by exactly one claimant', async () => {
    const { log: l, clock } = log();
    expect(await l.claim('evt-l', teams)).toBe('send');
    // The sender crashed before markSent.
    clock.now = T0 + LEASE - 1;
    expect(await l.claim('evt-l', teams)).toBe('in-flight');
    clock.now = T0 + LEASE + 1;
    const results = await Promise.all(Array.from({ length: 6 }, () => l.claim('evt-l', teams)));
    expect(results.filter((r) => r === 'send')).toHaveLength(1);
    expect(await l.record('evt-l', teams)).toMatchObject({
      state: 'sending',
      claims: 2,
      claimedAt: T0 + LEASE + 1,
      leaseUntil: T0 + 2 * LEASE + 1,
    });
  });

  it('markFailed frees the claim for a retry but never undoes a send', async () => {
    const { log: l } = log();
    expect(await l.claim('evt-f', teams)).toBe('send');
    await l.markFailed('evt-f', teams, 'CHANNEL.UNREACHABLE', 5);
    expect(await l.record('evt-f', teams)).toMatchObject({
      state: 'failed',
      errorCode: 'CHANNEL.UNREACHABLE',
      attempts: 5,
    });
    expect(await l.claim('evt-f', teams)).toBe('send');
    await l.markSent('evt-f', teams);
    // A stale sender reporting failure late does not turn "sent" back.
    await l.markFailed('evt-f', teams, 'CHANNEL.UNAVAILABLE', 3);
    expect((await l.record('evt-f', teams))?.state).toBe('sent');
    expect(await l.claim('evt-f', teams)).toBe('already-sent');
  });

  it('takes any event id, keeping it as given', async () => {
    const { log: l } = log();
    const odd = "request/7552#vote?bank-a's";
    expect(await l.claim(odd, teams)).toBe('send');
    expect(await l.claim("request/7552#vote?bank-b's", teams)).toBe('send');
    await l.markSent(odd, teams);
    expect(await l.claim(odd, teams)).toBe('already-sent');
    expect((await l.record(odd, teams))?.eventId).toBe(odd);
    expect(await l.deliveries(odd)).toHaveLength(1);
  });

  it('refuses a raw address as a channel key', async () => {
    const { log: l } = log();
    await expect(l.claim('evt', 'https://x.example/hook?sig=1')).rejects.toThrow(RangeError);
  });
});

describe('channelKey', () => {
  it('is stable, short, per kind, and carries nothing of the address', () => {
    const url = 'https://prod-1.westeurope.logic.azure.com/workflows/a/triggers/manual?sig=Secret1';
    expect(channelKey('teams', url)).toBe(teams);
    expect(teams).toMatch(/^teams-[0-9a-f]{32}$/);
    expect(teams).not.toContain('Secret1');
    expect(channelKey('teams', url.replace('Secret1', 'Secret2'))).not.toBe(teams);
    expect(channelKey('email', 'ops@bank-a.example')).toBe(email);
    expect(channelKey('teams', 'ops@bank-a.example')).not.toBe(email);
  });
});

describe('NotificationLog channel health', () => {
  it('counts consecutive failures, says once when a channel becomes failing, and resets on a success', async () => {
    const { log: l, clock } = log();
    expect(await l.channelHealth(teams)).toEqual({
      channelKey: teams,
      consecutiveFailures: 0,
      failing: false,
    });
    for (let i = 1; i <= 4; i++) {
      clock.now = T0 + i;
      const r = await l.recordOutcome(teams, false, 'CHANNEL.UNREACHABLE');
      expect(r).toMatchObject({ consecutiveFailures: i, failing: false, becameFailing: false });
    }
    clock.now = T0 + 5;
    expect(await l.recordOutcome(teams, false, 'CHANNEL.DEAD')).toMatchObject({
      consecutiveFailures: 5,
      failing: true,
      becameFailing: true,
      lastErrorCode: 'CHANNEL.DEAD',
      lastFailureAt: T0 + 5,
    });
    expect(await l.recordOutcome(teams, false, 'CHANNEL.DEAD')).toMatchObject({
      failing: true,
      becameFailing: false,
    });
    await l.recordOutcome(email, false, 'CHANNEL.REJECTED');
    expect((await l.failingChannels()).map((h) => h.channelKey)).toEqual([teams]);

    clock.now = T0 + 100;
    expect(await l.recordOutcome(teams, true)).toMatchObject({
      consecutiveFailures: 0,
      failing: false,
      becameFailing: false,
      lastSuccessAt: T0 + 100,
    });
    expect(await l.failingChannels()).toEqual([]);
    expect(await l.channelHealth(teams)).toMatchObject({
      consecutiveFailures: 0,
      failing: false,
      lastErrorCode: 'CHANNEL.DEAD',
      lastFailureAt: T0 + 5,
      lastSuccessAt: T0 + 100,
    });
    // A new spell of failures counts from 0, and says so again when it crosses.
    for (let i = 1; i <= 4; i++) await l.recordOutcome(teams, false, 'CHANNEL.UNREACHABLE');
    expect(await l.recordOutcome(teams, false, 'CHANNEL.UNREACHABLE')).toMatchObject({
      consecutiveFailures: 5,
      becameFailing: true,
    });
    // A success on a channel never seen before writes its row.
    const fresh = channelKey('email', 'new@bank-a.example');
    clock.now = T0 + 200;
    await l.recordOutcome(fresh, true);
    expect(await l.channelHealth(fresh)).toMatchObject({
      consecutiveFailures: 0,
      lastSuccessAt: T0 + 200,
    });
  });

  it('concurrent outcomes all count, and exactly one reports the crossing', async () => {
    const { log: l } = log({ failingThreshold: 3 });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => l.recordOutcome(teams, false, 'CHANNEL.UNAVAILABLE')),
    );
    expect((await l.channelHealth(teams)).consecutiveFailures).toBe(6);
    expect(results.filter((r) => r.becameFailing)).toHaveLength(1);
  });
});
