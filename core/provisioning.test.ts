import fc from 'fast-check';
import { parseCidr } from './cidr';
import {
  certificateSerial,
  connectionName,
  deploymentName,
  gatewayParameters,
  gatewaySkuFor,
  needsResize,
  networkParameters,
  peerGatewayParameters,
  nodeParameters,
  p2pRulePriority,
  PlanError,
  sharedKeySecretName,
  subnetsOf,
  teardownStages,
  throwawaySshPublicKey,
  tunnelLimit,
  type ProvisionPlan,
} from './provisioning';

const plan: ProvisionPlan = {
  requestId: '6f1c2d3e-4b5a-4c6d-8e7f-001122334455',
  attempt: 0,
  bankId: 'bank-d',
  legalName: 'O=Bank D, L=Madrid, C=ES',
  profile: 'Medium',
  placement: {
    tenantId: '11111111-1111-4111-8111-111111111111',
    subscriptionId: '22222222-2222-4222-8222-222222222222',
    resourceGroup: 'rg-bank-d',
    region: 'westeurope',
    addressSpace: '10.4.0.0/16',
  },
  slot: 3,
  gatewaySku: 'VpnGw2AZ',
  peers: [
    {
      id: 'bank-a',
      subscriptionId: '33333333-3333-4333-8333-333333333333',
      resourceGroup: 'rg-bank-a',
      addressSpace: '10.1.0.0/16',
      region: 'uksouth',
    },
  ],
  dryRun: false,
  pollMs: 1000,
  retryWindow: 'P7D',
  done: {},
};

/** First and last address of any prefix (parseCidr takes VNet-sized spaces only). */
function range(text: string): { first: number; last: number } {
  const [ip, bits] = text.split('/');
  const first = ip!.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  return { first, last: first + 2 ** (32 - Number(bits)) - 1 };
}

describe('subnetsOf', () => {
  it('puts the node subnet in the first half and the GatewaySubnet in the last /27', () => {
    expect(subnetsOf('10.4.0.0/16')).toEqual({
      nodeSubnetPrefix: '10.4.0.0/17',
      gatewaySubnetPrefix: '10.4.255.224/27',
    });
    expect(subnetsOf('192.168.10.0/26')).toEqual({
      nodeSubnetPrefix: '192.168.10.0/27',
      gatewaySubnetPrefix: '192.168.10.32/27',
    });
  });

  it('keeps both subnets inside the space and apart, for every allowed prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 26 }), fc.integer({ min: 1, max: 223 }), (prefix, first) => {
        const base = ((first << 24) >>> 0) & (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
        const text = `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.${base & 255}/${prefix}`;
        // Spaces Azure refuses in a VNet (loopback; 168.63.129.16, its DNS and probe address; link-local).
        if ([127, 168, 169].includes(first)) return;
        const space = parseCidr(text);
        const { nodeSubnetPrefix, gatewaySubnetPrefix } = subnetsOf(text);
        const node = range(nodeSubnetPrefix);
        const gw = range(gatewaySubnetPrefix);
        for (const s of [node, gw]) expect(s.first >= space.first && s.last <= space.last).toBe(true);
        expect(node.last < gw.first).toBe(true);
      }),
    );
  });
});

describe('gatewaySkuFor', () => {
  it('sizes the gateway for N−1 tunnels, always generation 2, and refuses a mesh no gateway holds', () => {
    expect(gatewaySkuFor(2)).toBe('VpnGw2AZ');
    expect(gatewaySkuFor(31)).toBe('VpnGw2AZ');
    expect(gatewaySkuFor(32)).toBe('VpnGw4AZ');
    expect(gatewaySkuFor(101)).toBe('VpnGw4AZ');
    expect(() => gatewaySkuFor(102)).toThrow(PlanError);
  });

  it('always picks a gateway that holds the mesh', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 101 }), (n) => {
        expect(tunnelLimit(gatewaySkuFor(n))).toBeGreaterThanOrEqual(n - 1);
      }),
    );
  });
});

describe('tunnelLimit and needsResize', () => {
  it('knows the tunnels of every VPN SKU', () => {
    for (const sku of ['VpnGw1AZ', 'VpnGw2AZ', 'VpnGw3AZ', 'VpnGw1', 'VpnGw3'])
      expect(tunnelLimit(sku)).toBe(30);
    for (const sku of ['VpnGw4AZ', 'VpnGw5AZ', 'VpnGw4', 'VpnGw5']) expect(tunnelLimit(sku)).toBe(100);
    expect(tunnelLimit('Basic')).toBe(0);
    expect(tunnelLimit('VpnGw6AZ')).toBe(0);
  });

  it('resizes only a gateway that holds fewer tunnels than the required one, never shrinks', () => {
    expect(needsResize('VpnGw2AZ', 'VpnGw4AZ')).toBe(true);
    expect(needsResize('VpnGw1AZ', 'VpnGw4AZ')).toBe(true);
    expect(needsResize('VpnGw4AZ', 'VpnGw4AZ')).toBe(false);
    expect(needsResize('VpnGw5AZ', 'VpnGw4AZ')).toBe(false);
    expect(needsResize('VpnGw3AZ', 'VpnGw2AZ')).toBe(false);
    expect(needsResize(undefined, 'VpnGw4AZ')).toBe(true);
  });
});

