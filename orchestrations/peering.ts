import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { DeploymentState } from '../azure/arm';
import {
  connectionParameters,
  deploymentName,
  gatewayIdOf,
  sharedKeySecretName,
  type Peer,
  type ProvisionPlan,
} from '../core/provisioning';
import { inChunks, inParallel } from '../runtime/parallel';
import { azureRetry, readDeployment, retriesExhausted, startDeployment, type DeployInput } from './deploy';
import { readAdmitPeer, startAdmitPeer, type StepError, type StepOutcome } from './provision-activities';
import { readPlatformSecret } from './vaults';
import type { PeerRun } from './provision';

/**
 * Peering the new bank with every member, in batches: for each member a connection each way and the
 * member's NSG rule for the new bank, started and then read between durable timers by activities that
 * each take PEERS_PER_ACTIVITY members. One sub-orchestration per member (provisionPeerV2) made every
 * poll round cost three activities per member still running, and a hundred instances to create and
 * replay: with 100 members the local machine spent the peering step's seconds on that bookkeeping, not
 * on Azure. Every operation looks before it acts, so a retried activity or a host restart starts nothing
 * twice.
 */
export const PEERS_START_ACTIVITY = 'provisionPeersStartV1';
export const PEERS_READ_ACTIVITY = 'provisionPeersReadV1';

/** Members per start or read activity: 100 members are 10 activities a round. */
export const PEERS_PER_ACTIVITY = 10;
/**
 * ARM calls an activity has in flight at once: both connections of each of its members (the NSG rules
 * follow as slots free up). With ten at a time each connection queued behind others' round trips
 * (shared key, write token, PUT), and at 100 members the starts spread over 2.4–3 s of the peering step.
 * The write budget still paces the writes.
 */
const CALLS_PER_ACTIVITY = PEERS_PER_ACTIVITY * 2;

/** The three operations that join one member to the new bank. */
type Part = 'there' | 'home' | 'rule';
const PARTS: readonly Part[] = ['there', 'home', 'rule'];

/** Where one member's operations stand: the two connection deployments and the NSG rule. */
export interface PeerProgress {
  id: string;
  there?: DeploymentState;
  home?: DeploymentState;
  rule?: StepOutcome;
}

interface PeersStartInput {
  plan: PeerRun;
  gatewayId: string;
  peers: Peer[];
}

interface PeersReadInput extends PeersStartInput {
  /** Per member (same order as `peers`), the parts still running. */
  parts: Part[][];
}

/** The two connections between the new bank and one member, as each side deploys them. */
export function connectionInputs(
  plan: PeerRun,
  peer: Peer,
  gatewayId: string,
  secretRef: string,
): { out: DeployInput; back: DeployInput } {
  const bank = { id: plan.bankId, region: plan.placement.region, gatewayId };
  const other = { id: peer.id, region: peer.region, gatewayId: gatewayIdOf(peer.id, peer) };
  // Connections are validated up front by the access step, so they start without a second validation.
  const input = (
    placement: DeployInput['placement'],
    part: string,
    parameters: Record<string, unknown>,
  ): DeployInput => ({
    placement,
    name: deploymentName(plan.requestId, part),
    template: 'vpn-connection',
    parameters: { ...parameters, sharedKey: { secretRef } },
    pollMs: plan.pollMs,
    validated: true,
  });
  return {
    out: input(plan.placement, `cn-${peer.id}-out`, connectionParameters(bank, other, '')),
    back: input(peer, `cn-${peer.id}-in`, connectionParameters(other, bank, '')),
  };
}

function running(p: PeerProgress, part: Part): boolean {
  if (part === 'rule') return p.rule?.ok === true && p.rule.outputs['state'] !== 'succeeded';
  return p[part]?.state === 'running';
}

function failure(p: PeerProgress): StepError | undefined {
  for (const d of [p.there, p.home]) if (d?.state === 'failed') return d.error;
  if (p.rule && !p.rule.ok) return p.rule.error;
  return undefined;
}

/**
 * Runs `part` of one member's peering: starting it, or reading it once. The pair's shared key is read
 * from the platform vault once for both connections (`keys`, per activity); it stays in the activity.
 */
