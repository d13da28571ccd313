import { randomBytes } from 'node:crypto';
import { Arm, type Placement } from '../../azure/arm';
import {
  connectionParameters,
  deploymentName,
  gatewayIdOf,
  gatewayParameters,
  gatewaySkuFor,
  networkParameters,
  nodeParameters,
  throwawaySshPublicKey,
  vaultParameters,
  type ProvisionPlan,
  type TemplateName,
} from '../../core/provisioning';
import type { ConsortiumConfig } from '../../runtime/consortium';
import { cloudHttpClient, LocalCloudCredential } from './http';
import type { LocalCloud } from './index';

/**
 * The founders' nodes, built in the local cloud at its first start so a new bank has someone to peer
 * with: each founder's resource group (delegated), network, gateway, vault and scale set, and a VPN
 * connection each way between every pair. Built with the platform's own templates and ARM adapter;
 * a founder whose resource group already exists is left alone, so a restart builds nothing twice.
 */

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function deploy(
  arm: Arm,
  p: Placement,
  name: string,
  template: TemplateName,
  parameters: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await arm.startDeployment(p, name, template, parameters);
  for (;;) {
    const state = await arm.deploymentState(p, name);
    if (state?.state === 'succeeded') return state.outputs;
    if (!state || state.state === 'failed')
      throw new Error(
        `Local cloud: founder deployment ${name} failed: ${state ? state.error.message : 'missing'}`,
      );
    await sleep(50);
  }
}

export async function buildFounders(
  cloud: LocalCloud,
  config: ConsortiumConfig,
  platformPrincipalId: string,
): Promise<{ built: string[] }> {
  const emulator = cloud.arm;
  const arm = new Arm({ credential: new LocalCloudCredential(), httpClient: cloudHttpClient(cloud.handle) });
  const built: string[] = [];
  const fresh = [];
  for (const f of config.members) {
    const exists = await arm.checkAccess(f.azure).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await emulator.prepareResourceGroup({
      subscriptionId: f.azure.subscriptionId,
      resourceGroup: f.azure.resourceGroup,
      location: f.azure.region,
      tenantId: f.azure.tenantId,
      delegated: true,
    });
    fresh.push(f);
  }
  const gateways = new Map<string, string>();
  await Promise.all(
    fresh.map(async (f) => {
      const plan: ProvisionPlan = {
        requestId: `founder:${f.id}`,
        attempt: 0,
        bankId: f.id,
        legalName: f.legalName,
        profile: f.profile,
        placement: f.azure,
        slot: config.members.indexOf(f),
        gatewaySku: gatewaySkuFor(config.members.length),
        peers: config.members
          .filter((o) => o.id !== f.id)
          .map((o) => ({ id: o.id, ...o.azure, region: o.azure.region })),
        dryRun: false,
        pollMs: 50,
        retryWindow: 'P7D',
        done: {},
      };
      const name = (part: string) => deploymentName(plan.requestId, part);
      const network = await deploy(arm, f.azure, name('network'), 'member-network', networkParameters(plan));
      const [gateway] = await Promise.all([
        deploy(arm, f.azure, name('gateway'), 'member-gateway', gatewayParameters(plan)),
        (async () => {
          const vault = await deploy(
            arm,
            f.azure,
            name('vault'),
            'member-vault',
            vaultParameters(plan, network, platformPrincipalId),
          );
          await deploy(
            arm,
            f.azure,
            name('node'),
            'member-node',
            nodeParameters(plan, network, vault, throwawaySshPublicKey()),
          );
        })(),
      ]);
      gateways.set(f.id, String(gateway['gatewayId']));
      built.push(f.id);
    }),
  );
  // A connection each way between every pair of founders built now; each pair's key made here.
  const keys = new Map<string, string>();
  for (const a of fresh)
    for (const b of config.members) {
      if (a.id === b.id) continue;
      const from = {
        id: a.id,
        region: a.azure.region,
        gatewayId: gateways.get(a.id) ?? gatewayIdOf(a.id, a.azure),
      };
      const to = { id: b.id, gatewayId: gateways.get(b.id) ?? gatewayIdOf(b.id, b.azure) };
      const pair = [a.id, b.id].sort().join('|');
      if (!keys.has(pair)) keys.set(pair, randomBytes(48).toString('base64url'));
      const key = keys.get(pair)!;
      await deploy(
        arm,
        a.azure,
        deploymentName(`founder:${a.id}`, `cn-${b.id}-out`),
        'vpn-connection',
        connectionParameters(from, to, key),
      );
    }
  return { built };
}
