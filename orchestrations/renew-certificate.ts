import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AzureError } from '../azure/azure-error';
import { VaultError } from '../azure/key-vault';
import type { ProvisionPlan } from '../core/provisioning';
import { activeMemberIds } from '../core/membership';
import { getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { durationSettingMs } from '../runtime/settings';
import { azureRetry } from './deploy';
import { getPlacements } from './provisioning-services';
import { FOUNDER_REQUEST_PREFIX, issueNodeCertificate } from './vaults';
import type { InvocationContext } from '@azure/functions';
import { notify } from './notify';
import { memberRef } from './notify-events';

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

export async function renewCertificate(
  input: RenewInput,
  client?: df.DurableClient,
  context?: InvocationContext,
): Promise<{ serial?: string; skipped?: string }> {
  const registry = await getRegistry();
  const member = await registry.getMember(input.memberId);
  const placement = await getPlacements().get(input.memberId);
  if (!member || member.status !== 'ACTIVE') return { skipped: `${input.memberId} is not ACTIVE` };
  if ((!member.requestId && !member.founder) || !placement?.vaultUri || !placement.certificate)
    return { skipped: `${input.memberId} has no platform-issued certificate` };
  const plan = {
    // A founder's certificates are issued against its seeding (see FOUNDER_REQUEST_PREFIX).
    requestId: member.requestId ?? `${FOUNDER_REQUEST_PREFIX}${member.id}`,
    bankId: member.id,
    legalName: member.legalName,
  } as ProvisionPlan;
  try {
    const issued = await issueNodeCertificate(plan, placement.vaultUri, input.generation);
    if (client)
      await notify(
        client,
        {
          kind: 'certificate.renewed',
          at: new Date(nowMs()).toISOString(),
          member: memberRef(member),
          serial: String(issued['serial']),
          notAfter: String(issued['notAfter']),
        },
        context,
      );
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
  return durationSettingMs('TRUSTNET_CERT_RENEW_BEFORE', 'P30D');
}

/** Members whose certificate expires within the renewal window, with the generation to issue next. */
export async function dueForRenewal(): Promise<(RenewInput & { serial: string; notAfter: string })[]> {
  const horizon = nowMs() + renewBeforeMs();
  const registry = await getRegistry();
  const active = activeMemberIds(await registry.allMembers());
  return (await getPlacements().all())
    .filter((p) => p.certificate && active.has(p.memberId) && Date.parse(p.certificate.notAfter) <= horizon)
    .map((p) => ({
      memberId: p.memberId,
      generation: p.certificate!.generation + 1,
      serial: p.certificate!.serial,
      notAfter: p.certificate!.notAfter,
    }));
}

export async function startRenewals(client: df.DurableClient, context?: InvocationContext): Promise<number> {
  let started = 0;
  const registry = await getRegistry();
  for (const due of await dueForRenewal()) {
    const instanceId = `renew-${due.memberId}-${due.generation}`;
    const status = await client.getStatus(instanceId).catch(() => undefined);
    if (status?.runtimeStatus === 'Failed') {
      // The renewal failed for good and the certificate still runs out: the member and operators must act.
      const member = await registry.getMember(due.memberId);
      if (member)
        await notify(
          client,
          {
            kind: 'certificate.expiring',
            at: new Date(nowMs()).toISOString(),
            member: memberRef(member),
            serial: due.serial,
            notAfter: due.notAfter,
            error: {
              code: 'RENEWAL.FAILED',
              message: String(status.output ?? 'the renewal failed').slice(0, 300),
            },
          },
          context,
        );
    }
    if (status?.runtimeStatus) continue;
    await client.startNew(RENEW_ORCHESTRATOR, {
      instanceId,
      input: { memberId: due.memberId, generation: due.generation } satisfies RenewInput,
    });
    started++;
  }
  return started;
}

df.app.orchestration(RENEW_ORCHESTRATOR, renew);
df.app.activity(RENEW_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (input: RenewInput, context: InvocationContext) =>
    renewCertificate(input, df.getClient(context), context),
});
