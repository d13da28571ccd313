import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** Azurite's published development account (the same in every install; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Folder for Azurite's data; omitted means in memory. */
  location?: string;
  /** Ports for blob, queue, table; 0 or omitted picks free ones. */
  ports?: { blob?: number; queue?: number; table?: number };
  /** Azurite's debug log file, when wanted. */
  debugLog?: string;
}

export interface RunningAzurite {
  connectionString: string;
  ports: { blob: number; queue: number; table: number };
  pid: number | undefined;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null)
        return reject(new Error(`Azurite exited (code ${child.exitCode}) before listening on port ${port}.`));
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`Azurite did not listen on port ${port} within ${timeoutMs} ms.`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export function azuriteConnectionString(ports: { blob: number; queue: number; table: number }): string {
  const base = (port: number) => `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=${base(ports.blob)};QueueEndpoint=${base(ports.queue)};TableEndpoint=${base(ports.table)};`
  );
}

/**
 * Starts Azurite from this project's devDependencies as a child process (with `node` on its script, not
 * npx, so stopping it stops it), on loopback only.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const script = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
  const ports = {
    blob: options.ports?.blob || (await freePort()),
    queue: options.ports?.queue || (await freePort()),
    table: options.ports?.table || (await freePort()),
  };
  const args = [
    script,
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
    '--disableTelemetry',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(ports.blob),
    '--queueHost',
    '127.0.0.1',
    '--queuePort',
    String(ports.queue),
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(ports.table),
  ];
  if (options.location) {
    mkdirSync(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence');
  }
  if (options.debugLog) args.push('--debug', options.debugLog);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  try {
    await Promise.all([
      waitForPort(ports.blob, child, 20000),
      waitForPort(ports.queue, child, 20000),
      waitForPort(ports.table, child, 20000),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}${stderr ? `\nAzurite said: ${stderr.trim()}` : ''}`, {
      cause: e,
    });
  }
  let stopped: Promise<void> | undefined;
  return {
    connectionString: azuriteConnectionString(ports),
    ports,
    pid: child.pid,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      });
      return stopped;
    },
  };
}
