import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAzurite } from '../local/host/azurite';

/** One in-memory Azurite for the whole run; each suite keeps to its own tables or task hub. */
export default async function globalSetup(): Promise<void> {
  // Settings a test does not set come from local.settings.sample.json, as `npm start` takes them.
  const sample = JSON.parse(readFileSync(join(__dirname, '..', 'local.settings.sample.json'), 'utf8')) as {
    Values: Record<string, string>;
  };
  for (const [name, value] of Object.entries(sample.Values))
    if (name !== 'AzureWebJobsStorage' && process.env[name] === undefined) process.env[name] = value;
  const azurite = await startAzurite();
  process.env['AzureWebJobsStorage'] = azurite.connectionString;
  process.env['TRUSTNET_TEST_AZURITE_PID'] = String(azurite.pid);
  (globalThis as { __azurite?: typeof azurite }).__azurite = azurite;
}
