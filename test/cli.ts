import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './http';

export const CLI = join(REPO_ROOT, 'dist', 'local', 'host', 'cli.js');

/** Starts `npm start`'s program as a user would and waits for it to print its address. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; url: string; out: () => string; tablePort: number }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 20 s:\n${out}`)), 20000);
    child.stdout!.on('data', () => {
      const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const tablePort = Number(/tables on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      if (url && out.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve({ child, url, out: () => out, tablePort });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}:\n${out}`));
    });
  });
}
