import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AzureError } from '../azure/azure-error';
import { VaultError } from '../azure/key-vault';
import { addDuration, parseDuration } from '../core/duration';
import type { ProvisionPlan } from '../core/provisioning';
import { getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { ConfigError, readSetting } from '../runtime/settings';
import { azureRetry } from './deploy';
import { getPlacements } from './provisioning-services';
import { issueNodeCertificate } from './vaults';

/**
 * Renews a member's node CA certificate before it expires: a new key version in the bank's vault, its
 * CSR signed by the doorman against the member's original approval, merged back, audited. One instance
 * per member and generation (`renew-<member>-<generation>`), so a timer that fires twice renews once.
 */
export const RENEW_ORCHESTRATOR = 'renewCertificateV1';
export const RENEW_ACTIVITY = 'renewCertificateIssueV1';

export interface RenewInput {
  memberId: string;
  generation: number;
}

const renew: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RenewInput>();
  return yield context.df.callActivityWithRetry(RENEW_ACTIVITY, azureRetry, input);
};

export async function renewCertificate(input: RenewInput): Promise<{ serial?: string; skipped?: string }> {
  const registry = await getRegistry();
  const member = await registry.getMember(input.memberId);
  const placement = await getPlacements().get(input.memberId);
  if (!member || member.status !== 'ACTIVE') return { skipped: `${input.memberId} is not ACTIVE` };
  if (!member.requestId || !placement?.vaultUri || !placement.certificate)
    return { skipped: `${input.memberId} has no platform-issued certificate` };
  const plan = {
    requestId: member.requestId,
    bankId: member.id,
    legalName: member.legalName,
  } as ProvisionPlan;
  try {
    const issued = await issueNodeCertificate(plan, placement.vaultUri, input.generation);
    return { serial: String(issued['serial']) };
  } catch (e) {
    // Permanent: fail the instance with the code (the operator sees it in the Durable status).
    if ((e instanceof AzureError || e instanceof VaultError) && !e.transient)
      throw new Error(`${e.code}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** TRUSTNET_CERT_RENEW_BEFORE in milliseconds (default 30 days). */
export function renewBeforeMs(): number {
  const raw = readSetting('TRUSTNET_CERT_RENEW_BEFORE') ?? 'P30D';
  try {
    return addDuration(new Date(0), parseDuration(raw)).getTime();
  } catch {
    throw new ConfigError(
      'CONFIG.INVALID',
      'TRUSTNET_CERT_RENEW_BEFORE',
      `App setting TRUSTNET_CERT_RENEW_BEFORE must be an ISO 8601 duration such as P30D; got "${raw}".`,
    );
  }
}

/** Members whose certificate expires within the renewal window, with the generation to issue next. */
export async function dueForRenewal(): Promise<RenewInput[]> {
  const horizon = nowMs() + renewBeforeMs();
  const registry = await getRegistry();
  const active = new Set((await registry.allMembers()).filter((m) => m.status === 'ACTIVE').map((m) => m.id));
  return (await getPlacements().all())
    .filter((p) => p.certificate && active.has(p.memberId) && Date.parse(p.certificate.notAfter) <= horizon)
    .map((p) => ({ memberId: p.memberId, generation: p.certificate!.generation + 1 }));
}

export async function startRenewals(client: df.DurableClient): Promise<number> {
  let started = 0;
  for (const due of await dueForRenewal()) {
    const instanceId = `renew-${due.memberId}-${due.generation}`;
    const status = await client.getStatus(instanceId).catch(() => undefined);
    if (status?.runtimeStatus) continue;
    await client.startNew(RENEW_ORCHESTRATOR, { instanceId, input: due });
    started++;
  }
  return started;
}

df.app.orchestration(RENEW_ORCHESTRATOR, renew);
df.app.activity(RENEW_ACTIVITY, { handler: (input: RenewInput) => renewCertificate(input) });
