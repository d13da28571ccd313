import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { FIXTURES, json, startTestHost } from '../../test/http';
import { HostStartError } from './errors';

interface Call {
  name: string;
  at: string;
  functionName: string;
  timer: {
    isPastDue: boolean;
    schedule: { adjustForDST: boolean };
    scheduleStatus: { last: string; next: string; lastUpdated: string } | null;
  };
}
const calls = (): Call[] => ((globalThis as unknown as { __timerCalls?: Call[] }).__timerCalls ??= []);
const named = (name: string) => calls().filter((c) => c.name === name);
const timerApp = join(FIXTURES, 'timer-app');
const FIVE_MIN = 5 * 60 * 1000;

describe('local host: timer triggers', () => {
  beforeEach(() => {
    calls().length = 0;
    process.env['FIXTURE_SCHEDULE'] = '0 */5 * * * *';
  });

  it('refuses to start when a %SETTING% schedule names a missing setting, naming it', async () => {
    await expect(
      startTestHost({ appDir: join(FIXTURES, 'missing-setting-app'), loadLocalSettings: false }),
    ).rejects.toThrow(
      new HostStartError(
        'Timer function "needsSetting" schedule uses %FIXTURE_NOT_SET_ANYWHERE%, but app setting FIXTURE_NOT_SET_ANYWHERE is not set.',
      ),
    );
  });

  it('runs runOnStartup timers once at start, and fires every occurrence in order as the virtual clock moves', async () => {
    const host = await startTestHost({ appDir: timerApp, loadLocalSettings: false, virtualClock: true });
    try {
      expect(named('onStartup')).toHaveLength(1);
      expect(named('onStartup')[0]!.timer.isPastDue).toBe(false);
      calls().length = 0;

      const before = Date.parse((await json(await fetch(`${host.url}/admin/host/clock`))).now);
      const res = await fetch(`${host.url}/admin/host/clock`, {
        method: 'POST',
        body: JSON.stringify({ advance: 'P1D' }),
      });
      expect(res.status).toBe(200);
      const moved = await json(res);
      const after = Date.parse(moved.now);
      expect(after - before).toBeGreaterThanOrEqual(24 * 3600e3);
      expect(after - before).toBeLessThan(24 * 3600e3 + 5000);

      // Every five-minute boundary in (before, before + 1 day], each run seeing the clock at its own instant.
      const fives = named('everyFiveMinutes');
      const first = Math.floor(before / FIVE_MIN) * FIVE_MIN + FIVE_MIN;
      expect(fives).toHaveLength(288);
      fives.forEach((c, i) => expect(c.at).toBe(new Date(first + i * FIVE_MIN).toISOString()));
      expect(fives[1]!.timer.scheduleStatus!.last).toBe(fives[0]!.at);
      expect(fives[0]!.timer.scheduleStatus!.next).toBe(fives[1]!.at);
      expect(fives[0]!.timer.schedule.adjustForDST).toBe(true);

      const nine = named('dailyAtNine');
      expect(nine).toHaveLength(1);
      expect(nine[0]!.at).toMatch(/T09:00:00\.000Z$/);
      // The host reported them in firing order, and the app saw the same instants.
      const reported = moved.fired.filter((f: { functionName: string }) => f.functionName !== 'onStartup');
      expect(reported.map((f: { scheduledFor: string }) => f.scheduledFor)).toEqual(calls().map((c) => c.at));
      const sorted = [...reported].sort((a, b) => Date.parse(a.scheduledFor) - Date.parse(b.scheduledFor));
      expect(reported).toEqual(sorted);

      // The Date header follows the virtual clock too.
      const ping = await fetch(`${host.url}/api/ping`);
      expect(Math.abs(Date.parse(ping.headers.get('date')!) - after)).toBeLessThan(2000);
    } finally {
      await host.stop();
    }
  });

  it('answers bad clock requests with 400 problem+json and changes nothing', async () => {
    const host = await startTestHost({ appDir: timerApp, loadLocalSettings: false, virtualClock: true });
    try {
      const now = host.clock.now();
      for (const body of [
        '{"advance":"eight days"}',
        '{}',
        '{"advance":"P0D"}',
        'not json',
        '{"advance":5}',
      ]) {
        const res = await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect((await json(res)).code).toBe('HOST.CLOCK_BAD_REQUEST');
      }
      expect(host.clock.now() - now).toBeLessThan(2000);
      expect((await fetch(`${host.url}/admin/host/clock`, { method: 'PUT' })).status).toBe(405);
    } finally {
      await host.stop();
    }
  });

  it('runs a timer on demand through the admin API', async () => {
    const host = await startTestHost({ appDir: timerApp, loadLocalSettings: false });
    try {
      const res = await fetch(`${host.url}/admin/functions/dailyAtNine`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(202);
      expect(named('dailyAtNine')).toHaveLength(1);
      expect((await fetch(`${host.url}/admin/functions/nope`, { method: 'POST' })).status).toBe(404);
    } finally {
      await host.stop();
    }
  });

  it('keeps schedule status in storage and fires a missed occurrence at restart with isPastDue', async () => {
    const first = await startTestHost({ appDir: timerApp, loadLocalSettings: false });
    await first.stop();
    const table = TableClient.fromConnectionString(
      process.env['AzureWebJobsStorage']!,
      'TrustNetHostTimers',
      { allowInsecureConnection: true },
    );
    const row = await table.getEntity<{ next: string }>('fixturetimerapp', 'dailyAtNine');
    expect(Date.parse(row.next)).toBeGreaterThan(Date.now());
    // As if the host had been down over the 09:00 run.
    const missed = new Date(Date.now() - 3600e3).toISOString();
    await table.upsertEntity(
      { partitionKey: 'fixturetimerapp', rowKey: 'dailyAtNine', next: missed, lastUpdated: missed },
      'Replace',
    );
    calls().length = 0;

    const second = await startTestHost({ appDir: timerApp, loadLocalSettings: false });
    try {
      const nine = named('dailyAtNine');
      expect(nine).toHaveLength(1);
      expect(nine[0]!.timer.isPastDue).toBe(true);
      const after = await table.getEntity<{ next: string; last: string }>('fixturetimerapp', 'dailyAtNine');
      expect(after.last).toBe(missed);
      expect(after.next).toMatch(/T09:00:00\.000Z$/);
    } finally {
      await second.stop();
    }
  });
});
