import { Arm } from '../azure/arm';
import { ArmWriteBudget } from '../azure/arm-budget';
import { azureConnection } from '../azure/connection';
import { Placements } from '../azure/placements';
import { table } from '../azure/tables';
import { nowMs } from '../runtime/clock';
import { durationSettingMs, readSetting, requireSetting } from '../runtime/settings';

/**
 * The provisioning adapters, made once per environment: Resource Manager (with the shared write
 * budget), the placements table, and Key Vault clients by vault URL.
 */

let arm: { key: string; arm: Arm } | undefined;

function environmentKey(): string {
  return `${readSetting('AzureWebJobsStorage') ?? ''}|${readSetting('TRUSTNET_TASK_HUB') ?? ''}|${readSetting('AZURE_SUBSCRIPTION_ID') ?? 'local'}`;
}

/**
 * How often an SDK polls an operation it waits out within one activity (validation, what-if: seconds in
 * Azure, not the minutes the orchestration polls between timers): the SDK's own 2 s at the platform's
 * default 30 s interval, and the same fraction of a shorter one, so a local cloud whose durations are
 * scaled down polls them scaled down too (with PT0.6S, 40 ms, not 600 ms for a 20 ms validation).
 */
export function sdkPollMs(pollIntervalMs: number): number {
  return Math.max(10, Math.min(2000, Math.round((pollIntervalMs * 2) / 30)));
}

export function getArm(): Arm {
  const key = environmentKey();
  if (arm?.key !== key) {
    const connection = azureConnection();
    const budget = new ArmWriteBudget(() => table('ArmBudget'), nowMs);
    arm = {
      key,
      arm: new Arm({
        credential: connection.credential,
        httpClient: connection.httpClient,
        retryOptions: connection.retryOptions,
        budget,
        lroPollMs: sdkPollMs(durationSettingMs('TRUSTNET_POLL_INTERVAL', 'PT30S')),
      }),
    };
  }
  return arm.arm;
}

export function getPlacements(): Placements {
  return new Placements(() => table('Placements'));
}

export function platformVaultUrl(): string {
  return requireSetting('TRUSTNET_KEY_VAULT_URL');
}

/**
 * Deployment parameters may name a platform-vault secret (`{ secretRef }`) instead of carrying it, so a
 * VPN shared key is read here, inside the activity, and never enters orchestration history.
 */
export async function resolveSecrets(parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parameters)) {
    if (value && typeof value === 'object' && 'secretRef' in value) {
      const ref = (value as { secretRef: string }).secretRef;
      const secret = await (await import('./vaults')).readPlatformSecret(ref);
      out[name] = secret;
    } else out[name] = value;
  }
  return out;
}
