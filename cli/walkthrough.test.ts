import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { startCli } from '../test/cli';
import { REPO_ROOT } from '../test/http';

const run = promisify(execFile);
const TRUSTNET = join(REPO_ROOT, 'dist', 'cli', 'trustnet.js');

/** The README's walkthrough, command for command, with the CLI spawned as a user runs it. */
describe('README walkthrough', () => {
  it('a fourth bank generates keys, applies, two founders approve, onboarding runs to active, the audit verifies', async () => {
    // A fresh clone has no .trustnet/ yet.
    mkdirSync(join(REPO_ROOT, '.trustnet', 'test'), { recursive: true });
    const work = mkdtempSync(join(REPO_ROOT, '.trustnet', 'test', 'walk-'));
    const host = await startCli(['--port', '0', '--data-dir', join(work, 'data')], {
      TRUSTNET_TASK_HUB: `W${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      TRUSTNET_CONSORTIUM_FILE: '',
      // The local cloud without modelled latency: the walkthrough is about the steps, not the wait.
      TRUSTNET_LOCAL_CLOUD_LATENCY: '0',
    });
    const trustnet = async (...args: string[]) => {
      try {
        const { stdout } = await run(
          process.execPath,
          [TRUSTNET, '--url', host.url, '--data-dir', join(work, 'data'), ...args],
          { cwd: work },
        );
        return { code: 0, stdout };
      } catch (e) {
        const err = e as { code: number; stdout: string; stderr: string };
        return { code: err.code, stdout: err.stdout, stderr: err.stderr };
      }
    };
    try {
      const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
      const applicant = /<<'JSON'\n([\s\S]*?)\nJSON/.exec(readme)?.[1];
      expect(applicant).toBeDefined();
      writeFileSync(join(work, 'bank-d.json'), applicant!);
      // The README's curl: the bank's resource group, delegated, in the local cloud.
      const rg = /curl -X POST localhost:7071(\/admin\/cloud\/resource-groups) -d '([^']*)'/.exec(readme);
      expect(rg).not.toBeNull();
      const prepared = await fetch(`${host.url}${rg![1]}`, {
        method: 'POST',
        body: rg![2]!.replace(/\n\s*/g, ' '),
      });
      expect(prepared.status).toBe(201);

      expect((await trustnet('keys', 'generate', '--out', 'keys', '--name', 'bank-d')).code).toBe(0);
      const submitted = await trustnet(
        'request',
        'bank-d.json',
        '--key',
        'keys/bank-d.private.jwk.json',
        '--consortium',
        'TrustNet Local',
      );
      expect(submitted.code).toBe(0);
      const id = /request ([0-9a-f-]{36}) submitted for bank-d/.exec(submitted.stdout)?.[1];
      expect(id).toBeDefined();
      expect(
        (await trustnet('vote', id!, 'approve', '--reason', 'KYC complete', '--as', 'bank-a')).stdout,
      ).toContain('1/3 approve, 0 reject, 2 required');
      expect(
        (
          await trustnet(
            'vote',
            id!,
            'approve',
            '--reason',
            'Reviewed by our risk committee',
            '--as',
            'bank-b',
          )
        ).code,
      ).toBe(0);
      const watched = await trustnet('status', id!, '--watch', '--interval', '200');
      expect(watched.code).toBe(0);
      expect(watched.stdout).toMatch(/phase:\s+active/);
      expect((await fetch(`${host.url}/admin/cloud/resources`)).status).toBe(200);
      expect((await trustnet('members')).stdout).toMatch(/bank-a\s+ACTIVE\s+O=Bank A, L=London, C=GB/);
      expect((await trustnet('members')).stdout).toMatch(/bank-d\s+ACTIVE\s+O=Bank D, L=Madrid, C=ES/);
      expect((await trustnet('audit', 'verify')).stdout).toMatch(/^audit log verified: 12 entries/m);
      const late = await trustnet('vote', id!, 'approve', '--reason', 'late', '--as', 'bank-c');
      expect(late.code).toBe(1);
      expect(late.stderr).toContain('trustnet: 409 VOTE.CLOSED');
    } finally {
      host.child.kill('SIGTERM');
      rmSync(work, { recursive: true, force: true });
    }
  }, 90000);
});
