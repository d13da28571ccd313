import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostStartError } from './errors';

export interface LoadedSettings {
  /** The file read, or undefined when there was none. */
  file?: string;
  /** Names copied into the environment (the process environment wins over the file). */
  applied: string[];
}

/**
 * Copies `Values` from local.settings.json into process.env, as Azure Functions Core Tools do; a variable
 * already in the environment wins. Without local.settings.json, local.settings.sample.json is used so a
 * fresh clone runs as is.
 */
export function loadLocalSettings(appDir: string, env: NodeJS.ProcessEnv = process.env): LoadedSettings {
  const file = ['local.settings.json', 'local.settings.sample.json']
    .map((f) => join(appDir, f))
    .find(existsSync);
  if (!file) return { applied: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HostStartError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HostStartError(`${file} must hold a JSON object with "Values".`);
  }
  const doc = parsed as { IsEncrypted?: unknown; Values?: unknown };
  if (doc.IsEncrypted === true) {
    throw new HostStartError(
      `${file} is encrypted ("IsEncrypted": true); the local host reads plain settings only.`,
    );
  }
  const values = doc.Values ?? {};
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new HostStartError(`${file}: "Values" must be an object of setting names to strings.`);
  }
  const applied: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new HostStartError(`${file}: "Values.${name}" must be a string.`);
    }
    if (env[name] === undefined) {
      env[name] = String(value);
      applied.push(name);
    }
  }
  return { file, applied };
}

/** Replaces `%NAME%` with the app setting NAME, as the Functions host does in binding properties. */
export function resolveSettingReferences(
  value: string,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') {
      throw new HostStartError(`${where} uses %${name}%, but app setting ${name} is not set.`);
    }
    return v;
  });
}
