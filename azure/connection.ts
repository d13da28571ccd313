import type { TokenCredential } from '@azure/core-auth';
import type { HttpClient } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential } from '@azure/identity';
import { ConfigError, readSetting } from '../runtime/settings';

/**
 * Where the Azure adapters send their calls. In Azure: the real endpoints with the app's managed
 * identity. Under the local host: the same SDK clients, but their `httpClient` hands every request to the
 * local cloud's emulators in this process (DESIGN.md: ARM refuses bearer tokens over http, so the
 * endpoint stays https and never leaves the process).
 */

const LOCAL_CLOUD = Symbol.for('trustnet.localCloud');

export interface LocalCloudHandle {
  httpClient: HttpClient;
  credential: TokenCredential;
  /** The local cloud's outbox keeps each Teams card the platform posts, for GET /admin/cloud/outbox. */
  recordCard?: (card: { url: string; card: unknown; eventId?: string }) => Promise<void>;
}

export interface AzureConnection {
  mode: 'azure' | 'local';
  credential: TokenCredential;
  httpClient?: HttpClient;
  /** Kept short: the SDK absorbs a blip; orchestrations own the long waits with durable timers. */
  retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
}

/** Used by the local host only. */
export function installLocalCloud(handle: LocalCloudHandle | undefined): void {
  (globalThis as Record<symbol, LocalCloudHandle | undefined>)[LOCAL_CLOUD] = handle;
}

/** The local cloud's hook for posted cards, when running under it. */
export function localCardRecorder(): LocalCloudHandle['recordCard'] {
  return localCloud()?.recordCard;
}

function localCloud(): LocalCloudHandle | undefined {
  return (globalThis as Record<symbol, LocalCloudHandle | undefined>)[LOCAL_CLOUD];
}

let azureCredential: TokenCredential | undefined;

export function azureConnection(env: NodeJS.ProcessEnv = process.env): AzureConnection {
  const retryOptions = { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };
  if (readSetting('AZURE_SUBSCRIPTION_ID', env)) {
    azureCredential ??= new DefaultAzureCredential();
    return { mode: 'azure', credential: azureCredential, retryOptions };
  }
  const local = localCloud();
  if (local)
    return { mode: 'local', credential: local.credential, httpClient: local.httpClient, retryOptions };
  throw new ConfigError(
    'CONFIG.MISSING',
    'AZURE_SUBSCRIPTION_ID',
    'App setting AZURE_SUBSCRIPTION_ID is not set, and no local cloud is running: set it (with managed ' +
      'identity or other credentials) to provision in Azure, or run under the local host.',
  );
}
