import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { armClients, armTestbed } from './testing';

/**
 * The platform's real templates (bicep/compiled/*.json, the ARM twins of the Bicep files) deployed
 * through the SDK, in the order provisioning runs them, for two banks that then peer over VPN.
 */

const dir = join(__dirname, '..', '..', '..', 'bicep', 'compiled');
const template = (name: string): unknown => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
const deployed = new Set<string>();

const bed = armTestbed(process.env['AzureWebJobsStorage']!, `ArmTpl${Date.now().toString(36)}`);
const emulator = bed.emulator;
const PLATFORM_TENANT = '0f6c1c4e-1111-4a6b-9c3d-2b4e6f8a0c1e';
const PLATFORM_PRINCIPAL = '6a1c8e0b-2222-4d5e-8f9a-0b1c2d3e4f5a';

type Outputs = Record<string, { type?: string; value?: unknown }>;

interface Bank {
  id: string;
  subscriptionId: string;
  tenantId: string;
  resourceGroup: string;
  location: string;
  addressSpace: string;
  clients: ReturnType<typeof armClients>;
  outputs: Record<string, Outputs>;
}

function bank(id: string, n: number): Bank {
  const subscriptionId = `${n}${n}${n}${n}${n}${n}${n}${n}-0000-4000-8000-00000000000${n}`;
  return {
    id,
    subscriptionId,
    tenantId: `${n}${n}${n}${n}${n}${n}${n}${n}-1111-4000-8000-00000000000${n}`,
    resourceGroup: `rg-trustnet-${id}`,
    location: n === 1 ? 'uksouth' : 'germanywestcentral',
    addressSpace: `10.${n}.0.0/16`,
    clients: armClients(emulator, subscriptionId),
    outputs: {},
  };
}

const a = bank('bank-a', 1);
const b = bank('bank-b', 2);

async function deploy(who: Bank, name: string, parameters: Record<string, unknown>): Promise<Outputs> {
  deployed.add(name);
  const result = await who.clients.deployments.deployments
    .createOrUpdate(who.resourceGroup, `${name}-${who.id}`, {
      properties: {
        mode: 'Incremental',
        template: template(name),
        parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v }])),
      },
    })
    .pollUntilDone();
  expect(result.properties?.provisioningState).toBe('Succeeded');
  const outputs = (result.properties?.outputs ?? {}) as Outputs;
  who.outputs[name] = outputs;
  await expectIdsStored(who, outputs);
  return outputs;
}

/** Every output that is a resource id names a resource GET finds (the other outputs are checked below). */
async function expectIdsStored(who: Bank, outputs: Outputs): Promise<void> {
  const ids = Object.values(outputs)
    .map((o) => o.value)
    .filter((v): v is string => typeof v === 'string' && v.startsWith('/subscriptions/'));
  expect(ids.length).toBeGreaterThan(0);
  for (const id of ids) {
    const found = await who.clients.resources.resources.getById(id, '2024-01-01');
    expect(found.id?.toLowerCase()).toBe(id.toLowerCase());
  }
}

const out = (who: Bank, name: string, key: string): string => {
  const v = who.outputs[name]?.[key]?.value;
  if (typeof v !== 'string') throw new Error(`${name} has no string output ${key}`);
  return v;
};

