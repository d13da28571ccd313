import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { armClients, armTestbed } from '../local/cloud/arm/testing';
import { gatewayParameters, networkParameters, type ProvisionPlan } from '../core/provisioning';
import { Arm } from './arm';
import { AzureError } from './azure-error';

/** The ARM adapter through the real SDKs against the local cloud's emulator. */
describe('Arm adapter', () => {
  const cs = () => process.env['AzureWebJobsStorage']!;
  const sub = '11111111-2222-4333-8444-555555555555';
  const where = { subscriptionId: sub, resourceGroup: 'rg-bank-x' };
  const plan = {
    requestId: 'r-1',
    bankId: 'bank-x',
    placement: { ...where, tenantId: sub, region: 'westeurope', addressSpace: '10.9.0.0/16' },
    peers: [],
  } as unknown as ProvisionPlan;

  function setup() {
    const bed = armTestbed(cs(), `armad${Date.now()}${Math.floor(Math.random() * 1e5)}`);
    const arm = new Arm({
      credential: new LocalCloudCredential(),
      httpClient: cloudHttpClient(bed.emulator.handle),
      retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
    });
    return { ...bed, arm };
  }

  async function caught(p: Promise<unknown>): Promise<AzureError> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(AzureError);
      return e as AzureError;
    }
    throw new Error('expected an AzureError');
  }

  it('tells a missing resource group from one the platform may not touch', async () => {
    const { arm, emulator } = setup();
    expect((await caught(arm.checkAccess(where))).code).toBe('ACCESS.RESOURCE_GROUP_NOT_FOUND');
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope', delegated: false });
    const denied = await caught(arm.checkAccess(where));
    expect(denied).toMatchObject({ code: 'ACCESS.DENIED', transient: false });
    expect(denied.azureCode).toBe('AuthorizationFailed');
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    await expect(arm.checkAccess(where)).resolves.toEqual({ location: 'westeurope' });
  });

  it('starts a deployment once, reads its outputs, and refuses bad parameters as ARM does', async () => {
    const { arm, emulator } = setup();
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    const params = networkParameters(plan);
    expect(await arm.deploymentState(where, 'tn-net')).toBeUndefined();
    await expect(arm.startDeployment(where, 'tn-net', 'member-network', params)).resolves.toMatchObject({
      state: 'running',
      started: true,
    });
    const done = await arm.deploymentState(where, 'tn-net');
    expect(done).toMatchObject({
      state: 'succeeded',
      outputs: { nsgName: 'nsg-bank-x', vnetName: 'vnet-bank-x' },
    });
    // Asked again (a replay): no second run.
    await arm.startDeployment(where, 'tn-net', 'member-network', params);
    expect(Object.values(emulator.stats().deploymentRuns)).toEqual([1]);

    const bad = await caught(
      arm.startDeployment(where, 'tn-bad', 'member-network', { ...params, bankId: 'x' }),
    );
    expect(bad.code).toBe('DEPLOY.INVALID_TEMPLATE');
    expect(bad.transient).toBe(false);
    expect(bad.azureCode).toBe('InvalidTemplate');
    expect(bad.message).toMatch(/bankId/);
    const missing = await caught(arm.validate(where, 'tn-bad', 'member-network', { bankId: 'bank-x' }));
    expect(missing).toMatchObject({ code: 'DEPLOY.INVALID_TEMPLATE', azureCode: 'InvalidTemplate' });
    expect(missing.message).toMatch(/addressSpace|not provided/);
    // Validation comes first: nothing was deployed under the bad name.
    expect(await arm.deploymentState(where, 'tn-bad')).toBeUndefined();
  });

  it('reports a quota failure inside a deployment with our code and Azure’s', async () => {
    const { arm, emulator, faults } = setup();
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    faults.set([{ operation: 'arm:deploy:Microsoft.Network/virtualNetworks', kind: 'quota' }]);
    await arm.startDeployment(where, 'tn-net', 'member-network', networkParameters(plan));
    expect(await arm.deploymentState(where, 'tn-net')).toMatchObject({
      state: 'failed',
      error: { code: 'DEPLOY.QUOTA_EXCEEDED', azureCode: 'QuotaExceeded' },
    });
    // A failed deployment is deployed again when asked (that is what a retry is for).
    await arm.startDeployment(where, 'tn-net', 'member-network', networkParameters(plan));
    expect(await arm.deploymentState(where, 'tn-net')).toMatchObject({ state: 'succeeded' });
  });

  it('lists planned changes, admits and removes NSG rules, deletes by id', async () => {
    const { arm, emulator } = setup();
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    const changes = await arm.whatIf(where, 'tn-net', 'member-network', networkParameters(plan));
    expect(changes.map((c) => c.changeType)).toContain('Create');
    await arm.startDeployment(where, 'tn-net', 'member-network', networkParameters(plan));
    await arm.admitP2p(where, 'nsg-bank-x', 'corda-p2p-bank-y', '10.20.0.0/16', 301);
    const snap = JSON.stringify((await emulator.snapshot()).resources.networkSecurityGroups);
    expect(snap).toContain('corda-p2p-bank-y');
    await arm.removeRule(where, 'nsg-bank-x', 'corda-p2p-bank-y');
    await arm.removeRule(where, 'nsg-bank-x', 'corda-p2p-bank-y');
    expect(JSON.stringify((await emulator.snapshot()).resources.networkSecurityGroups)).not.toContain(
      'bank-y',
    );
    const nsg = `/subscriptions/${sub}/resourceGroups/rg-bank-x/providers/Microsoft.Network/networkSecurityGroups/nsg-bank-x`;
    // The NSG is attached to the VNet's subnet: Azure refuses to delete it first.
    const inUse = await caught(arm.startDelete(nsg, '2026-01-01'));
    expect(inUse.transient).toBe(false);
  });

  it('starts an NSG rule without waiting for it, and reads it from applying to applied', async () => {
    // Realistic latencies on the emulator's own clock, which the test moves.
    const bed = armTestbed(cs(), `armadl${Date.now()}${Math.floor(Math.random() * 1e5)}`, {
      latencyFactor: 1,
    });
    const arm = new Arm({
      credential: new LocalCloudCredential(),
      httpClient: cloudHttpClient(bed.emulator.handle),
      retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
    });
    await bed.emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    // Validation would wait out Retry-After in real time on a clock that does not move by itself.
    await arm.startDeployment(where, 'tn-net', 'member-network', networkParameters(plan), {
      validated: true,
    });
    bed.clock.now += 3_600_000;
    expect(await arm.ruleState(where, 'nsg-bank-x', 'corda-p2p-bank-z')).toBe('missing');
    await arm.admitP2p(where, 'nsg-bank-x', 'corda-p2p-bank-z', '10.30.0.0/16', 302, 'accepted');
    expect(await arm.ruleState(where, 'nsg-bank-x', 'corda-p2p-bank-z')).toBe('running');
    bed.clock.now += 60_000;
    expect(await arm.ruleState(where, 'nsg-bank-x', 'corda-p2p-bank-z')).toBe('succeeded');
    const snap = JSON.stringify((await bed.emulator.snapshot()).resources.networkSecurityGroups);
    expect(snap).toContain('10.30.0.0/16');
    // A refusal on submit is the adapter's typed error, not an SDK one.
    const refused = await caught(
      arm.admitP2p(where, 'nsg-missing', 'corda-p2p-bank-z', '10.30.0.0/16', 302, 'accepted'),
    );
    expect(refused.transient).toBe(false);
  });

  it('reads and sets a scale set capacity, and puts, finds and deletes its monitoring extension', async () => {
    const { arm, emulator } = setup();
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    expect(await arm.getCapacity(where, 'vmss-bank-x')).toBeUndefined();
    await armClients(emulator, sub).compute.virtualMachineScaleSets.createOrUpdate(
      where.resourceGroup,
      'vmss-bank-x',
      {
        location: 'westeurope',
        sku: { name: 'Standard_D4s_v5', capacity: 2 },
      },
    );
    expect(await arm.getCapacity(where, 'vmss-bank-x')).toMatchObject({ capacity: 2 });
    await arm.setCapacity(where, 'vmss-bank-x', 7);
    expect(await arm.getCapacity(where, 'vmss-bank-x')).toMatchObject({ capacity: 7 });
    await arm.startCapacity(where, 'vmss-bank-x', 15);
    expect(await arm.getCapacity(where, 'vmss-bank-x')).toMatchObject({
      capacity: 15,
      provisioningState: 'Succeeded',
    });

    expect(await arm.hasScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent')).toBe(false);
    expect(await arm.deleteScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent')).toBe(false);
    await arm.putScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent', {
      publisher: 'Microsoft.Azure.Monitor',
      type: 'AzureMonitorLinuxAgent',
      typeHandlerVersion: '1.0',
    });
    expect(await arm.hasScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent')).toBe(true);
    expect(await arm.deleteScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent')).toBe(true);
    expect(await arm.hasScaleSetExtension(where, 'vmss-bank-x', 'AzureMonitorLinuxAgent')).toBe(false);
  });
  it('reads a gateway’s SKU and generation; no gateway is undefined; a group it may not read is an error', async () => {
    const { arm, emulator } = setup();
    await emulator.prepareResourceGroup({ ...where, location: 'westeurope' });
    expect(await arm.gatewaySku(where, 'vgw-bank-x')).toBeUndefined();
    await arm.startDeployment(where, 'tn-net', 'member-network', networkParameters(plan));
    await arm.startDeployment(where, 'tn-gw', 'member-gateway', {
      ...gatewayParameters({ ...plan, gatewaySku: 'VpnGw2AZ' } as ProvisionPlan),
    });
    expect(await arm.deploymentState(where, 'tn-gw')).toMatchObject({ state: 'succeeded' });
    await expect(arm.gatewaySku(where, 'vgw-bank-x')).resolves.toEqual({
      sku: 'VpnGw2AZ',
      generation: 'Generation2',
      provisioningState: 'Succeeded',
    });
    const other = { subscriptionId: sub, resourceGroup: 'rg-not-delegated' };
    await emulator.prepareResourceGroup({ ...other, location: 'westeurope', delegated: false });
    expect(await caught(arm.gatewaySku(other, 'vgw-bank-x'))).toMatchObject({
      code: 'AZURE.FORBIDDEN',
      azureCode: 'AuthorizationFailed',
    });
    const missing = await caught(arm.gatewaySku({ subscriptionId: sub, resourceGroup: 'rg-none' }, 'vgw-x'));
    expect(missing.azureCode).toBe('ResourceGroupNotFound');
  });
});
