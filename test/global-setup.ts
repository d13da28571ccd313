import { startAzurite } from '../local/host/azurite';

/** One in-memory Azurite for the whole run; each suite keeps to its own tables or task hub. */
export default async function globalSetup(): Promise<void> {
  const azurite = await startAzurite();
  process.env['AzureWebJobsStorage'] = azurite.connectionString;
  process.env['TRUSTNET_TEST_AZURITE_PID'] = String(azurite.pid);
  (globalThis as { __azurite?: typeof azurite }).__azurite = azurite;
}
