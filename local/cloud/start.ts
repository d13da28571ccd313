import { table } from '../../azure/tables';
import { consortium } from '../../runtime/consortium';
import { nowMs } from '../../runtime/clock';
import { ConfigError, readSetting } from '../../runtime/settings';
import { buildFounders } from './founders';
import { LocalCloud } from './index';

/** TRUSTNET_LOCAL_CLOUD_LATENCY: a non-negative number; unset means the sample's 0.01. */
export function latencyFactorSetting(env: NodeJS.ProcessEnv = process.env): number {
  const raw = readSetting('TRUSTNET_LOCAL_CLOUD_LATENCY', env);
  if (raw === undefined) return 0.01;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(n))
    throw new ConfigError(
      'CONFIG.INVALID',
      'TRUSTNET_LOCAL_CLOUD_LATENCY',
      `App setting TRUSTNET_LOCAL_CLOUD_LATENCY must be a number such as 0.01 (0 for instant); got "${raw}".`,
    );
  return n;
}

/**
 * Starts the local cloud for the TrustNet app under the local host: emulators on the app's own storage
 * (tables `<task hub>Cloud…`), installed where the app's Azure adapters find it, and the founders'
 * nodes built in it the first time. Needs AzureWebJobsStorage, TRUSTNET_TASK_HUB and the consortium file.
 */
export async function startLocalCloud(
  options: { latencyFactor?: number; buildFounders?: boolean } = {},
): Promise<LocalCloud> {
  const cloud = new LocalCloud({
    tables: (suffix) => table(suffix),
    now: nowMs,
    latencyFactor: options.latencyFactor ?? latencyFactorSetting(),
  });
  cloud.install();
  if (options.buildFounders !== false) {
    // The founders were there before the platform: their nodes appear at once, not in modelled time.
    const instant = new LocalCloud({ tables: (suffix) => table(suffix), now: nowMs, latencyFactor: 0 });
    await buildFounders(instant, consortium(), readSetting('TRUSTNET_PLATFORM_PRINCIPAL_ID') ?? '');
  }
  return cloud;
}
