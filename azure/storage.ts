import { TableServiceClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { ConfigError, readSetting } from '../runtime/settings';

/** Which storage backend the app's settings point at, without contacting it. */
export type StorageKind = 'azurite' | 'azure-storage';

export interface StorageTarget {
  kind: StorageKind;
  /** Table endpoint, for diagnostics; never carries a key. */
  tableEndpoint: string;
  client: TableServiceClient;
}

const AZURITE_ACCOUNT = 'devstoreaccount1';

function connectionStringField(cs: string, field: string): string | undefined {
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim().toLowerCase() === field.toLowerCase())
      return part.slice(i + 1).trim();
  }
  return undefined;
}

export function storageTarget(env: NodeJS.ProcessEnv = process.env): StorageTarget {
  const cs = readSetting('AzureWebJobsStorage', env);
  if (cs) {
    const development = /UseDevelopmentStorage=true/i.test(cs);
    const account = connectionStringField(cs, 'AccountName');
    const endpoint =
      connectionStringField(cs, 'TableEndpoint') ??
      (development
        ? `http://127.0.0.1:10002/${AZURITE_ACCOUNT}`
        : account
          ? `https://${account}.table.${connectionStringField(cs, 'EndpointSuffix') ?? 'core.windows.net'}`
          : undefined);
    if (!endpoint) {
      throw new ConfigError(
        'CONFIG.INVALID',
        'AzureWebJobsStorage',
        'App setting AzureWebJobsStorage has no table endpoint or account name.',
      );
    }
    let client: TableServiceClient;
    try {
      client = TableServiceClient.fromConnectionString(cs, {
        allowInsecureConnection: endpoint.startsWith('http:'),
      });
    } catch (e) {
      // The SDK's message can quote the connection string, so it is not passed on.
      throw new ConfigError(
        'CONFIG.INVALID',
        'AzureWebJobsStorage',
        `App setting AzureWebJobsStorage is not a valid connection string (${(e as Error).name}).`,
      );
    }
    const kind: StorageKind =
      development || account === AZURITE_ACCOUNT || /\/\/(127\.|localhost)/.test(endpoint)
        ? 'azurite'
        : 'azure-storage';
    return { kind, tableEndpoint: endpoint, client };
  }
  // Identity-based connection, as the platform template configures it in Azure.
  const account = env['AzureWebJobsStorage__accountName'];
  const tableUri =
    env['AzureWebJobsStorage__tableServiceUri'] ??
    (account ? `https://${account}.table.core.windows.net` : undefined);
  if (!tableUri) {
    throw new ConfigError(
      'CONFIG.MISSING',
      'AzureWebJobsStorage',
      'App setting AzureWebJobsStorage (or AzureWebJobsStorage__accountName) is not set.',
    );
  }
  return {
    kind: 'azure-storage',
    tableEndpoint: tableUri,
    client: new TableServiceClient(tableUri, new DefaultAzureCredential()),
  };
}

export interface StorageProbe {
  reachable: boolean;
  latencyMs: number;
  error?: string;
}

/** One cheap round trip to the table service, bounded by a timeout. */
export async function probeStorage(client: TableServiceClient, timeoutMs = 2000): Promise<StorageProbe> {
  const started = performance.now();
  try {
    await client.getProperties({ abortSignal: AbortSignal.timeout(timeoutMs) });
    return { reachable: true, latencyMs: Math.round(performance.now() - started) };
  } catch (e) {
    const err = e as { name?: string; statusCode?: number; code?: string };
    const why =
      err.name === 'AbortError'
        ? `no answer within ${timeoutMs} ms`
        : (err.code ?? err.statusCode ?? err.name ?? 'error');
    return { reachable: false, latencyMs: Math.round(performance.now() - started), error: String(why) };
  }
}
