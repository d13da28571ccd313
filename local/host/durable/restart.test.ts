import type { ChildProcess } from 'node:child_process';
import { startCli as startUserCli } from '../../../test/cli';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, json, REPO_ROOT, startTestHost, type Json } from '../../../test/http';
import { DurableStore } from './store';

const work = join(REPO_ROOT, '.trustnet', 'test');

describe('local host: a SIGKILLed host resumes its orchestrations', () => {
  it('finishes the work after a restart, never re-running an activity whose completion was recorded', async () => {
    mkdirSync(work, { recursive: true });
    const runLog = join(work, `runs-${Date.now()}.log`);
    const env = { FIXTURE_HUB: `Restart${Date.now()}`, FIXTURE_RUN_LOG: runLog };
    const first = await startUserCli(['--port', '0', '--app', join(FIXTURES, 'durable-app')], env);
    let second: ChildProcess | undefined;
    try {
      const started = await json(
        await fetch(`${first.url}/api/orchestrators/loggedSequence`, { method: 'POST' }),
      );
      const statusPath = `/runtime/webhooks/durabletask/instances/${started.id}?showHistory=true`;
      // Let a few activities complete, then kill the host without warning.
      for (
        let i = 0;
        i < 200 && (!existsSync(runLog) || readFileSync(runLog, 'utf8').split('\n').length < 3);
        i++
      )
        await new Promise((r) => setTimeout(r, 20));
      const before: Json = await json(await fetch(`${first.url}${statusPath}`));
      first.child.kill('SIGKILL');
      const recorded = (before.historyEvents as Json[]).filter((e) => e.EventType === 'TaskCompleted').length;
      expect(recorded).toBeGreaterThanOrEqual(1);

      const restarted = await startUserCli(['--port', '0', '--app', join(FIXTURES, 'durable-app')], env);
      second = restarted.child;
      let done: Json;
      for (let i = 0; ; i++) {
        done = await json(await fetch(`${restarted.url}${statusPath}`));
        if (done.runtimeStatus === 'Completed') break;
        if (i > 400) throw new Error(`not completed: ${JSON.stringify(done)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(done.output).toEqual(['step-0', 'step-1', 'step-2', 'step-3', 'step-4', 'step-5']);
      const runs = readFileSync(runLog, 'utf8').trim().split('\n');
      const count = (step: string) => runs.filter((r) => r === step).length;
      // Activities whose completion was in history before the kill ran exactly once.
      for (let i = 0; i < recorded; i++) expect(count(`step-${i}`)).toBe(1);
      // Every step ran; at most the one interrupted mid-run ran twice.
      for (let i = 0; i < 6; i++) expect(count(`step-${i}`)).toBeGreaterThanOrEqual(1);
      expect(runs.length).toBeLessThanOrEqual(7);
    } finally {
      first.child.kill('SIGKILL');
      second?.kill('SIGKILL');
      rmSync(runLog, { force: true });
    }
  });
});

describe('local host: work a host finished but did not report before it died', () => {
  const hub = `Orphan${Date.now()}`;
  const appDir = join(FIXTURES, 'durable-app');

  it("reports a sub-orchestration's completion to its parent after a restart", async () => {
    process.env['FIXTURE_HUB'] = hub;
    const first = await startTestHost({ appDir, loadLocalSettings: false });
    const status = async (url: string, id: string): Promise<Json> =>
      json(await fetch(`${url}/runtime/webhooks/durabletask/instances/${id}`));
    const started = await json(
      await fetch(`${first.url}/api/orchestrators/parentOfWaiter/orphan`, { method: 'POST' }),
    );
    expect(started.id).toBe('orphan');
    for (let i = 0; (await status(first.url, 'orphan-child')).runtimeStatus !== 'Running'; i++) {
      if (i > 400)
        throw new Error(
          `the child never started: ${JSON.stringify(await status(first.url, 'orphan-child'))}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
    await first.stop();

    // The child's last episode committed, and the host died before it told the parent.
    const store = new DurableStore(process.env['AzureWebJobsStorage']!, hub);
    const child = (await store.load('orphan-child'))!;
    const from = child.history.length;
    const now = new Date().toISOString();
    child.history.push({ EventType: 1, EventId: -1, IsPlayed: false, Timestamp: now, Result: '"done"' });
    child.state.status = 'Completed';
    child.state.output = '"done"';
    child.state.historyLength = child.history.length;
    await store.commit(child.state, child.history, from, child.inbox);

    const second = await startTestHost({ appDir, loadLocalSettings: false });
    try {
      let done: Json;
      for (let i = 0; (done = await status(second.url, 'orphan')).runtimeStatus !== 'Completed'; i++) {
        if (i > 400) throw new Error(`the parent never heard: ${JSON.stringify(done)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(done.output).toBe('done');
    } finally {
      await second.stop();
    }
  });
});
