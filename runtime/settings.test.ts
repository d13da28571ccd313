import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, positiveIntSetting, requireSetting, SETTINGS } from './settings';

const root = join(__dirname, '..');

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

describe('app settings catalog', () => {
  it('matches local.settings.sample.json exactly, and the sample holds no secret', () => {
    const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8'));
    expect(sample.IsEncrypted).toBe(false);
    expect(Object.keys(sample.Values).sort()).toEqual(Object.keys(SETTINGS).sort());
    for (const [name, spec] of Object.entries(SETTINGS)) expect(sample.Values[name]).toBe(spec.sample);
    expect(JSON.stringify(sample)).not.toMatch(/AccountKey=|SharedAccessSignature=|sig=|password/i);
  });

  it('is documented row by row in the README settings table', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const name of Object.keys(SETTINGS))
      expect(readme).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
  });

  it('names every setting the code reads', () => {
    const read = new Set<string>();
    for (const dir of ['functions', 'orchestrations', 'core', 'azure', 'runtime', 'local']) {
      for (const file of sourceFiles(join(root, dir))) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(
          /(?:readSetting|requireSetting|positiveIntSetting)\('([A-Za-z0-9_]+)'/g,
        ))
          read.add(m[1]!);
        for (const m of text.matchAll(/process\.env\[?'?\.?([A-Z][A-Za-z0-9_]+)/g)) read.add(m[1]!);
      }
    }
    const known = new Set([
      ...Object.keys(SETTINGS),
      'AzureWebJobsStorage__accountName',
      'AzureWebJobsStorage__tableServiceUri',
      // Not a setting anyone gives: Azure sets it, and the local host sets it as Core Tools does.
      'WEBSITE_HOSTNAME',
    ]);
    expect([...read].filter((n) => !known.has(n))).toEqual([]);
  });

  it('fails fast with the setting name when one is missing or malformed', () => {
    let error: unknown;
    try {
      requireSetting('TRUSTNET_TASK_HUB', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG.MISSING', setting: 'TRUSTNET_TASK_HUB' });
    expect((error as Error).message).toMatch(/^App setting TRUSTNET_TASK_HUB is not set: /);
    expect(positiveIntSetting('TRUSTNET_MAX_BODY_BYTES', 7, {})).toBe(7);
    expect(positiveIntSetting('TRUSTNET_MAX_BODY_BYTES', 7, { TRUSTNET_MAX_BODY_BYTES: ' 2048 ' })).toBe(
      2048,
    );
    for (const bad of ['-1', '0', '1.5', 'lots', '1e3']) {
      expect(() =>
        positiveIntSetting('TRUSTNET_MAX_BODY_BYTES', 7, { TRUSTNET_MAX_BODY_BYTES: bad }),
      ).toThrow(
        `App setting TRUSTNET_MAX_BODY_BYTES must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}; got "${bad}".`,
      );
    }
  });
});