describe('the platform templates deploy through the SDK', () => {
  test.each([a, b])(
    '$id delegates its resource group with delegation.json (subscription scope)',
    async (who) => {
      await emulator.prepareResourceGroup({
        subscriptionId: who.subscriptionId,
        resourceGroup: who.resourceGroup,
        location: who.location,
        tenantId: who.tenantId,
        delegated: false,
      });
      await expect(who.clients.resources.resourceGroups.get(who.resourceGroup)).rejects.toMatchObject({
        statusCode: 403,
        code: 'AuthorizationFailed',
      });
      deployed.add('delegation');
      const result = await who.clients.deployments.deployments
        .createOrUpdateAtSubscriptionScope('trustnet-delegation', {
          location: who.location,
          properties: {
            mode: 'Incremental',
            template: template('delegation'),
            parameters: {
              managedByTenantId: { value: PLATFORM_TENANT },
              platformPrincipalId: { value: PLATFORM_PRINCIPAL },
              resourceGroupName: { value: who.resourceGroup },
            },
          },
        })
        .pollUntilDone();
      expect(result.properties?.provisioningState).toBe('Succeeded');
      const outputs = result.properties?.outputs as Outputs;
      await expectIdsStored(who, outputs);
      expect(String(outputs['registrationAssignmentId']?.value)).toContain(
        `/resourceGroups/${who.resourceGroup}/`,
      );
      expect((await who.clients.resources.resourceGroups.get(who.resourceGroup)).name).toBe(
        who.resourceGroup,
      );
    },
  );

  test.each([
    { who: a, other: b },
    { who: b, other: a },
  ])('$who.id gets its network, gateway, vault and node', async ({ who, other }) => {
    const net = await deploy(who, 'member-network', {
      bankId: who.id,
      addressSpace: who.addressSpace,
      nodeSubnetPrefix: who.addressSpace.replace('0.0/16', '1.0/24'),
      gatewaySubnetPrefix: who.addressSpace.replace('0.0/16', '255.0/27'),
      memberAddressSpaces: [other.addressSpace],
      rpcSourceRanges: ['192.168.10.0/24'],
    });
    expect(net['vnetName']?.value).toBe(`vnet-${who.id}`);
    expect(net['nsgName']?.value).toBe(`nsg-${who.id}`);
    const nsg = await who.clients.network.networkSecurityGroups.get(who.resourceGroup, `nsg-${who.id}`);
    expect(nsg.securityRules?.map((r) => r.name)).toEqual(
      expect.arrayContaining(['corda-p2p-members', 'corda-rpc-own']),
    );

    const gw = await deploy(who, 'member-gateway', {
      bankId: who.id,
      vnetName: out(who, 'member-network', 'vnetName'),
      gatewaySku: 'VpnGw1AZ',
    });
    expect(gw['gatewayName']?.value).toBe(String(gw['gatewayId']?.value).split('/').pop());
    const gateway = await who.clients.network.virtualNetworkGateways.get(
      who.resourceGroup,
      String(gw['gatewayName']?.value),
    );
    expect(gateway.provisioningState).toBe('Succeeded');

    const vault = await deploy(who, 'member-vault', {
      bankId: who.id,
      platformPrincipalId: PLATFORM_PRINCIPAL,
      nodeSubnetId: out(who, 'member-network', 'nodeSubnetId'),
    });
    expect(vault['vaultUri']?.value).toBe(`https://${String(vault['vaultName']?.value)}.vault.azure.net/`);
    expect(String(vault['vaultName']?.value).length).toBeLessThanOrEqual(24);
    expect(vault['identityClientId']?.value).toMatch(/^[0-9a-f-]{36}$/);
    expect(vault['identityPrincipalId']?.value).toMatch(/^[0-9a-f-]{36}$/);
    expect(vault['identityPrincipalId']?.value).not.toBe(vault['identityClientId']?.value);

    const node = await deploy(who, 'member-node', {
      bankId: who.id,
      capacity: 2,
      monitoring: true,
      nodeSubnetId: out(who, 'member-network', 'nodeSubnetId'),
      backendPoolId: out(who, 'member-vault', 'backendPoolId'),
      identityId: out(who, 'member-vault', 'identityId'),
      identityClientId: out(who, 'member-vault', 'identityClientId'),
      vaultName: out(who, 'member-vault', 'vaultName'),
      certificateName: `${who.id}-node`,
      legalName: `O=${who.id}, L=London, C=GB`,
      adminSshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq2B1sTESTKEYONLY trustnet@test',
    });
    const vmss = await who.clients.compute.virtualMachineScaleSets.get(
      who.resourceGroup,
      String(node['scaleSetName']?.value),
    );
    expect(vmss.sku?.capacity).toBe(2);
    const customData = Buffer.from(
      String(vmss.virtualMachineProfile?.osProfile?.customData),
      'base64',
    ).toString();
    expect(customData).toContain(`O=${who.id}, L=London, C=GB`);
    expect(customData).toContain(String(vault['vaultUri']?.value).replace(/\/$/, ''));
    // The node reaches peers through the load balancer's frontend, an address Azure gives in the node subnet.
    const lb = await who.clients.network.loadBalancers.get(
      who.resourceGroup,
      String(vault['loadBalancerId']?.value).split('/').pop()!,
    );
    const frontend = lb.frontendIPConfigurations?.[0]?.privateIPAddress;
    expect(frontend).toMatch(
      new RegExp(`^${who.addressSpace.split('.').slice(0, 2).join('\\.')}\\.1\\.\\d+$`),
    );
    expect(customData).toContain(String(frontend));
  });

  test('a VNet-to-VNet pair deploys with vpn-connection.json, one each way, and connects', async () => {
    const key = 'k'.repeat(16) + 'K'.repeat(16);
    const gwA = out(a, 'member-gateway', 'gatewayId');
    const gwB = out(b, 'member-gateway', 'gatewayId');
    await deploy(a, 'vpn-connection', {
      connectionName: 'cn-bank-a-to-bank-b',
      localGatewayId: gwA,
      remoteGatewayId: gwB,
      sharedKey: key,
    });
    const half = await a.clients.network.virtualNetworkGatewayConnections.get(
      a.resourceGroup,
      'cn-bank-a-to-bank-b',
    );
    expect(half.connectionStatus).toBe('Connecting');
    expect(JSON.stringify(half)).not.toContain(key);
    await deploy(b, 'vpn-connection', {
      connectionName: 'cn-bank-b-to-bank-a',
      localGatewayId: gwB,
      remoteGatewayId: gwA,
      sharedKey: key,
    });
    for (const [who, name] of [
      [a, 'cn-bank-a-to-bank-b'],
      [b, 'cn-bank-b-to-bank-a'],
    ] as const) {
      const c = await who.clients.network.virtualNetworkGatewayConnections.get(who.resourceGroup, name);
      expect(c.connectionStatus).toBe('Connected');
    }
    const snap = await emulator.snapshot();
    expect(snap.resources.connections.map((c) => c.connectionStatus)).toEqual(['Connected', 'Connected']);
    expect(JSON.stringify(snap)).not.toContain(key);
  });

  test('no template the platform deploys at run time is left out', () => {
    // platform.json is the platform itself, deployed by operators with azd or az (bicep/platform.test.ts).
    const all = readdirSync(dir)
      .filter((f) => f.endsWith('.json') && f !== 'platform.json')
      .map((f) => f.replace(/\.json$/, ''));
    expect([...deployed].sort()).toEqual(all.sort());
  });
});
