import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The app's version from package.json (read once; the file sits two levels above dist/runtime). */
export const appVersion: string = (() => {
  for (const rel of ['..', '../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, rel, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'trustnet' && pkg.version) return pkg.version;
    } catch {
      // not at this level: try the next
    }
  }
  return '0.0.0-unknown';
})();
