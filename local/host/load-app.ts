import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import * as core from './functions-core';
import { HostStartError } from './errors';

export interface HostJson {
  version?: string;
  extensions?: {
    http?: { routePrefix?: string };
    durableTask?: Record<string, unknown> & { hubName?: string };
  };
  [k: string]: unknown;
}

export interface LoadedApp {
  dir: string;
  name: string;
  version: string;
  hostJson: HostJson;
  entryFiles: string[];
  captured: core.CapturedApp;
}

// Node's resolver is taught the module name once per process; jest maps it with moduleNameMapper instead.
let resolverInstalled = false;
function installCoreResolver(): void {
  if (resolverInstalled) return;
  resolverInstalled = true;
  const stand_in = require.resolve('./functions-core');
  const mod = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = mod._resolveFilename;
  mod._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === '@azure/functions-core') return stand_in;
    return original.call(this, request, ...rest);
  };
}

// An app's modules run once per process (require caches them), so its registrations are captured once.
const capturedByEntry = new Map<string, core.CapturedApp>();

function readJson(file: string, what: string): unknown {
  if (!existsSync(file)) throw new HostStartError(`${what} not found: ${file}`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HostStartError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Applies `AzureFunctionsJobHost__a__b` app settings over host.json's `a.b`, as the Functions host does,
 * so a setting can change, say, `extensions.durableTask.maxConcurrentActivityFunctions` per environment.
 */
export function applyHostJsonOverrides(hostJson: HostJson, env: NodeJS.ProcessEnv = process.env): HostJson {
  const result = JSON.parse(JSON.stringify(hostJson)) as Record<string, unknown>;
  for (const [name, raw] of Object.entries(env)) {
    const m = /^AzureFunctionsJobHost__(.+)$/i.exec(name);
    if (!m || raw === undefined) continue;
    const path = m[1]!.split('__');
    let node = result;
    for (const key of path.slice(0, -1)) {
      const existing = Object.keys(node).find((k) => k.toLowerCase() === key.toLowerCase()) ?? key;
      if (typeof node[existing] !== 'object' || node[existing] === null) node[existing] = {};
      node = node[existing] as Record<string, unknown>;
    }
    const last = path.at(-1)!;
    const key = Object.keys(node).find((k) => k.toLowerCase() === last.toLowerCase()) ?? last;
    node[key] = /^-?\d+(\.\d+)?$/.test(raw)
      ? Number(raw)
      : /^(true|false)$/i.test(raw)
        ? raw.toLowerCase() === 'true'
        : raw;
  }
  return result as HostJson;
}

export function loadApp(appDir: string): LoadedApp {
  const dir = resolve(appDir);
  const hostJson = applyHostJsonOverrides(readJson(join(dir, 'host.json'), 'host.json') as HostJson);
  if (hostJson.version !== '2.0') {
    throw new HostStartError(
      `${join(dir, 'host.json')}: "version" must be "2.0" (the v4 programming model).`,
    );
  }
  const pkg = readJson(join(dir, 'package.json'), 'package.json') as {
    name?: string;
    version?: string;
    main?: string;
  };
  if (!pkg.main) {
    throw new HostStartError(
      `${join(dir, 'package.json')} has no "main": point it at the built entry file(s).`,
    );
  }
  const entryFiles = globSync(pkg.main, { cwd: dir, absolute: true, onlyFiles: true }).sort();
  if (entryFiles.length === 0) {
    throw new HostStartError(
      `package.json "main" (${pkg.main}) matches no file under ${dir}: build the app first.`,
    );
  }
  const key = entryFiles.join('|');
  let captured = capturedByEntry.get(key);
  if (!captured) {
    installCoreResolver();
    captured = core.beginCapture();
    for (const file of entryFiles) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the app is CommonJS, loaded as the worker loads it
        require(file);
      } catch (e) {
        throw new HostStartError(`Loading ${file} failed: ${(e as Error).stack ?? e}`);
      }
    }
    capturedByEntry.set(key, captured);
  }
  if (!captured.programmingModel) {
    throw new HostStartError(
      `${dir}: no programming model was set; the app must use @azure/functions v4 (found no app.* registration).`,
    );
  }
  return {
    dir,
    name: pkg.name ?? dirname(dir),
    version: pkg.version ?? '0.0.0',
    hostJson,
    entryFiles,
    captured,
  };
}
