import { randomUUID } from 'node:crypto';
import { Arm } from '../azure/arm';
import { verifyChain as verifyAudit } from '../core/audit';
import type { MembershipRequest } from '../core/membership';
import { getRegistry } from './edge/services';
import { cloudHttpClient, LocalCloudCredential, type CloudRequest } from '../local/cloud/http';
import { MONITOR_EXTENSION } from '../orchestrations/scaling';
import { json, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';

/**
 * Scaling end to end on the virtual clock: a member's business-hours window in New York moves its scale
 * set at the window's edges (one capacity write per change, the monitoring agent only on Large), an
 * override wins until it expires, and the load rule goes up and down with hysteresis.
 */
describe('member scaling', () => {
  const MINUTE = 60_000;
  const TZ = 'America/New_York';
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let c: Awaited<ReturnType<typeof testConsortium>>;
  let arm: Arm;
  /** Every write of bank-a's scale set itself (not its extensions), at virtual time. */
  const writes: { at: number; capacity: unknown }[] = [];
  let writesTotal = 0;

  beforeAll(async () => {
    c = await testConsortium({}, ['bank-a', 'bank-b']);
    host = await startTrustNet(c, { schedules: { TRUSTNET_SCALING_SCHEDULE: '0 */5 * * * *' } });
    const emulator = host.cloud.arm as unknown as { handle: (r: CloudRequest) => Promise<unknown> };
    const original = emulator.handle;
    // Accepted writes only: an injected fault answers before anything changes.
    emulator.handle = async (req: CloudRequest) => {
      const at = host.clock.now();
      const answer = (await original(req)) as { status: number };
      if (
        (req.method === 'PATCH' || req.method === 'PUT') &&
        /\/virtualMachineScaleSets\/vmss-bank-a$/i.test(req.url.pathname) &&
        answer.status < 300
      ) {
        writesTotal++;
        writes.push({
          at,
          capacity: (req.json as { sku?: { capacity?: unknown } } | undefined)?.sku?.capacity,
        });
      }
      return answer;
    };
    arm = new Arm({ credential: new LocalCloudCredential(), httpClient: cloudHttpClient(host.cloud.handle) });
  });
  afterAll(() => host.stop());

  const signed = (
    path: string,
    method: string,
    signer: string,
    fields: Record<string, unknown>,
    subject = 'bank-a',
  ) => host.signedAction(`/api/members/${subject}/${path}`, { subject, ...fields }, signer, method);
  const setPolicy = (policy: unknown, signer = 'bank-a') =>
    signed('scaling', 'PUT', signer, { action: 'set-scaling', policy });
  const scaling = async (id = 'bank-a') => (await host.member(id)).scaling as Json;

  /** Moves the virtual clock to `at` (firing every timer on the way). */
  async function advanceTo(at: number) {
    const ms = at - host.clock.now();
    if (ms > 0) await host.advanceClock(`PT${Math.ceil(ms / 1000)}S`);
  }

  /** Waits (real time, generously) until bank-a's scale set runs `profile` as the registry records it. */
  const settled = (profile: string, id = 'bank-a') =>
    host.until(
      `${id} never settled at ${profile}`,
      () => scaling(id),
      (s) => s.current === profile && s.desired === profile,
    );

  const placement = () => ({
    subscriptionId: c.config.members[0]!.azure.subscriptionId,
    resourceGroup: c.config.members[0]!.azure.resourceGroup,
  });

  /** The UTC instant of a wall-clock time in `TZ`, worked out with Intl (independently of core/schedule). */
  function wallToUtc(y: number, m: number, d: number, hour: number): number {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: TZ,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    const want = Date.UTC(y, m, d, hour);
    let t = want;
    for (let i = 0; i < 3; i++) {
      const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, Number(x.value)]));
      const wall = Date.UTC(p['year']!, p['month']! - 1, p['day']!, p['hour']!, p['minute']!);
      t += want - wall;
    }
    return t;
  }

  it('refuses a bad policy with pointers, and another member signing', async () => {
    const bad = await setPolicy({ timeZone: 'Mars/Olympus', defaultProfile: 'Huge', windows: [] });
    expect(bad.status).toBe(400);
    const body = await json(bad);
    const pointers = (body.errors as { pointer: string }[]).map((e) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/policy/timeZone', '/policy/defaultProfile']));

    const other = await setPolicy({ timeZone: 'UTC', defaultProfile: 'Small', windows: [] }, 'bank-b');
    expect(other.status).toBe(403);

    const late = await signed('profile', 'POST', 'bank-a', {
      action: 'set-profile',
      profile: 'Large',
      expiresAt: new Date(host.clock.now() + 40 * 86_400_000).toISOString(),
    });
    expect(late.status).toBe(400);
  });

  it('follows a business-hours window for a simulated week: one write per edge, at the edge', async () => {
    const start = host.clock.now();
    const res = await setPolicy({
      timeZone: TZ,
      defaultProfile: 'Small',
      windows: [
        {
          name: 'business',
          profile: 'Large',
          days: ['mon', 'tue', 'wed', 'thu', 'fri'],
          from: '08:00',
          to: '18:00',
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((await json(res)).nextChange).toMatchObject({ profile: expect.any(String) });

    // The edges in the coming week, worked out independently.
    const edges: { at: number; profile: 'Large' | 'Small' }[] = [];
    const end = start + 7 * 86_400_000;
    for (let day = -1; day <= 8; day++) {
      const d = new Date(start + day * 86_400_000);
      const [y, m, dd] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
      const weekday = new Date(Date.UTC(y, m, dd)).getUTCDay();
      if (weekday === 0 || weekday === 6) continue;
      edges.push(
        { at: wallToUtc(y, m, dd, 8), profile: 'Large' },
        { at: wallToUtc(y, m, dd, 18), profile: 'Small' },
      );
    }
    const inWeek = [...new Map(edges.map((e) => [e.at, e])).values()]
      .filter((e) => e.at > start + 5 * MINUTE && e.at <= end)
      .sort((a, b) => a.at - b.at);
    expect(inWeek.length).toBeGreaterThanOrEqual(8);

    // Wherever the week starts, the first tick puts the member where the schedule says.
    await advanceTo(start + 5 * MINUTE);
    const first = inWeek[0]!.profile === 'Large' ? 'Small' : 'Large';
    await settled(first);
    writes.length = 0;

    for (const edge of inWeek) {
      await advanceTo(edge.at);
      const s = await settled(edge.profile);
      expect(s.source).toBe(edge.profile === 'Large' ? 'schedule' : 'default');
      expect(await arm.hasScaleSetExtension(placement(), 'vmss-bank-a', MONITOR_EXTENSION)).toBe(
        edge.profile === 'Large',
      );
      expect((await arm.getCapacity(placement(), 'vmss-bank-a'))?.capacity).toBe(
        edge.profile === 'Large' ? 15 : 2,
      );
    }
    await advanceTo(end);
    expect(writes).toHaveLength(inWeek.length);
    writes.forEach((w, i) => {
      expect(w.capacity).toBe(inWeek[i]!.profile === 'Large' ? 15 : 2);
      expect(w.at).toBeGreaterThanOrEqual(inWeek[i]!.at);
      expect(w.at).toBeLessThan(inWeek[i]!.at + MINUTE);
    });
    const history = (await scaling()).changedAt;
    expect(typeof history).toBe('string');
    // The virtual clock fires every 5-minute tick of the way; a busy machine needs more than the default.
  }, 120_000);

  it('adds up cost for the member and the consortium, against static Large', async () => {
    const mine = await json(await fetch(`${host.url}/api/members/bank-a/cost`));
    const all = await json(await fetch(`${host.url}/api/cost`));
    expect(all.members).toBe(2);
    const sum = (all.perMember as Json[]).reduce((a, m) => a + m.toDate.cost, 0);
    expect(all.toDate.cost).toBeCloseTo(sum, 6);
    expect(mine.toDate.cost).toBeLessThanOrEqual(mine.staticLarge.toDate.cost);
    expect(mine.projected.cost).toBeGreaterThanOrEqual(mine.toDate.cost);
    expect((await fetch(`${host.url}/api/members/bank-zz/cost`)).status).toBe(404);
  });

  it('applies an override until it expires', async () => {
    // Saturday in New York: the schedule says Small all day.
    let t = host.clock.now() + 86_400_000;
    while (new Date(t - 5 * 3_600_000).getUTCDay() !== 6) t += 3_600_000;
    const sat = new Date(t - 5 * 3_600_000);
    const saturdayNoon = wallToUtc(sat.getUTCFullYear(), sat.getUTCMonth(), sat.getUTCDate(), 12);
    await advanceTo(saturdayNoon);
    await settled('Small');
    writes.length = 0;
    const res = await signed('profile', 'POST', 'bank-a', {
      action: 'set-profile',
      profile: 'Medium',
      expiresAt: new Date(saturdayNoon + 60 * MINUTE).toISOString(),
    });
    expect(res.status).toBe(200);
    await advanceTo(saturdayNoon + 5 * MINUTE);
    expect((await settled('Medium')).source).toBe('override');
    await advanceTo(saturdayNoon + 65 * MINUTE);
    await settled('Small');
    expect(writes.map((w) => w.capacity)).toEqual([7, 2]);
    // The virtual clock fires every 5-minute tick of the way; a busy machine needs more than the default.
  }, 120_000);

  it('scales up after N minutes of high load and down only after M minutes low', async () => {
    const res = await setPolicy({
      timeZone: 'UTC',
      defaultProfile: 'Small',
      windows: [],
      load: {
        metric: 'cpu',
        upAbovePercent: 70,
        upAfterMinutes: 10,
        downBelowPercent: 30,
        downAfterMinutes: 20,
      },
    });
    expect(res.status).toBe(200);
    const tick = () => Math.floor(host.clock.now() / (5 * MINUTE)) * 5 * MINUTE;
    // Steps accumulate: the emulator replaces a metric's series on each POST.
    const steps: { from: number; value: number }[] = [];
    const load = (value: number, from: number) => {
      steps.push({ from, value });
      return fetch(`${host.url}/admin/cloud/metrics`, {
        method: 'POST',
        body: JSON.stringify({ memberId: 'bank-a', metric: 'cpu', series: steps }),
      });
    };
    await advanceTo(tick() + 5 * MINUTE);
    await settled('Small');
    writes.length = 0;

    const high = tick();
    expect((await load(90, high)).status).toBe(204);
    await advanceTo(high + 5 * MINUTE);
    await settled('Small');
    await advanceTo(high + 10 * MINUTE);
    expect((await settled('Medium')).source).toBe('load');

    // Moderate on Medium: no higher, and too busy for Small.
    const moderate = high + 10 * MINUTE;
    await load(40, moderate);
    await advanceTo(moderate + 15 * MINUTE);
    await settled('Medium');

    const quiet = moderate + 15 * MINUTE;
    await load(5, quiet);
    await advanceTo(quiet + 15 * MINUTE);
    await settled('Medium');
    await advanceTo(quiet + 20 * MINUTE);
    await settled('Small');
    expect(writes.map((w) => w.capacity)).toEqual([7, 2]);
  });

  it('leaves a member alone while it is being provisioned', async () => {
    const registry = await getRegistry();
    const requestId = randomUUID();
    await registry.createRequest({
      kind: 'request',
      id: requestId,
      phase: 'provisioning',
      steps: [],
    } as unknown as MembershipRequest);
    await registry.updateMember('bank-b', (m) => ({ ...m, requestId }));
    const start = host.clock.now();
    const res = await signed(
      'profile',
      'POST',
      'bank-b',
      { action: 'set-profile', profile: 'Large', expiresAt: new Date(start + 3 * 3_600_000).toISOString() },
      'bank-b',
    );
    expect(res.status).toBe(200);
    await advanceTo(start + 20 * MINUTE);
    const b = { subscriptionId: c.config.members[1]!.azure.subscriptionId, resourceGroup: 'rg-bank-b' };
    expect((await arm.getCapacity(b, 'vmss-bank-b'))?.capacity).toBe(2);
    expect((await scaling('bank-b')).current).toBe('Small');

    // Provisioning over: the next tick applies the override.
    await registry.updateRequest(requestId, (r) => ({ ...r, phase: 'active' }));
    await advanceTo(host.clock.now() + 5 * MINUTE);
    await settled('Large', 'bank-b');
    expect((await arm.getCapacity(b, 'vmss-bank-b'))?.capacity).toBe(15);
  });

  it('records a change that keeps failing on the member, and makes it on a later tick once Azure recovers', async () => {
    const fault = await host.admin('/admin/cloud/faults', {
      operation: 'arm:virtualMachineScaleSets.patch',
      kind: 'error',
      status: 409,
      code: 'OperationNotAllowed',
      count: 0,
    });
    expect(fault.status).toBe(200);
    const start = host.clock.now();
    const res = await signed('profile', 'POST', 'bank-a', {
      action: 'set-profile',
      profile: 'Medium',
      expiresAt: new Date(start + 3 * 3_600_000).toISOString(),
    });
    expect(res.status).toBe(200);
    let failure: Json = null;
    // Each retry waits on a durable timer, which the virtual clock fires as it moves.
    for (let i = 0; i < 12 && !failure; i++) {
      await advanceTo(host.clock.now() + 5 * MINUTE);
      for (let j = 0; j < 40 && !failure; j++) {
        failure = (await scaling()).failure;
        if (!failure) await new Promise((r) => setTimeout(r, 25));
      }
    }
    expect(failure).toMatchObject({ to: 'Medium', code: 'AZURE.CONFLICT' });
    expect((await scaling()).current).toBe('Small');
    // The operators hear of it (and the member), by email from the outbox.
    const alerted = await host.until(
      'scaling failure email',
      async () =>
        (await host.outbox()).filter(
          (m) => m.kind === 'email' && /Scaling .* to Medium failed/.test(String(m.subject)),
        ),
      (found) => found.length > 0,
    );
    expect(alerted.length).toBeGreaterThanOrEqual(1);

    await host.admin('/admin/cloud/faults', undefined, 'DELETE');
    await advanceTo(host.clock.now() + 5 * MINUTE);
    const s = await settled('Medium');
    expect(s.failure).toBeNull();
  }, 120_000);

  it('audits policies, overrides and changes in a log that verifies', async () => {
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const kinds = (audit.items as Json[]).map((e) => e.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['member.scaling-set', 'member.profile-set', 'member.scaled']),
    );
    const scaled = (audit.items as Json[]).filter(
      (e) => e.kind === 'member.scaled' && e.subject === 'bank-a',
    );
    expect(scaled.length).toBe(writesTotal);
    await expect(verifyAudit(audit.items)).resolves.toMatchObject({ ok: true });

    // The member heard of its changes (scaling.changed: "… moved from Small to Large", by email).
    const mails = await host.until(
      'scaling change email',
      async () =>
        (await host.outbox()).filter(
          (m) =>
            m.kind === 'email' &&
            JSON.stringify(m).includes('ops@bank-a.example') &&
            /moved from|cost profile/i.test(JSON.stringify(m)),
        ),
      (found) => found.length > 0,
    );
    expect(mails.length).toBeGreaterThan(0);
  });
});
