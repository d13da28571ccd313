import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AzureError } from '../azure/azure-error';
import {
  bankResourceNames,
  p2pRuleName,
  sharedKeySecretName,
  teardownStages,
  type DeletableResource,
  type Peer,
} from '../core/provisioning';
import type { AzurePlacement, Member } from '../core/membership';
import { getAudit, getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { azureRetry } from './deploy';
import { pollIntervalMs, recordStep } from './provision-activities';
import { getArm, getPlacements } from './provisioning-services';
import { deletePlatformSecret } from './vaults';

/**
 * Deletes what the platform built for a bank: its connections and NSG rules on every other member,
 * then its own resources stage by stage (Azure refuses to delete a gateway with connections, or a VNet
 * with a gateway in it), and revokes its node certificate. Used by an abandoned onboarding and by a
 * member's removal. Every stage is started by one activity and watched by another between timers.
 */
export const TEARDOWN_ORCHESTRATOR = 'teardownV1';
export const TEARDOWN_PLAN = 'teardownPlanV1';
export const TEARDOWN_START = 'teardownStartV1';
export const TEARDOWN_REMAINING = 'teardownRemainingV1';
export const TEARDOWN_RULES = 'teardownRulesV1';
export const TEARDOWN_FINISH = 'teardownFinishV1';
export const TEARDOWN_STEP = 'teardownStepV1';

export interface TeardownInput {
  requestId?: string;
  bankId: string;
  placement: AzurePlacement;
  peers: Peer[];
  reason: string;
  pollMs: number;
}

const teardown: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<TeardownInput>();
  if (input.requestId)
    yield context.df.callActivityWithRetry(TEARDOWN_STEP, azureRetry, {
      requestId: input.requestId,
      state: 'running',
    });
  yield context.df.callActivityWithRetry(TEARDOWN_RULES, azureRetry, input);
  const stageCount: number = yield context.df.callActivityWithRetry(TEARDOWN_PLAN, azureRetry, input);
  let deleted = 0;
  for (let i = 0; i < stageCount; i++) {
    let pending: DeletableResource[] = yield context.df.callActivityWithRetry(TEARDOWN_START, azureRetry, {
      input,
      stage: i,
    });
    deleted += pending.length;
    while (pending.length > 0) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + input.pollMs));
      pending = yield context.df.callActivityWithRetry(TEARDOWN_REMAINING, azureRetry, pending);
    }
  }
  yield context.df.callActivityWithRetry(TEARDOWN_FINISH, azureRetry, { input, deleted });
  if (input.requestId)
    yield context.df.callActivityWithRetry(TEARDOWN_STEP, azureRetry, {
      requestId: input.requestId,
      state: 'succeeded',
    });
  return { deleted };
};

async function stagesOf(input: TeardownInput): Promise<DeletableResource[][]> {
  const placement = await getPlacements().get(input.bankId);
  const vaultName = placement?.vaultUri ? new URL(placement.vaultUri).hostname.split('.')[0] : undefined;
  return teardownStages(input.bankId, input.placement, input.peers, vaultName);
}

export async function stageCount(input: TeardownInput): Promise<number> {
  return (await stagesOf(input)).length;
}

/** Starts deleting stage `stage`; answers the resources that were there and are going. */
export async function startStage(p: { input: TeardownInput; stage: number }): Promise<DeletableResource[]> {
  const stages = await stagesOf(p.input);
  const arm = getArm();
  const started: DeletableResource[] = [];
  for (const r of stages[p.stage] ?? []) if (await arm.startDelete(r.id, r.apiVersion)) started.push(r);
  return started;
}

export async function remaining(resources: DeletableResource[]): Promise<DeletableResource[]> {
  const arm = getArm();
  const left: DeletableResource[] = [];
  for (const r of resources) if (await arm.exists(r.id, r.apiVersion)) left.push(r);
  return left;
}

export async function removeRules(input: TeardownInput): Promise<void> {
  const arm = getArm();
  await Promise.all(
    input.peers.map((peer) =>
      arm.removeRule(peer, bankResourceNames(peer.id).nsg, p2pRuleName(input.bankId)).catch((e: unknown) => {
        // A member whose NSG is already gone has nothing to remove.
        if (e instanceof AzureError && e.code === 'AZURE.NOT_FOUND') return;
        throw e;
      }),
    ),
  );
}

export async function finish(p: { input: TeardownInput; deleted: number }): Promise<void> {
  const { input } = p;
  const placements = getPlacements();
  const placement = await placements.get(input.bankId);
  const audit = await getAudit();
  const at = () => new Date(nowMs());
  // The current certificate and any earlier one a renewal replaced: all of them go on the CRL.
  const serials = [
    ...(placement?.previousSerials ?? []),
    ...(placement?.certificate ? [placement.certificate.serial] : []),
  ];
  const revoked = new Set((await placements.revoked()).map((r) => r.serial));
  for (const serial of serials) {
    if (revoked.has(serial)) continue;
    await audit.append(
      {
        kind: 'certificate.revoked',
        subject: input.bankId,
        actor: 'platform',
        data: { memberId: input.bankId, serial, reason: input.reason },
      },
      at,
    );
    await placements.revoke({
      serial,
      memberId: input.bankId,
      revokedAt: at().toISOString(),
      reason: input.reason,
    });
  }
  for (const peer of input.peers) await deletePlatformSecret(sharedKeySecretName(input.bankId, peer.id));
  await audit.append(
    {
      kind: 'provisioning.torn-down',
      subject: input.bankId,
      actor: 'platform',
      data: {
        memberId: input.bankId,
        requestId: input.requestId ?? null,
        reason: input.reason,
        deleted: p.deleted,
      },
    },
    at,
  );
}

df.app.orchestration(TEARDOWN_ORCHESTRATOR, teardown);
df.app.activity(TEARDOWN_PLAN, { handler: stageCount });
df.app.activity(TEARDOWN_START, { handler: startStage });
df.app.activity(TEARDOWN_REMAINING, { handler: remaining });
df.app.activity(TEARDOWN_RULES, { handler: removeRules });
df.app.activity(TEARDOWN_FINISH, { handler: finish });
df.app.activity(TEARDOWN_STEP, {
  handler: (p: { requestId: string; state: 'running' | 'succeeded' }) =>
    recordStep({ requestId: p.requestId, step: 'teardown', state: p.state }),
});

/**
 * Starts tearing down a removed member (once per removal proposal): everything the platform built for
 * it, on its side and on every other member's.
 */
export async function startRemoval(
  client: df.DurableClient,
  member: Member,
  proposalId: string,
): Promise<void> {
  const instanceId = `${proposalId}:teardown`;
  const status = await client.getStatus(instanceId).catch(() => undefined);
  if (status?.runtimeStatus) return;
  const registry = await getRegistry();
  const peers: Peer[] = (await registry.allMembers())
    .filter((m) => m.id !== member.id && (m.status === 'ACTIVE' || m.status === 'SUSPENDED'))
    .map((m) => ({
      id: m.id,
      subscriptionId: m.azure.subscriptionId,
      resourceGroup: m.azure.resourceGroup,
      addressSpace: m.azure.addressSpace,
      region: m.azure.region,
    }));
  const input: TeardownInput = {
    bankId: member.id,
    placement: member.azure,
    peers,
    reason: `removed by proposal ${proposalId}`,
    pollMs: pollIntervalMs(),
  };
  await client.startNew(TEARDOWN_ORCHESTRATOR, { instanceId, input });
}
