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
        // Polls an SDK waits out itself follow the platform's poll interval, never slower than the SDK's 2 s.
        lroPollMs: Math.min(durationSettingMs('TRUSTNET_POLL_INTERVAL', 'PT30S'), 2000),
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
