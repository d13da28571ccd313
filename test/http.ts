import { join } from 'node:path';
import { startHost, type HostOptions, type RunningHost } from '../local/host/host';
import { consoleLogger, memoryLogger } from '../local/host/logger';

export const FIXTURES = join(__dirname, 'fixtures');
export const REPO_ROOT = join(__dirname, '..');

/** Starts a host in this process on a free port, with its log kept in memory. */
export async function startTestHost(
  options: Partial<HostOptions> & { appDir: string },
): Promise<RunningHost & { logs: ReturnType<typeof memoryLogger> }> {
  const logs = memoryLogger();
  // SHOW_HOST_LOG=1 npx jest … prints the host's warnings and errors while debugging a test.
  if (process.env['SHOW_HOST_LOG']) {
    const print = consoleLogger('warning');
    const keep = logs;
    const both = Object.assign((r: Parameters<typeof keep>[0]) => (keep(r), print(r)), {
      records: keep.records,
    });
    const host = await startHost({ port: 0, logger: both, ...options });
    return Object.assign(host, { logs: both });
  }
  const host = await startHost({ port: 0, logger: logs, ...options });
  return Object.assign(host, { logs });
}

/** Response bodies in tests are asserted on, not typed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
export const json = (res: Response): Promise<Json> => res.json() as Promise<Json>;