describe('peerGatewayParameters', () => {
  it('builds a member’s gateway as it was built when it joined, with the new SKU', () => {
    const peer = { ...plan.peers[0]!, requestId: 'founder:bank-a' };
    const asBuilt = gatewayParameters({
      ...plan,
      requestId: 'founder:bank-a',
      bankId: 'bank-a',
      placement: { ...plan.placement, region: 'uksouth' },
    });
    expect(peerGatewayParameters(peer, 'VpnGw4AZ')).toEqual({ ...asBuilt, gatewaySku: 'VpnGw4AZ' });
    expect(peerGatewayParameters(peer, 'VpnGw4AZ')).toMatchObject({
      bankId: 'bank-a',
      location: 'uksouth',
      vnetName: 'vnet-bank-a',
      tags: { 'trustnet-member': 'bank-a', 'trustnet-request': 'founder:bank-a' },
    });
  });
});

describe('names', () => {
  it('derives deployment names from the request: stable, distinct per part, at most 64 characters', () => {
    expect(deploymentName(plan.requestId, 'network')).toBe(deploymentName(plan.requestId, 'network'));
    expect(deploymentName(plan.requestId, 'network')).not.toBe(deploymentName(plan.requestId, 'gateway'));
    expect(deploymentName('other', 'network')).not.toBe(deploymentName(plan.requestId, 'network'));
    const long = deploymentName(plan.requestId, `cn-${'x'.repeat(40)}-out`);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[A-Za-z0-9._()-]+$/);
  });

  it('names one shared key per pair, whichever side asks', () => {
    expect(sharedKeySecretName('bank-d', 'bank-a')).toBe(sharedKeySecretName('bank-a', 'bank-d'));
    expect(connectionName('bank-d', 'bank-a')).toBe('cn-bank-d-to-bank-a');
  });

  it('gives each slot its own NSG priority below the deny-internet rule', () => {
    expect(p2pRulePriority(0)).toBe(300);
    expect(p2pRulePriority(3699)).toBe(3999);
    expect(() => p2pRulePriority(3700)).toThrow(PlanError);
    expect(() => p2pRulePriority(-1)).toThrow(PlanError);
  });

  it('fixes certificate serials by request and generation, as positive 16-byte integers', () => {
    const s = certificateSerial(plan.requestId, 1);
    expect(s).toBe(certificateSerial(plan.requestId, 1));
    expect(s).not.toBe(certificateSerial(plan.requestId, 2));
    expect(s).toMatch(/^[0-7][0-9a-f]{31}$/);
  });
});

describe('template parameters', () => {
  it('admits the members already there and sizes the node from the profile', () => {
    expect(networkParameters(plan)).toMatchObject({
      bankId: 'bank-d',
      location: 'westeurope',
      memberAddressSpaces: ['10.1.0.0/16'],
      rpcSourceRanges: ['10.4.0.0/16'],
    });
    const node = nodeParameters(
      plan,
      { nodeSubnetId: 'subnet' },
      { vaultName: 'kv', identityId: 'id' },
      'ssh-rsa AAAA',
    );
    expect(node).toMatchObject({ capacity: 7, monitoring: true, nodeSubnetId: 'subnet', vaultName: 'kv' });
    expect(nodeParameters({ ...plan, profile: 'Small' }, {}, {}, 'k')).toMatchObject({
      capacity: 2,
      monitoring: false,
    });
  });
});

describe('teardownStages', () => {
  it('deletes connections first, the gateway before its VNet, and the NSG last', () => {
    const stages = teardownStages('bank-d', plan.placement, plan.peers, 'kv-bank-d-abc');
    const where = (fragment: string) => stages.findIndex((s) => s.some((r) => r.id.includes(fragment)));
    expect(where('/connections/cn-bank-d-to-bank-a')).toBe(0);
    expect(where('/connections/cn-bank-a-to-bank-d')).toBe(0);
    expect(stages[0]!.find((r) => r.id.includes('cn-bank-a-to-bank-d'))!.id).toContain(
      '/resourceGroups/rg-bank-a/',
    );
    expect(where('virtualMachineScaleSets')).toBeLessThan(where('loadBalancers'));
    expect(where('virtualNetworkGateways')).toBeLessThan(where('virtualNetworks/'));
    expect(where('publicIPAddresses')).toBeGreaterThan(where('virtualNetworkGateways'));
    expect(where('virtualNetworks/')).toBeLessThan(where('networkSecurityGroups'));
    expect(where('vaults/kv-bank-d-abc')).toBeGreaterThan(0);
  });

  it('skips the connection stage when there are no peers', () => {
    expect(teardownStages('bank-d', plan.placement, [])[0]![0]!.id).toContain('virtualMachineScaleSets');
  });
});

describe('throwawaySshPublicKey', () => {
  it('is an OpenSSH ssh-rsa public key whose wire format reads back', () => {
    const [kind, blob, comment] = throwawaySshPublicKey().split(' ');
    expect(kind).toBe('ssh-rsa');
    expect(comment).toBe('trustnet-no-login');
    const bytes = Buffer.from(blob!, 'base64');
    const fields: Buffer[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = bytes.readUInt32BE(at);
      fields.push(bytes.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    expect(fields).toHaveLength(3);
    expect(fields[0]!.toString()).toBe('ssh-rsa');
    expect(fields[1]!.toString('hex')).toBe('010001');
    expect(fields[2]!.length).toBe(385); // a leading zero and 3072 bits
  });
});
