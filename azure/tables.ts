import { RestError, TableClient, type TableEntity } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { readSetting, requireSetting } from '../runtime/settings';

/** Storage failures that are not an expected 404/409/412, with the status but never the connection string. */
export class StorageError extends Error {
  readonly code = 'STORAGE.FAILED';
  constructor(
    readonly operation: string,
    readonly statusCode: number | undefined,
  ) {
    super(`Storage ${operation} failed${statusCode ? ` with HTTP ${statusCode}` : ''}.`);
    this.name = 'StorageError';
  }
}

export function statusOf(e: unknown): number | undefined {
  return e instanceof RestError ? e.statusCode : undefined;
}

export function wrapStorage(operation: string, e: unknown): never {
  if (e instanceof StorageError) throw e;
  throw new StorageError(operation, statusOf(e));
}

const clients = new Map<string, { client: TableClient; ready: Promise<void> }>();

/**
 * A table in the app's storage, named `<task hub><suffix>` so each environment (and each test) keeps its
 * own. Created on first use.
 */
export async function table(suffix: string, env: NodeJS.ProcessEnv = process.env): Promise<TableClient> {
  const name = `${requireSetting('TRUSTNET_TASK_HUB', env).replace(/[^A-Za-z0-9]/g, '')}${suffix}`.slice(
    0,
    63,
  );
  const cs = readSetting('AzureWebJobsStorage', env);
  const key = `${cs ?? env['AzureWebJobsStorage__accountName']}|${name}`;
  let entry = clients.get(key);
  if (!entry) {
    const client = cs
      ? TableClient.fromConnectionString(cs, name, {
          allowInsecureConnection:
            /^DefaultEndpointsProtocol=http;|127\.0\.0\.1|localhost|UseDevelopmentStorage/i.test(cs),
        })
      : new TableClient(
          env['AzureWebJobsStorage__tableServiceUri'] ??
            `https://${env['AzureWebJobsStorage__accountName']}.table.core.windows.net`,
          name,
          new DefaultAzureCredential(),
        );
    const ready = client.createTable().catch((e: unknown) => {
      clients.delete(key);
      wrapStorage(`create table ${name}`, e);
    });
    clients.set(key, (entry = { client, ready }));
  }
  await entry.ready;
  return entry.client;
}

/** JSON values in string properties, split so none passes Azure's 64 KiB property limit. */
export function packJson(field: string, value: unknown): Record<string, string> {
  const text = JSON.stringify(value);
  const out: Record<string, string> = {};
  for (let i = 0, k = 0; i < text.length || k === 0; i += 30000, k++)
    out[`${field}${k}`] = text.slice(i, i + 30000);
  return out;
}

export function unpackJson<T>(entity: Record<string, unknown>, field: string): T | undefined {
  if (typeof entity[`${field}0`] !== 'string') return undefined;
  let text = '';
  for (let k = 0; typeof entity[`${field}${k}`] === 'string'; k++) text += entity[`${field}${k}`] as string;
  return JSON.parse(text) as T;
}

export type Row = TableEntity<Record<string, unknown>> & { etag?: string };

/** Continuation tokens for lists: opaque base64url of the SDK's own token. */
export function encodeToken(token: string | undefined): string | null {
  return token ? Buffer.from(token, 'utf8').toString('base64url') : null;
}

export function decodeToken(token: string | undefined | null): string | undefined {
  if (!token) return undefined;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text || Buffer.from(text, 'utf8').toString('base64url') !== token)
    throw new RangeError('The continuation token is not valid.');
  return text;
}
