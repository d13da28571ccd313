import { spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, startCli } from '../../test/cli';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { FIXTURES, json, REPO_ROOT } from '../../test/http';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );
}

describe('npm start (the local host CLI)', () => {
  const work = join(REPO_ROOT, '.trustnet', 'test');
  beforeAll(() => mkdirSync(work, { recursive: true }));

  it('starts Azurite and TrustNet, prints the routes, and stops everything within 5 s of SIGTERM', async () => {
    const dataDir = mkdtempSync(join(work, 'data-'));
    const { child, url, out, tablePort } = await startCli(['--port', '0', '--data-dir', dataDir], {
      AzureWebJobsStorage: '',
    });
    try {
      expect(out()).toContain(`health: [GET] ${url}/api/health`);
      const health = await json(await fetch(`${url}/api/health`));
      expect(health).toMatchObject({
        status: 'ok',
        backends: {
          host: 'trustnet-local-host',
          clock: 'system',
          storage: { kind: 'azurite', reachable: true },
        },
      });
      expect(existsSync(join(dataDir, 'azurite'))).toBe(true);
      // Without TRUSTNET_CONSORTIUM_FILE, a sample consortium of three founders with their keys.
      expect(out()).toContain('Consortium: TrustNet Local (sample, local use only)');
      const keyFile = join(dataDir, 'consortium', 'keys', 'bank-a.private.jwk.json');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const members = await json(await fetch(`${url}/api/members`));
      expect(members.items.map((m: { id: string; status: string }) => `${m.id}:${m.status}`)).toEqual([
        'bank-a:ACTIVE',
        'bank-b:ACTIVE',
        'bank-c:ACTIVE',
      ]);
      expect(await portOpen(tablePort)).toBe(true);
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await portOpen(tablePort)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('runs another app with --app, taking settings from its local.settings.json with the environment winning', async () => {
    const appDir = mkdtempSync(join(work, 'app-'));
    cpSync(join(FIXTURES, 'timer-app'), appDir, { recursive: true });
    writeFileSync(
      join(appDir, 'local.settings.json'),
      JSON.stringify({
        IsEncrypted: false,
        Values: { FIXTURE_SCHEDULE: '0 0 * * * *', FROM_FILE: 'file', BOTH: 'file' },
      }),
    );
    const { child, url, out } = await startCli(
      ['--port', '0', '--app', appDir, '--data-dir', join(appDir, 'data'), '--virtual-clock'],
      { BOTH: 'env' },
    );
    try {
      expect(out()).toContain('everyFiveMinutes: timer "0 0 * * * *"');
      expect(out()).toContain('(clock: virtual)');
      expect(await json(await fetch(`${url}/api/env/FROM_FILE`))).toEqual({ value: 'file' });
      expect(await json(await fetch(`${url}/api/env/BOTH`))).toEqual({ value: 'env' });
      const clock = await fetch(`${url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT2H"}' });
      const { fired } = await json(clock);
      expect(
        fired.filter((f: { functionName: string }) => f.functionName === 'everyFiveMinutes'),
      ).toHaveLength(2);
      child.kill('SIGINT');
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(appDir, { recursive: true, force: true });
    }
  });

  it('explains bad flags and a missing app in one message, with a non-zero exit', () => {
    const bad = spawnSync(process.execPath, [CLI, '--port', 'seventy'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--port must be a whole number from 0 to 65535; got "seventy"');
    const unknown = spawnSync(process.execPath, [CLI, '--colour'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--colour'/);
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--virtual-clock');
    const missing = spawnSync(process.execPath, [CLI, '--app', join(work, 'no-such-app'), '--port', '0'], {
      encoding: 'utf8',
      env: { ...process.env, AzureWebJobsStorage: 'UseDevelopmentStorage=true' },
      timeout: 20000,
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('host.json not found');
  });
});
