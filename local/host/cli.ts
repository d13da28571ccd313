#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startAzurite, type RunningAzurite } from './azurite';
import { HostStartError } from './errors';
import { startHost, type RunningHost } from './host';
import { loadLocalSettings } from './settings-file';
import { ensureSampleConsortium } from '../sample-consortium';
import type { LocalCloud } from '../cloud/index';
import { latencyFactorSetting, startLocalCloud } from '../cloud/start';

const USAGE = `Usage: npm start -- [options]

Runs a Functions app (TrustNet by default) on this machine: starts Azurite, loads the built app and serves
its HTTP and timer triggers as the Azure Functions host would.

Options:
  --port N          HTTP port (default 7071; 0 picks a free one)
  --data-dir DIR    where Azurite keeps its data (default .trustnet)
  --app DIR         run another Functions app: a folder with host.json and a built package.json "main"
  --virtual-clock   run on a virtual clock, moved with POST /admin/host/clock {"advance": "P1D"}
  -h, --help        show this help`;

/** TrustNet's own app folder (the repository root, above dist/). */
export const TRUSTNET_DIR = resolve(__dirname, '..', '..', '..');

export interface CliOptions {
  port: number;
  dataDir: string;
  appDir: string;
  virtualClock: boolean;
}

export function parseCli(argv: string[]): CliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      app: { type: 'string' },
      'virtual-clock': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return 'help';
  if (positionals.length) throw new HostStartError(`Unexpected argument "${positionals[0]}".`);
  const portText = values.port ?? '7071';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new HostStartError(`--port must be a whole number from 0 to 65535; got "${portText}".`);
  }
  return {
    port: Number(portText),
    dataDir: resolve(values['data-dir'] ?? '.trustnet'),
    appDir: resolve(values.app ?? TRUSTNET_DIR),
    virtualClock: values['virtual-clock'] === true,
  };
}

function describe(host: RunningHost): string {
  const lines = [
    `${host.app.name} ${host.app.version} on ${host.url}  (clock: ${host.clock.virtual ? 'virtual' : 'system'})`,
    'Functions:',
  ];
  for (const f of host.functions) {
    if (f.route !== undefined) {
      lines.push(
        `  ${f.name}: [${f.methods?.length ? f.methods.join(',') : 'ALL'}] ${host.url}/${f.route}  (auth: ${f.authLevel}, not enforced locally)`,
      );
    } else if (f.schedule) {
      lines.push(`  ${f.name}: timer "${f.schedule}"`);
    } else {
      lines.push(`  ${f.name}: ${f.trigger}${f.unsupported ? `  (${f.unsupported})` : ''}`);
    }
  }
  lines.push(
    'Admin (loopback only):',
    `  GET  ${host.url}/admin/host/functions`,
    `  POST ${host.url}/admin/functions/{timer name}`,
  );
  if (host.clock.virtual) lines.push(`  GET|POST ${host.url}/admin/host/clock   {"advance": "P1D"}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  let options: CliOptions | 'help';
  try {
    options = parseCli(process.argv.slice(2));
  } catch (e) {
    console.error(`trustnet host: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }

  let azurite: RunningAzurite | undefined;
  let host: RunningHost | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    // Everything this process started must be gone within 5 s.
    const hard = setTimeout(() => process.exit(code), 4500);
    hard.unref();
    await host?.stop().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    const settings = loadLocalSettings(options.appDir);
    if (settings.file) console.log(`Settings: ${settings.file}`);
    if (options.appDir === TRUSTNET_DIR && !process.env['TRUSTNET_CONSORTIUM_FILE']) {
      const sample = await ensureSampleConsortium(options.dataDir);
      process.env['TRUSTNET_CONSORTIUM_FILE'] = sample.file;
      console.log(
        `Consortium: ${sample.config.name} (sample, local use only) from ${sample.file}; founders' private keys in ${sample.keysDir}`,
      );
    }
    const storage = process.env['AzureWebJobsStorage'];
    if (!storage || /UseDevelopmentStorage=true/i.test(storage)) {
      const location = resolve(options.dataDir, 'azurite');
      azurite = await startAzurite({ location });
      process.env['AzureWebJobsStorage'] = azurite.connectionString;
      console.log(
        `Azurite: tables on 127.0.0.1:${azurite.ports.table}, blobs on ${azurite.ports.blob}, queues on ${azurite.ports.queue}; data in ${location}`,
      );
    }
    // TrustNet provisions into the local cloud unless it is pointed at Azure.
    let cloud: LocalCloud | undefined;
    if (options.appDir === TRUSTNET_DIR && !process.env['AZURE_SUBSCRIPTION_ID']) {
      cloud = await startLocalCloud();
      console.log(
        `Local cloud: ARM and Key Vault emulated in process (latency ×${latencyFactorSetting()}); founders' nodes built; /admin/cloud/resources lists everything`,
      );
    }
    host = await startHost({
      appDir: options.appDir,
      port: options.port,
      virtualClock: options.virtualClock,
      loadLocalSettings: false,
      ...(cloud
        ? { admin: (method: string, path: string, body: string) => cloud.admin(method, path, body) }
        : {}),
    });
    console.log(describe(host));
    console.log('Press Ctrl-C to stop.');
  } catch (e) {
    console.error(`trustnet host: ${e instanceof HostStartError ? e.message : ((e as Error).stack ?? e)}`);
    await stop(1);
  }
}

if (require.main === module) void main();
