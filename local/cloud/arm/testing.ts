import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { TableClient } from '@azure/data-tables';
import { CloudFaults } from '../faults';
import { LocalCloudCredential, cloudHttpClient } from '../http';
import { ArmEmulator, type ArmEmulatorOptions } from './emulator';

/**
 * The real ARM SDK clients wired to an emulator: an https endpoint (ARM refuses tokens over http), the
 * in-process httpClient and the management scope.
 */
export function armClientOptions(emulator: Pick<ArmEmulator, 'handle'>, retries?: number) {
  return {
    endpoint: 'https://management.azure.com',
    httpClient: cloudHttpClient(emulator.handle),
    credentials: { scopes: ['https://management.azure.com/.default'] },
    ...(retries !== undefined ? { retryOptions: { maxRetries: retries } } : {}),
  };
}

export function armClients(emulator: Pick<ArmEmulator, 'handle'>, subscriptionId: string, retries?: number) {
  const cred = new LocalCloudCredential();
  const opts = armClientOptions(emulator, retries);
  return {
    resources: new ResourceManagementClient(cred, subscriptionId, opts),
    deployments: new DeploymentsClient(cred, subscriptionId, opts),
    network: new NetworkManagementClient(cred, subscriptionId, opts),
    compute: new ComputeManagementClient(cred, subscriptionId, opts),
  };
}

/** Tables named `<prefix><suffix>` in the given storage (tests: the Azurite jest starts). */
export function tablesIn(connectionString: string, prefix: string): (suffix: string) => Promise<TableClient> {
  return async (suffix) => {
    const t = TableClient.fromConnectionString(connectionString, `${prefix}${suffix}`, {
      allowInsecureConnection: /127\.0\.0\.1|localhost/.test(connectionString),
    });
    await t.createTable();
    return t;
  };
}

/** An emulator on fresh tables with a clock the caller moves. */
export function armTestbed(
  connectionString: string,
  prefix: string,
  opts: Partial<Omit<ArmEmulatorOptions, 'tables' | 'now'>> & { start?: number } = {},
) {
  const clock = { now: opts.start ?? Date.UTC(2026, 0, 1) };
  const faults = opts.faults ?? new CloudFaults();
  const tables = tablesIn(connectionString, prefix);
  const make = () =>
    new ArmEmulator({
      tables,
      faults,
      now: () => clock.now,
      latencyFactor: opts.latencyFactor ?? 0,
      ...(opts.writeBudget ? { writeBudget: opts.writeBudget } : {}),
    });
  return { clock, faults, tables, emulator: make(), make };
}