async function operate(
  input: PeersStartInput,
  peer: Peer,
  connections: { out: DeployInput; back: DeployInput; secretRef: string },
  part: Part,
  start: boolean,
  keys: Map<string, Promise<string>>,
) {
  const admit = { plan: input.plan, peer };
  if (part === 'rule') return start ? startAdmitPeer(admit) : readAdmitPeer(admit);
  const d = part === 'there' ? connections.out : connections.back;
  if (!start) return readDeployment({ placement: d.placement, name: d.name });
  const { secretRef } = connections;
  let key = keys.get(secretRef);
  if (!key) keys.set(secretRef, (key = readPlatformSecret(secretRef)));
  let sharedKey: string;
  try {
    sharedKey = await key;
  } catch {
    // The start reads the key itself and reports the vault's failure as it always has.
    return startDeployment(d);
  }
  return startDeployment({ ...d, parameters: { ...d.parameters, sharedKey } });
}

async function progress(input: PeersStartInput, parts: readonly Part[][], start: boolean) {
  const out: PeerProgress[] = input.peers.map((p) => ({ id: p.id }));
  // Connections first: they take two minutes in Azure and end the step, a rule takes seconds.
  const work = PARTS.flatMap((part) =>
    input.peers.flatMap((peer, i) => (parts[i]!.includes(part) ? [{ i, peer, part }] : [])),
  );
  const keys = new Map<string, Promise<string>>();
  const connections = input.peers.map((peer) => {
    const secretRef = sharedKeySecretName(input.plan.bankId, peer.id);
    return { ...connectionInputs(input.plan, peer, input.gatewayId, secretRef), secretRef };
  });
  // A transient error throws out of the activity, and its retry runs the batch again: every start
  // looks before it acts, and reads change nothing.
  await inParallel(work, CALLS_PER_ACTIVITY, async ({ i, peer, part }) => {
    (out[i] as Record<Part, unknown>)[part] = await operate(input, peer, connections[i]!, part, start, keys);
  });
  return out;
}

export function startPeers(input: PeersStartInput): Promise<PeerProgress[]> {
  return progress(
    input,
    input.peers.map(() => [...PARTS]),
    true,
  );
}

export function readPeers(input: PeersReadInput): Promise<PeerProgress[]> {
  return progress(input, input.parts, false);
}

/**
 * The peering step's body: starts every member's operations, reads the running ones after each
 * `pollMs` until none runs, and ends with the first member's failure (in the plan's order) or success.
 * Members that failed are not read again; the others run to their end, so a retry finds them settled.
 */
export function* peerInBatches(
  context: OrchestrationContext,
  plan: ProvisionPlan,
  run: PeerRun,
  gatewayId: string,
): Generator<Task, StepOutcome, unknown> {
  const batches = inChunks(plan.peers, PEERS_PER_ACTIVITY);
  try {
    const started = (yield context.df.Task.all(
      batches.map((peers) =>
        context.df.callActivityWithRetry(PEERS_START_ACTIVITY, azureRetry, {
          plan: run,
          gatewayId,
          peers,
        } satisfies PeersStartInput),
      ),
    )) as PeerProgress[][];
    const progress = started.flat();
    for (;;) {
      const pending = plan.peers
        .map((peer, i) => ({ peer, i, parts: PARTS.filter((part) => running(progress[i]!, part)) }))
        .filter((p) => p.parts.length > 0 && !failure(progress[p.i]!));
      if (pending.length === 0) break;
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + plan.pollMs));
      const reads = inChunks(pending, PEERS_PER_ACTIVITY);
      const results = (yield context.df.Task.all(
        reads.map((batch) =>
          context.df.callActivityWithRetry(PEERS_READ_ACTIVITY, azureRetry, {
            plan: run,
            gatewayId,
            peers: batch.map((p) => p.peer),
            parts: batch.map((p) => p.parts),
          } satisfies PeersReadInput),
        ),
      )) as PeerProgress[][];
      reads.forEach((batch, b) =>
        batch.forEach((p, k) => {
          const read = results[b]![k]!;
          for (const part of p.parts) (progress[p.i] as Record<Part, unknown>)[part] = read[part];
        }),
      );
    }
    for (const p of progress) {
      const error = failure(p);
      if (error) return { ok: false, error };
    }
    return { ok: true, outputs: { peers: plan.peers.length } };
  } catch (e) {
    return { ok: false, error: retriesExhausted(e) };
  }
}

df.app.activity(PEERS_START_ACTIVITY, { handler: (input: PeersStartInput) => startPeers(input) });
df.app.activity(PEERS_READ_ACTIVITY, { handler: (input: PeersReadInput) => readPeers(input) });
