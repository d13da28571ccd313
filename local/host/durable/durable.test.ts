import { join } from 'node:path';
import { FIXTURES, json, startTestHost, type Json } from '../../../test/http';
import type { RunningHost } from '../host';

const runs = () =>
  (globalThis as unknown as { __durable: { runs: Record<string, number>; flaky: number } }).__durable;

describe('local host: Durable Functions through the library and the real DurableClient', () => {
  let host: RunningHost;
  beforeAll(async () => {
    process.env['FIXTURE_HUB'] = `Hub${Date.now()}`;
    host = await startTestHost({
      appDir: join(FIXTURES, 'durable-app'),
      loadLocalSettings: false,
      virtualClock: true,
    });
  });
  afterAll(async () => {
    await host.stop();
    if (process.env['SHOW_HOST_LOG'])
      console.log(
        (host as unknown as { logs: { records: { message: string }[] } }).logs.records
          .map((r) => r.message)
          .join('\n'),
      );
  });

  async function start(
    name: string,
    input?: unknown,
    id?: string,
  ): Promise<{ id: string; statusQueryGetUri: string }> {
    const res = await fetch(`${host.url}/api/orchestrators/${name}${id ? `/${id}` : ''}`, {
      method: 'POST',
      body: input === undefined ? '' : JSON.stringify(input),
    });
    expect(res.status).toBe(202);
    return json(res);
  }

  async function status(id: string): Promise<Json> {
    return json(await fetch(`${host.url}/api/ops/status/${encodeURIComponent(id)}`));
  }

  async function waitFor(
    id: string,
    statuses = ['Completed', 'Failed', 'Terminated'],
    timeoutMs = 15000,
  ): Promise<Json> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await status(id);
      if (statuses.includes(s.runtimeStatus)) return s;
      if (Date.now() > until) throw new Error(`instance ${id} is ${s.runtimeStatus}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('runs an activity sequence and answers the check-status URLs', async () => {
    const started = await start('helloSequence');
    expect(started.statusQueryGetUri).toContain(`/runtime/webhooks/durabletask/instances/${started.id}`);
    // The host says where it answers, as Core Tools does: the durable client then keeps its URLs (without
    // WEBSITE_HOSTNAME it rewrites them to localhost:7071 on every getClient, whatever the port).
    expect(process.env['WEBSITE_HOSTNAME']).toBe(new URL(host.url).host);
    expect(new URL(started.statusQueryGetUri).host).toBe(new URL(host.url).host);
    const done = await waitFor(started.id);
    expect(done).toMatchObject({
      runtimeStatus: 'Completed',
      output: ['Hello Tokyo', 'Hello Seattle', 'Hello London'],
    });
    const raw = await fetch(started.statusQueryGetUri);
    expect(raw.status).toBe(200);
    const types = done.history.map((e: Json) => e.EventType);
    expect(types.filter((t: string) => t === 'TaskCompleted')).toHaveLength(3);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionCompleted');
  });

  it("commits an activity's result with the episode that takes it, writing no inbox row for it", async () => {
    const store = host.durable.store;
    const appended = jest.spyOn(store, 'appendInbox');
    const commits = jest.spyOn(store, 'commit');
    let done: Json;
    let id: string;
    let appends: unknown[][];
    let commitCalls: unknown[][];
    try {
      id = (await start('helloSequence')).id;
      done = await waitFor(id);
    } finally {
      // Copied first: restoring a spy clears its calls.
      appends = [...appended.mock.calls];
      commitCalls = [...commits.mock.calls];
      appended.mockRestore();
      commits.mockRestore();
    }
    expect(done.output).toEqual(['Hello Tokyo', 'Hello Seattle', 'Hello London']);
    const mine = (calls: unknown[][]) =>
      calls.filter((c) => c[0] === id || (c[0] as { instanceId?: string }).instanceId === id);
    expect(mine(appends)).toEqual([]);
    // The start, the first episode, then one episode per result; each result is written only there.
    expect(mine(commitCalls)).toHaveLength(5);
    // A restart finds no result waiting and no inbox row: what it would redo is in the open tasks only.
    const stored = await store.load(id);
    expect(stored?.inbox).toEqual([]);
    expect(stored?.state.status).toBe('Completed');
  });

  it('serves the samples client helpers: df.app.client.http and df.app.client.timer', async () => {
    const res = await fetch(`${host.url}/api/sample/helloSequence`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(res.headers.get('location')).toBe(body.statusQueryGetUri);
    expect((await waitFor(body.id)).output).toEqual(['Hello Tokyo', 'Hello Seattle', 'Hello London']);
    expect((await fetch(`${host.url}/admin/functions/nightlyStarter`, { method: 'POST' })).status).toBe(202);
    const list: Json[] = await json(
      await fetch(`${host.url}/runtime/webhooks/durabletask/instances/?instanceIdPrefix=nightly-`),
    );
    expect(list).toHaveLength(1);
    expect((await waitFor(list[0].instanceId)).runtimeStatus).toBe('Completed');
  });

  it('runs at most maxConcurrentActivityFunctions (host.json: 4) activities at once', async () => {
    const d = runs() as unknown as { maxInFlight?: number };
    d.maxInFlight = 0;
    const { id } = await start('trackedFanOut');
    expect((await waitFor(id)).output).toBe(12);
    expect(d.maxInFlight).toBe(4);
  });

  it('fans out and in with Task.all', async () => {
    const { id } = await start('fanOut', 20);
    expect((await waitFor(id)).output).toBe(420);
  });

  it('retries an activity with its retry options, on durable timers', async () => {
    runs().flaky = 0;
    const { id } = await start('withRetry', { okAfter: 3, attempts: 5 });
    await new Promise((r) => setTimeout(r, 200));
    // Retry waits are durable timers on the (virtual) host clock.
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT1M"}' });
    const done = await waitFor(id);
    expect(done.output).toBe('ok after 3');
    const types = done.history.map((e: Json) => e.EventType);
    expect(types.filter((t: string) => t === 'TaskFailed')).toHaveLength(2);
    expect(types.filter((t: string) => t === 'TimerFired')).toHaveLength(2);

    runs().flaky = 0;
    const gaveUp = await start('withRetry', { okAfter: 10, attempts: 2 });
    await new Promise((r) => setTimeout(r, 200));
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT1M"}' });
    expect((await waitFor(gaveUp.id)).output).toMatch(/^gave up: .*flaky attempt 2/);
  });

  it('surfaces an orchestration failure with the activity message', async () => {
    const { id } = await start('failing');
    const done = await waitFor(id);
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.output).toContain('failed on purpose: because');
  });

  it('races an external event against a 30-day timer: the event wins', async () => {
    const { id } = await start('approval', { days: 30 });
    const waiting = await waitFor(id, ['Running']);
    expect(waiting.customStatus).toEqual({ stage: 'waiting', days: 30 });
    await fetch(`${host.url}/api/ops/raise/${id}`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Vote', data: 'approve' }),
    });
    const done = await waitFor(id);
    expect(done.output.decision).toBe('approve');
    expect(done.customStatus).toEqual({ stage: 'decided' });
  });

  it('fires a 30-day timer, split by the library into legs, when the virtual clock passes it', async () => {
    const { id } = await start('approval', { days: 30 });
    const started = await waitFor(id, ['Running']);
    const t0 = Date.parse(started.createdTime);
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P29D"}' });
    expect((await status(id)).runtimeStatus).toBe('Running');
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P2D"}' });
    const done = await waitFor(id);
    expect(done.output.decision).toBe('expired');
    expect(Date.parse(done.output.at) - t0).toBeGreaterThanOrEqual(30 * 24 * 3600e3);
    const legs = done.history.filter((e: Json) => e.EventType === 'TimerFired');
    expect(legs.length).toBeGreaterThan(1);
  });

  it('keeps an event raised before the orchestrator waits for it', async () => {
    const { id } = await start('eventEarly');
    await waitFor(id, ['Running']);
    await fetch(`${host.url}/api/ops/raise/${id}`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Go', data: { early: true } }),
    });
    expect((await waitFor(id)).output).toEqual({ early: true });
  });

  it('runs sub-orchestrations, with and without an instance id', async () => {
    const { id } = await start('parent');
    const done = await waitFor(id);
    expect(done.output).toEqual({ a: ['Hello Tokyo', 'Hello Seattle', 'Hello London'], b: 12 });
    expect((await status(`${id}-child`)).runtimeStatus).toBe('Completed');
  });

  it('continues as new until done', async () => {
    const { id } = await start('counter', 0);
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 3; i++) {
      await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT2S"}' });
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = await waitFor(id);
    expect(done.output).toBe(3);
  });

  it('terminates, suspends and resumes, with the API status codes', async () => {
    const { id } = await start('waitForever');
    await waitFor(id, ['Running']);
    await fetch(`${host.url}/api/ops/suspend/${id}`, { method: 'POST' });
    await waitFor(id, ['Suspended']);
    await fetch(`${host.url}/api/ops/raise/${id}`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Never', data: 1 }),
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await status(id)).runtimeStatus).toBe('Suspended');
    await fetch(`${host.url}/api/ops/resume/${id}`, { method: 'POST' });
    expect((await waitFor(id)).output).toBe(1);

    const other = await start('waitForever');
    await waitFor(other.id, ['Running']);
    await fetch(`${host.url}/api/ops/terminate/${other.id}`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'enough' }),
    });
    const terminated = await waitFor(other.id);
    expect(terminated).toMatchObject({ runtimeStatus: 'Terminated', output: 'enough' });
    const base = `${host.url}/runtime/webhooks/durabletask`;
    expect(
      (await fetch(`${base}/instances/${other.id}/raiseEvent/Never`, { method: 'POST', body: '1' })).status,
    ).toBe(410);
    expect((await fetch(`${base}/instances/${other.id}/terminate?reason=x`, { method: 'POST' })).status).toBe(
      410,
    );
  });

  it('starts an instance id afresh the moment its terminated run shows Terminated', async () => {
    // The terminated state shows before its commit lands (held back here): a start must wait for that
    // commit, not list the instance's rows under it and purge rows the commit is deleting.
    const id = `restart-${Date.now()}`;
    await start('waitForever', undefined, id);
    await waitFor(id, ['Running']);
    const store = host.durable.store;
    const commit = store.commit.bind(store);
    const purge = store.purge.bind(store);
    const order: string[] = [];
    const spy = jest.spyOn(store, 'commit').mockImplementation(async (state, ...rest) => {
      if (state.instanceId !== id || state.status !== 'Terminated') return commit(state, ...rest);
      await new Promise((r) => setTimeout(r, 300));
      await commit(state, ...rest);
      order.push('terminated run committed');
    });
    const purgeSpy = jest.spyOn(store, 'purge').mockImplementation(async (instanceId) => {
      if (instanceId === id) order.push('purge');
      return purge(instanceId);
    });
    try {
      await fetch(`${host.url}/api/ops/terminate/${id}`, { method: 'POST', body: '{"reason":"again"}' });
      while ((await host.durable.getState(id))?.state.status !== 'Terminated')
        await new Promise((r) => setTimeout(r, 5));
      await host.durable.startNew('waitForever', id, undefined);
    } finally {
      spy.mockRestore();
      purgeSpy.mockRestore();
    }
    expect(order).toEqual(['terminated run committed', 'purge']);
    await waitFor(id, ['Running']);
    await fetch(`${host.url}/api/ops/raise/${id}`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Never', data: 'second run' }),
    });
    expect(await waitFor(id)).toMatchObject({ runtimeStatus: 'Completed', output: 'second run' });
    // What a restarted host would find: the second run, finished, not the first run's late commit.
    const stored = await host.durable.store.load(id);
    expect(stored?.state).toMatchObject({ status: 'Completed', output: JSON.stringify('second run') });
  });

  it('refuses a second start of a running instance id with 409, and unknown ids with 404', async () => {
    await start('waitForever', undefined, 'fixed-id-1');
    const base = `${host.url}/runtime/webhooks/durabletask`;
    expect((await fetch(`${base}/orchestrators/waitForever/fixed-id-1`, { method: 'POST' })).status).toBe(
      409,
    );
    expect((await fetch(`${base}/orchestrators/noSuchOrchestrator`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${base}/instances/nope`)).status).toBe(404);
    expect((await fetch(`${base}/instances/nope/raiseEvent/X`, { method: 'POST', body: '1' })).status).toBe(
      404,
    );
    expect((await fetch(`${base}/instances/nope/terminate`, { method: 'POST' })).status).toBe(404);
    expect(
      (await fetch(`${base}/instances/fixed-id-1/raiseEvent/X`, { method: 'POST', body: '{bad' })).status,
    ).toBe(400);
  });

  it('lists by status with continuation, and purges finished instances', async () => {
    const base = `${host.url}/runtime/webhooks/durabletask`;
    const page = await fetch(`${base}/instances/?runtimeStatus=Completed&top=2`);
    expect(page.status).toBe(200);
    expect(await json(page)).toHaveLength(2);
    expect(page.headers.get('x-ms-continuation-token')).toBeTruthy();
    const future = new Date(host.clock.now() + 3600e3).toISOString();
    expect(await json(await fetch(`${base}/instances/?createdTimeFrom=${future}`))).toEqual([]);
    expect((await fetch(`${base}/instances/?createdTimeFrom=yesterday`)).status).toBe(400);
    const all: Json[] = await json(
      await fetch(`${host.url}/api/ops/list/x`, {
        method: 'POST',
        body: JSON.stringify({ runtimeStatus: ['Completed'] }),
      }),
    );
    expect(all.length).toBeGreaterThan(5);
    expect(all.every((s) => s.runtimeStatus === 'Completed')).toBe(true);
    const { id } = await start('helloSequence');
    await waitFor(id);
    expect(
      (await json(await fetch(`${host.url}/api/ops/purge/${id}`, { method: 'POST' }))).instancesDeleted,
    ).toBe(1);
    expect((await fetch(`${base}/instances/${id}`)).status).toBe(404);
  });
});
