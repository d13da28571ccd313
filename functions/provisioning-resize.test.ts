import { Arm } from '../azure/arm';
import { connectionParameters, deploymentName, gatewayIdOf } from '../core/provisioning';
import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { json, type Json } from '../test/http';
import { applicantPayload, startTrustNet, testConsortium } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

// 31 founders built in the local cloud, then whole onboardings across them.
jest.setTimeout(240_000);

/**
 * A consortium outgrowing its gateways: 31 members fill every VpnGw2AZ gateway's 30 tunnels; the 32nd
 * member's onboarding resizes each member's gateway in place to VpnGw4AZ beside its own gateway, then
 * peers with all of them.
 */
describe('gateways grow with the consortium (31 founders, local cloud)', () => {
  let host: Host;
  let c: Awaited<ReturnType<typeof testConsortium>>;
  let arm: Arm;
  const founders = Array.from({ length: 31 }, (_, i) => `bank-${String(i).padStart(2, '0')}`);
  // A majority: 16 of 31 founders; 17 once the 32nd member has joined.
  const voters = (members: number) => founders.slice(0, Math.floor(members / 2) + 1);
  const gateways = async (): Promise<Json[]> =>
    (await json(await host.admin('/admin/cloud/resources'))).resources.gateways as Json[];
  const gatewayOf = (all: Json[], id: string) => all.find((g) => g.name === `vgw-${id}`);

  beforeAll(async () => {
    c = await testConsortium({}, founders);
    host = await startTrustNet(c);
    arm = new Arm({ credential: new LocalCloudCredential(), httpClient: cloudHttpClient(host.cloud.handle) });
  });
  afterAll(() => host?.stop());

  it('builds the founders on VpnGw2AZ (generation 2), each gateway full at 30 tunnels', async () => {
    const all = await gateways();
    expect(all).toHaveLength(31);
    for (const g of all)
      expect(g).toMatchObject({
        sku: { name: 'VpnGw2AZ' },
        generation: 'Generation2',
        connections: 30,
        tunnelLimit: 30,
      });
  });

  it('without a resize, a full gateway refuses a 31st connection as Azure does', async () => {
    const a = c.config.members[0]!;
    const b = c.config.members[1]!;
    const name = deploymentName('probe', 'cn-31st');
    // A second connection from bank-00 to bank-01 under another name: a 31st tunnel on bank-00's gateway.
    const params = {
      ...connectionParameters(
        { id: a.id, region: a.azure.region, gatewayId: gatewayIdOf(a.id, a.azure) },
        { id: b.id, gatewayId: gatewayIdOf(b.id, b.azure) },
        'k'.repeat(48),
      ),
      connectionName: 'cn-probe-31st',
    };
    await arm.startDeployment(a.azure, name, 'vpn-connection', params);
    expect(await arm.deploymentState(a.azure, name)).toMatchObject({
      state: 'failed',
      error: { azureCode: 'VirtualNetworkGatewayConnectionLimitReached' },
    });
    expect(gatewayOf(await gateways(), a.id)).toMatchObject({ connections: 30 });
  });

  it('a dry run of the 32nd member lists each member’s gateway resize in the gateway step’s planned changes', async () => {
    process.env['TRUSTNET_DRY_RUN'] = 'true';
    try {
      const azure = {
        ...applicantPayload(c.config.name, host.now()).applicant.azure,
        resourceGroup: 'rg-bank-z',
        addressSpace: '10.70.0.0/16',
      };
      const { id } = await host.applyAndApprove(
        { id: 'bank-z', legalName: 'O=Bank Z, L=Oslo, C=NO', azure },
        { voters: voters(31) },
      );
      const status = await host.until(
        'every step done',
        () => host.request(id),
        (r) =>
          r.steps?.length > 0 && (r.steps as Json[]).every((s) => !['pending', 'running'].includes(s.state)),
      );
      const gateway = (status.steps as Json[]).find((s) => s.name === 'gateway');
      expect(gateway.state).toBe('skipped');
      const modified = (gateway.changes as Json[])
        .filter((ch) => ch.changeType === 'Modify')
        .map((ch) => String(ch.resourceId).split('/').pop());
      expect(modified.sort()).toEqual(founders.map((f) => `vgw-${f}`));
      expect(gateway.changes).toContainEqual({
        resourceId: expect.stringMatching(/virtualNetworkGateways\/vgw-bank-z$/),
        changeType: 'Create',
      });
    } finally {
      delete process.env['TRUSTNET_DRY_RUN'];
    }
    // Nothing was resized.
    for (const g of await gateways()) expect(g.sku).toMatchObject({ name: 'VpnGw2AZ' });
  });

  it('the 32nd member resizes every member’s gateway to VpnGw4AZ in place, then peers with all', async () => {
    const { id } = await host.applyAndApprove({}, { voters: voters(31) });
    const done = await host.phase(id, ['active', 'failed']);
    // The whole status on a failure: which step, which code.
    expect({ phase: done.phase, steps: done.steps }).toMatchObject({ phase: 'active' });
    expect((await host.member('bank-d')).status).toBe('ACTIVE');
    const all = await gateways();
    expect(all).toHaveLength(32);
    for (const g of all) {
      expect(g).toMatchObject({ sku: { name: 'VpnGw4AZ' }, generation: 'Generation2', tunnelLimit: 100 });
      expect(g.connections).toBe(31);
      expect(g.connections).toBeLessThanOrEqual(g.tunnelLimit);
    }
    // In place: the same gateways (no delete), each resized by one deployment under the joiner's request.
    const runs = host.cloud.arm.stats().deploymentRuns;
    const resizes = Object.entries(runs).filter(([k]) => k.endsWith(deploymentName(id, 'gw-resize-bank-00')));
    expect(resizes).toEqual([[expect.stringContaining('/resourceGroups/rg-bank-00/'), 1]]);
    for (const f of founders)
      expect(Object.keys(runs).some((k) => k.endsWith(`/${deploymentName(id, `gw-resize-${f}`)}`))).toBe(
        true,
      );
    const step = (done.steps as Json[]).find((s) => s.name === 'gateway');
    expect(step).toMatchObject({ state: 'succeeded' });
  });

  it('a generation 1 VpnGw1AZ member gateway cannot be resized: the gateway step fails naming the member', async () => {
    // bank-05's gateway as an older platform built it: VpnGw1AZ, generation 1 (rebuilt here directly in
    // the local cloud: its connections and gateway deleted, the gateway created again as Gen1).
    const old = c.config.members[5]!;
    const cloud = await json(await host.admin('/admin/cloud/resources'));
    const gatewayId = gatewayIdOf(old.id, old.azure).toLowerCase();
    const mine = (cloud.resources.connections as Json[]).filter((x) =>
      [x.gateway1, x.gateway2].some((g) => String(g).toLowerCase() === gatewayId),
    );
    for (const x of mine) await arm.startDelete(String(x.id), '2026-01-01');
    await arm.startDelete(gatewayIdOf(old.id, old.azure), '2026-01-01');
    const rebuild = deploymentName('legacy', `gw-${old.id}`);
    await arm.startDeployment(old.azure, rebuild, 'member-gateway', {
      bankId: old.id,
      location: old.azure.region,
      vnetName: `vnet-${old.id}`,
      gatewaySku: 'VpnGw1AZ',
    });
    expect(await arm.deploymentState(old.azure, rebuild)).toMatchObject({ state: 'succeeded' });
    expect(gatewayOf(await gateways(), old.id)).toMatchObject({
      sku: { name: 'VpnGw1AZ' },
      generation: 'Generation1',
    });

    const azure = {
      ...applicantPayload(c.config.name, host.now()).applicant.azure,
      addressSpace: '10.50.0.0/16',
    };
    const { id } = await host.applyAndApprove(
      { id: 'bank-e', legalName: 'O=Bank E, L=Rome, C=IT', azure, profile: 'Small' },
      { voters: voters(32) },
    );
    const failed = await host.phase(id, ['failed', 'active']);
    expect(failed.phase).toBe('failed');
    const step = (failed.steps as Json[]).find((s) => s.name === 'gateway');
    expect(step).toMatchObject({
      state: 'failed',
      error: {
        azureCode: 'CrossSeriesOrCrossGatewayGenenrationResizeNotSupported',
        member: old.id,
        message: expect.stringContaining(old.id),
      },
    });
    // Only the gateway still too small was listed: the others are VpnGw4AZ since the 32nd joined.
    const resized = founders.filter((f) =>
      Object.keys(host.cloud.arm.stats().deploymentRuns).some((k) =>
        k.endsWith(`/${deploymentName(id, `gw-resize-${f}`)}`),
      ),
    );
    expect(resized).toEqual([old.id]);
    // Untouched, and nothing peered: peering starts only after the gateway step.
    expect(gatewayOf(await gateways(), old.id)).toMatchObject({ sku: { name: 'VpnGw1AZ' } });
    expect((failed.steps as Json[]).find((s) => s.name === 'peering')).toMatchObject({ state: 'pending' });
  });
});
