import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { startCli } from '../test/cli';
import { REPO_ROOT } from '../test/http';

const run = promisify(execFile);
const TRUSTNET = join(REPO_ROOT, 'dist', 'cli', 'trustnet.js');

/** The README's walkthrough, command for command, with the CLI spawned as a user runs it. */
describe('README walkthrough', () => {
  it('a fourth bank generates keys, applies, two founders approve, status shows approved, the audit verifies', async () => {
    const work = mkdtempSync(join(REPO_ROOT, '.trustnet', 'test', 'walk-'));
    const host = await startCli(['--port', '0', '--data-dir', join(work, 'data')], {
      TRUSTNET_TASK_HUB: `W${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      TRUSTNET_CONSORTIUM_FILE: '',
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
      expect(watched.stdout).toMatch(/phase:\s+approved/);
      expect((await trustnet('members')).stdout).toMatch(/bank-a\s+ACTIVE\s+O=Bank A, L=London, C=GB/);
      expect((await trustnet('audit', 'verify')).stdout).toMatch(/^audit log verified: 7 entries/m);
      const late = await trustnet('vote', id!, 'approve', '--reason', 'late', '--as', 'bank-c');
      expect(late.code).toBe(1);
      expect(late.stderr).toContain('trustnet: 409 VOTE.CLOSED');
    } finally {
      host.child.kill('SIGTERM');
      rmSync(work, { recursive: true, force: true });
    }
  });
});
