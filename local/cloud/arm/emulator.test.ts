import type { Deployment } from '@azure/arm-resourcesdeployments';
import type { CloudRequest } from '../http';
import { armClients, armTestbed } from './testing';

/** The ARM emulator through the real SDK clients (and, where the SDK hides a detail, through raw calls). */

const cs = process.env['AzureWebJobsStorage']!;
let seq = 0;
const prefix = () => `ArmEmu${Date.now().toString(36)}${seq++}`;
const SUB = '5e1f0000-0000-4000-8000-0000000000a1';
const LOC = 'westeurope';
const ARM = 'https://management.azure.com';

type Template = Record<string, unknown>;

const nsg = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'Microsoft.Network/networkSecurityGroups',
  apiVersion: '2024-05-01',
  name,
  location: '[resourceGroup().location]',
  properties: { securityRules: [] },
  ...extra,
});

const vnet = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'Microsoft.Network/virtualNetworks',
  apiVersion: '2024-05-01',
  name,
  location: '[resourceGroup().location]',
  properties: {
    addressSpace: { addressPrefixes: ['10.9.0.0/16'] },
    subnets: [
      { name: 'node', properties: { addressPrefix: '10.9.1.0/24' } },
      { name: 'GatewaySubnet', properties: { addressPrefix: '10.9.255.0/27' } },
    ],
  },
  ...extra,
});

const vmss = (name: string, capacity: unknown) => ({
  type: 'Microsoft.Compute/virtualMachineScaleSets',
  apiVersion: '2024-07-01',
  name,
  location: '[resourceGroup().location]',
  sku: { name: 'Standard_D4s_v5', capacity },
  properties: { orchestrationMode: 'Uniform' },
});

const body = (template: Template, parameters: Record<string, unknown> = {}): Deployment => ({
  properties: {
    mode: 'Incremental',
    template: { $schema: 'x', contentVersion: '1.0.0.0', ...template },
    parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v }])),
  },
});

function raw(method: string, path: string, json?: unknown, auth = true): CloudRequest {
  const url = new URL(path.startsWith('http') ? path : `${ARM}${path}`);
  if (!url.searchParams.has('api-version')) url.searchParams.set('api-version', '2025-04-01');
  return {
    method,
    url,
    headers: auth ? { authorization: 'Bearer t' } : {},
    text: json === undefined ? undefined : JSON.stringify(json),
    json,
  };
}

async function setup(opts: Parameters<typeof armTestbed>[2] = {}, rg = 'rg1') {
  const bed = armTestbed(cs, prefix(), opts);
  await bed.emulator.prepareResourceGroup({ subscriptionId: SUB, resourceGroup: rg, location: LOC });
  return { ...bed, arm: armClients(bed.emulator, SUB) };
}

describe('requests', () => {
  test('need a bearer token, an api-version and a route the emulator knows', async () => {
    const { emulator } = await setup();
    const noToken = await emulator.handle(
      raw('GET', `/subscriptions/${SUB}/resourcegroups/rg1`, undefined, false),
    );
    expect(noToken.status).toBe(401);
    expect(noToken).toMatchObject({ body: { error: { code: 'AuthenticationFailed' } } });
    const req = raw('GET', `/subscriptions/${SUB}/resourcegroups/rg1`);
    req.url.searchParams.delete('api-version');
    expect(await emulator.handle(req)).toMatchObject({
      status: 400,
      body: { error: { code: 'MissingApiVersionParameter' } },
    });
    const action = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworkGateways/gw/reset`;
    const unknown = await emulator.handle(raw('POST', action, {}));
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toContain(action);
    expect((await emulator.handle(raw('GET', '/providers/Microsoft.Web/sites'))).status).toBe(404);
  });
});

describe('resource groups', () => {
  test('missing is 404, not delegated is 403 to every call under it, delegated works', async () => {
    const { emulator, arm } = await setup();
    await expect(arm.resources.resourceGroups.get('rg-none')).rejects.toMatchObject({
      statusCode: 404,
      code: 'ResourceGroupNotFound',
    });
    await emulator.prepareResourceGroup({
      subscriptionId: SUB,
      resourceGroup: 'rg-private',
      location: LOC,
      delegated: false,
    });
    await expect(arm.resources.resourceGroups.get('rg-private')).rejects.toMatchObject({
      statusCode: 403,
      code: 'AuthorizationFailed',
    });
    await expect(
      arm.deployments.deployments.createOrUpdate('rg-private', 'd', body({ resources: [] })).pollUntilDone(),
    ).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    await expect(arm.network.networkSecurityGroups.get('rg-private', 'x')).rejects.toMatchObject({
      statusCode: 403,
    });
    expect((await arm.resources.resourceGroups.checkExistence('rg-none')).body).toBe(false);
    await emulator.prepareResourceGroup({
      subscriptionId: SUB,
      resourceGroup: 'rg-private',
      location: LOC,
      delegated: true,
    });
    expect((await arm.resources.resourceGroups.get('rg-private')).location).toBe(LOC);
  });

  test('a group made through the SDK is delegated; its location is fixed; deleting it takes its resources', async () => {
    const { arm } = await setup();
    const made = await arm.resources.resourceGroups.createOrUpdate('rg-new', {
      location: 'uksouth',
      tags: { owner: 'x' },
    });
    expect(made).toMatchObject({
      name: 'rg-new',
      location: 'uksouth',
      properties: { provisioningState: 'Succeeded' },
    });
    expect((await arm.resources.resourceGroups.checkExistence('rg-new')).body).toBe(true);
    await expect(
      arm.resources.resourceGroups.createOrUpdate('rg-new', { location: LOC }),
    ).rejects.toMatchObject({
      code: 'InvalidResourceGroupLocation',
    });
    await arm.deployments.deployments
      .createOrUpdate('rg-new', 'd', body({ resources: [nsg('n1')] }))
      .pollUntilDone();
    await arm.resources.resourceGroups.delete('rg-new').pollUntilDone();
    await expect(arm.resources.resourceGroups.get('rg-new')).rejects.toMatchObject({ statusCode: 404 });
    await arm.resources.resourceGroups.createOrUpdate('rg-new', { location: LOC });
    await expect(arm.network.networkSecurityGroups.get('rg-new', 'n1')).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(arm.deployments.deployments.get('rg-new', 'd')).rejects.toMatchObject({
      statusCode: 404,
      code: 'DeploymentNotFound',
    });
  });
});

describe('deployments', () => {
  const kinds: Template = {
    parameters: {
      name: { type: 'string' },
      count: { type: 'int' },
      enabled: { type: 'bool' },
      ranges: { type: 'array' },
      tags: { type: 'object' },
      secret: { type: 'securestring' },
    },
    resources: [nsg("[format('nsg-{0}', parameters('name'))]", { tags: "[parameters('tags')]" })],
    outputs: {
      nsgId: {
        type: 'string',
        value:
          "[resourceId('Microsoft.Network/networkSecurityGroups', format('nsg-{0}', parameters('name')))]",
      },
      doubled: { type: 'int', value: "[mul(parameters('count'), 2)]" },
      enabled: { type: 'bool', value: "[parameters('enabled')]" },
      first: { type: 'string', value: "[first(parameters('ranges'))]" },
      tags: {
        type: 'object',
        value:
          "[reference(resourceId('Microsoft.Network/networkSecurityGroups', format('nsg-{0}', parameters('name'))), '2024-05-01', 'Full').tags]",
      },
      guid: {
        type: 'string',
        value:
          "[reference(resourceId('Microsoft.Network/networkSecurityGroups', format('nsg-{0}', parameters('name')))).resourceGuid]",
      },
    },
  };
  const good = {
    name: 'a',
    count: 3,
    enabled: true,
    ranges: ['10.1.0.0/16'],
    tags: { bank: 'a' },
    secret: 'top-secret-value',
  };

  test('a template with a parameter of each kind deploys, with outputs, and never echoes the secure one', async () => {
    const { arm } = await setup();
    const done = await arm.deployments.deployments
      .createOrUpdate('rg1', 'kinds', body(kinds, good))
      .pollUntilDone();
    const p = done.properties!;
    expect(p.provisioningState).toBe('Succeeded');
    expect(p.outputs).toMatchObject({
      nsgId: {
        type: 'String',
        value: `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg-a`,
      },
      doubled: { type: 'Int', value: 6 },
      enabled: { type: 'Bool', value: true },
      first: { type: 'String', value: '10.1.0.0/16' },
      tags: { type: 'Object', value: { bank: 'a' } },
    });
    expect((p.outputs as Record<string, { value: string }>)['guid']?.value).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.parameters).toMatchObject({
      name: { type: 'String', value: 'a' },
      secret: { type: 'SecureString' },
    });
    const again = await arm.deployments.deployments.get('rg1', 'kinds');
    expect(JSON.stringify(again)).not.toContain('top-secret-value');
    expect(again.properties?.outputResources?.map((r) => r.id)).toEqual([
      `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg-a`,
    ]);
    const names = [];
    for await (const d of arm.deployments.deployments.listByResourceGroup('rg1')) names.push(d.name);
    expect(names).toEqual(['kinds']);
    const ops = [];
    for await (const o of arm.deployments.deploymentOperations.list('rg1', 'kinds')) ops.push(o);
    expect(
      ops.map((o) => [o.properties?.targetResource?.resourceName, o.properties?.provisioningState]),
    ).toEqual([['nsg-a', 'Succeeded']]);
    expect((await arm.network.networkSecurityGroups.get('rg1', 'nsg-a')).tags).toEqual({ bank: 'a' });
  });

  test.each([
    ['missing', { ...good, name: undefined }, "The value for the template parameter 'name'"],
    [
      'unknown',
      { ...good, colour: 'red' },
      "The template parameters 'colour' in the parameters file are not valid",
    ],
    ['wrong type', { ...good, count: '3' }, "Expected 'Integer'. Actual 'String'"],
    ['not allowed', { ...good, sku: 'Basic' }, 'is not part of the allowed value(s)'],
    ['below minValue', { ...good, count: 0 }, "greater than or equal to '1'"],
    ['above maxValue', { ...good, count: 101 }, "less than or equal to '100'"],
    ['too short', { ...good, name: '' }, "greater than or equal to '1'. Actual length is '0'"],
    [
      'too long',
      { ...good, ranges: ['a', 'b', 'c', 'd'] },
      "less than or equal to '3'. Actual length is '4'",
    ],
  ])(
    'a %s parameter is refused with InvalidTemplate, on PUT and on validate',
    async (_what, params, message) => {
      const { arm } = await setup();
      const strict: Template = {
        ...kinds,
        parameters: {
          ...(kinds['parameters'] as Template),
          name: { type: 'string', minLength: 1, maxLength: 10 },
          count: { type: 'int', minValue: 1, maxValue: 100 },
          ranges: { type: 'array', maxLength: 3 },
          sku: { type: 'string', allowedValues: ['VpnGw1AZ', 'VpnGw2AZ'], defaultValue: 'VpnGw1AZ' },
        },
      };
      const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
      await expect(
        arm.deployments.deployments.createOrUpdate('rg1', 'bad', body(strict, given)).pollUntilDone(),
      ).rejects.toMatchObject({
        statusCode: 400,
        code: 'InvalidTemplate',
        message: expect.stringContaining(message),
      });
      await expect(
        arm.deployments.deployments.validate('rg1', 'bad', body(strict, given)).pollUntilDone(),
      ).rejects.toThrow(/InvalidTemplate.*Deployment template validation failed/);
      await expect(arm.deployments.deployments.get('rg1', 'bad')).rejects.toMatchObject({ statusCode: 404 });
    },
  );

  test('validate accepts a good template and lists what it would deploy', async () => {
    const { arm } = await setup();
    const v = await arm.deployments.deployments.validate('rg1', 'v', body(kinds, good)).pollUntilDone();
    expect(v.properties?.provisioningState).toBe('Succeeded');
    expect(v.properties?.validatedResources?.map((r) => r.id?.split('/').pop())).toEqual(['nsg-a']);
    await expect(arm.network.networkSecurityGroups.get('rg1', 'nsg-a')).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  test('a deployment takes modelled time: Accepted, Running, then Succeeded as the clock moves', async () => {
    const { arm, clock } = await setup({ latencyFactor: 1 });
    const t0 = clock.now;
    const template = {
      resources: [nsg('n'), vnet('v', { dependsOn: ['n'] })],
      outputs: { subnets: { type: 'int', value: "[length(reference('v').subnets)]" } },
    };
    const poller = arm.deployments.deployments.createOrUpdate('rg1', 'slow', body(template));
    await poller.submitted();
    const state = async () =>
      (await arm.deployments.deployments.get('rg1', 'slow')).properties?.provisioningState;
    expect(await state()).toBe('Accepted');
    clock.now = t0 + 1_500;
    expect(await state()).toBe('Running');
    expect((await arm.network.networkSecurityGroups.get('rg1', 'n')).provisioningState).toBe('Updating');
    await expect(arm.network.virtualNetworks.get('rg1', 'v')).rejects.toMatchObject({ statusCode: 404 });
    clock.now = t0 + 6_000;
    expect((await arm.network.networkSecurityGroups.get('rg1', 'n')).provisioningState).toBe('Succeeded');
    expect((await arm.network.virtualNetworks.get('rg1', 'v')).provisioningState).toBe('Updating');
    const ops = [];
    for await (const o of arm.deployments.deploymentOperations.list('rg1', 'slow'))
      ops.push([o.properties?.targetResource?.resourceName, o.properties?.provisioningState]);
    expect(ops).toEqual([
      ['n', 'Succeeded'],
      ['v', 'Running'],
    ]);
    expect((await arm.deployments.deployments.get('rg1', 'slow')).properties?.outputs).toBeUndefined();
    clock.now = t0 + 16_999;
    expect(await state()).toBe('Running');
    clock.now = t0 + 17_000; // NSG 5 s, then the VNet 10 s, plus ARM's 2 s
    expect(await state()).toBe('Succeeded');
    const done = await poller.pollUntilDone();
    expect(done.properties?.outputs).toEqual({ subnets: { type: 'Int', value: 2 } });
    expect(done.properties?.duration).toBe('PT17S');
  });

  test('a PUT with an existing name runs it again and counts the run; a running one is DeploymentActive', async () => {
    const { arm, emulator, clock } = await setup({ latencyFactor: 1 });
    const id = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Resources/deployments/again`;
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'again', body({ resources: [nsg('n')] }))
      .submitted();
    await expect(
      arm.deployments.deployments
        .createOrUpdate('rg1', 'again', body({ resources: [nsg('n')] }))
        .pollUntilDone(),
    ).rejects.toMatchObject({
      statusCode: 409,
      code: 'DeploymentActive',
    });
    clock.now += 7_000;
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'again', body({ resources: [nsg('n')] }))
      .submitted();
    clock.now += 7_000;
    expect(emulator.stats().deploymentRuns[id]).toBe(2);
    const snap = await emulator.snapshot();
    expect(snap.deployments.find((d) => d.name === 'again')?.runs.map((r) => r.state)).toEqual([
      'Succeeded',
      'Succeeded',
    ]);
  });

  test('a quota fault fails the deployment as ARM does: DeploymentFailed with QuotaExceeded inside', async () => {
    const { arm, emulator, faults } = await setup();
    faults.set([{ operation: 'arm:deploy:Microsoft.Compute/virtualMachineScaleSets', kind: 'quota' }]);
    const put = await emulator.handle(
      raw(
        'PUT',
        `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Resources/deployments/q`,
        body({ resources: [nsg('n'), vmss('vm', 3)] }),
      ),
    );
    expect(put.status).toBe(201);
    const status = await emulator.handle(raw('GET', put.headers!['azure-asyncoperation']!));
    expect(status.body).toMatchObject({
      status: 'Failed',
      error: { code: 'DeploymentFailed', details: [{ code: 'QuotaExceeded' }] },
    });
    const dep = await arm.deployments.deployments.get('rg1', 'q');
    expect(dep.properties?.provisioningState).toBe('Failed');
    expect(dep.properties?.error).toMatchObject({
      code: 'DeploymentFailed',
      details: [{ code: 'QuotaExceeded' }],
    });
    const ops = [];
    for await (const o of arm.deployments.deploymentOperations.list('rg1', 'q')) ops.push(o.properties);
    const failed = ops.find((o) => o?.provisioningState === 'Failed');
    expect(failed?.targetResource?.resourceType).toBe('Microsoft.Compute/virtualMachineScaleSets');
    expect(failed?.statusMessage).toMatchObject({ error: { code: 'QuotaExceeded' } });
    await expect(arm.compute.virtualMachineScaleSets.get('rg1', 'vm')).rejects.toMatchObject({
      statusCode: 404,
    });
    expect((await arm.network.networkSecurityGroups.get('rg1', 'n')).name).toBe('n');
    // Through the SDK's poller the failure surfaces with ARM's top-level code.
    faults.set([
      {
        operation: 'arm:deploy:Microsoft.Compute/virtualMachineScaleSets',
        kind: 'error',
        status: 409,
        code: 'SkuNotAvailable',
      },
    ]);
    await expect(
      arm.deployments.deployments
        .createOrUpdate('rg1', 'q2', body({ resources: [vmss('vm', 3)] }))
        .pollUntilDone(),
    ).rejects.toThrow(/DeploymentFailed/);
    expect((await arm.deployments.deployments.get('rg1', 'q2')).properties?.error?.details?.[0]?.code).toBe(
      'SkuNotAvailable',
    );
  });

  test('an injected throttle is retried by the SDK (Retry-After honoured) and the call succeeds', async () => {
    const { arm, emulator, faults } = await setup();
    faults.set([
      { operation: 'arm:deployments.put', kind: 'throttle', retryAfterSeconds: 0, count: 2 },
      { operation: 'arm:resourceGroups.get', kind: 'server', count: 1 },
    ]);
    const done = await arm.deployments.deployments
      .createOrUpdate('rg1', 't', body({ resources: [nsg('n')] }))
      .pollUntilDone();
    expect(done.properties?.provisioningState).toBe('Succeeded');
    expect((await arm.resources.resourceGroups.get('rg1')).name).toBe('rg1');
    expect(faults.list().map((f) => [f.operation, f.fired])).toEqual([
      ['arm:deployments.put', 2],
      ['arm:resourceGroups.get', 1],
    ]);
    expect(emulator.stats().throttled).toBe(2);
  });

  test('what-if lists Create before the deployment, NoChange after it, Modify after a change', async () => {
    const { arm } = await setup();
    const template = {
      parameters: { cap: { type: 'int' } },
      resources: [nsg('n'), vmss('vm', "[parameters('cap')]")],
    };
    const kinds = async (cap: number) =>
      (
        await arm.deployments.deployments.whatIf('rg1', 'w', body(template, { cap })).pollUntilDone()
      ).changes?.map((c) => [c.resourceId?.split('/').pop(), c.changeType]);
    expect(await kinds(2)).toEqual([
      ['n', 'Create'],
      ['vm', 'Create'],
    ]);
    await arm.deployments.deployments.createOrUpdate('rg1', 'w', body(template, { cap: 2 })).pollUntilDone();
    expect(await kinds(2)).toEqual([
      ['n', 'NoChange'],
      ['vm', 'NoChange'],
    ]);
    const modify = await arm.deployments.deployments
      .whatIf('rg1', 'w', body(template, { cap: 4 }))
      .pollUntilDone();
    const vmChange = modify.changes?.find((c) => c.resourceId?.endsWith('/vm'));
    expect(vmChange?.changeType).toBe('Modify');
    expect(vmChange?.delta).toEqual([
      {
        path: 'sku',
        propertyChangeType: 'Modify',
        before: { name: 'Standard_D4s_v5', capacity: 2 },
        after: { name: 'Standard_D4s_v5', capacity: 4 },
      },
    ]);
  });

  test('a connection to a gateway that does not exist fails at that resource, as the provider refuses it', async () => {
    const { arm } = await setup();
    const ghost = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworkGateways/ghost`;
    const conn = {
      type: 'Microsoft.Network/connections',
      apiVersion: '2024-05-01',
      name: 'c',
      location: LOC,
      properties: {
        connectionType: 'Vnet2Vnet',
        virtualNetworkGateway1: { id: ghost },
        virtualNetworkGateway2: { id: ghost },
        sharedKey: 'k',
      },
    };
    await expect(
      arm.deployments.deployments.createOrUpdate('rg1', 'c', body({ resources: [conn] })).pollUntilDone(),
    ).rejects.toThrow(/DeploymentFailed/);
    expect((await arm.deployments.deployments.get('rg1', 'c')).properties?.error?.details?.[0]?.code).toBe(
      'InvalidResourceReference',
    );
  });
});

describe('network and compute calls', () => {
  test('security rules: put, get, list, delete; the NSG shows them', async () => {
    const { arm } = await setup();
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'n', body({ resources: [nsg('nsg-a')] }))
      .pollUntilDone();
    const rule = await arm.network.securityRules
      .createOrUpdate('rg1', 'nsg-a', 'corda-p2p-bank-b', {
        protocol: 'Tcp',
        access: 'Allow',
        direction: 'Inbound',
        priority: 300,
        sourceAddressPrefix: '10.2.0.0/16',
        sourcePortRange: '*',
        destinationAddressPrefix: '*',
        destinationPortRange: '10002',
      })
      .pollUntilDone();
    expect(rule).toMatchObject({ name: 'corda-p2p-bank-b', priority: 300, provisioningState: 'Succeeded' });
    expect(rule.id).toBe(
      `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg-a/securityRules/corda-p2p-bank-b`,
    );
    expect(
      (await arm.network.securityRules.get('rg1', 'nsg-a', 'corda-p2p-bank-b')).sourceAddressPrefix,
    ).toBe('10.2.0.0/16');
    const listed = [];
    for await (const r of arm.network.securityRules.list('rg1', 'nsg-a')) listed.push(r.name);
    expect(listed).toEqual(['corda-p2p-bank-b']);
    expect(
      (await arm.network.networkSecurityGroups.get('rg1', 'nsg-a')).securityRules?.map((r) => r.priority),
    ).toEqual([300]);
    await arm.network.securityRules.delete('rg1', 'nsg-a', 'corda-p2p-bank-b').pollUntilDone();
    await expect(arm.network.securityRules.get('rg1', 'nsg-a', 'corda-p2p-bank-b')).rejects.toMatchObject({
      statusCode: 404,
    });
    await arm.network.securityRules.delete('rg1', 'nsg-a', 'corda-p2p-bank-b').pollUntilDone();
    await expect(
      arm.network.securityRules
        .createOrUpdate('rg1', 'nsg-none', 'r', {
          protocol: 'Tcp',
          access: 'Allow',
          direction: 'Inbound',
          priority: 300,
        })
        .pollUntilDone(),
    ).rejects.toMatchObject({ statusCode: 404, code: 'ParentResourceNotFound' });
  });

  test('a scale set changes capacity through update and createOrUpdate, Updating for the modelled time', async () => {
    const { arm, clock } = await setup({ latencyFactor: 1 });
    await arm.deployments.deployments
      .createOrUpdate('rg1', 's', body({ resources: [vmss('vm', 2)] }))
      .submitted();
    clock.now += 242_000;
    expect((await arm.compute.virtualMachineScaleSets.get('rg1', 'vm')).sku?.capacity).toBe(2);
    const poller = arm.compute.virtualMachineScaleSets.update('rg1', 'vm', { sku: { capacity: 5 } });
    await poller.submitted();
    const during = await arm.compute.virtualMachineScaleSets.get('rg1', 'vm');
    expect([during.sku, during.provisioningState]).toEqual([
      { name: 'Standard_D4s_v5', capacity: 5 },
      'Updating',
    ]);
    clock.now += 240_000;
    expect((await poller.pollUntilDone()).provisioningState).toBe('Succeeded');
    const current = await arm.compute.virtualMachineScaleSets.get('rg1', 'vm');
    const replaced = arm.compute.virtualMachineScaleSets.createOrUpdate('rg1', 'vm', {
      ...current,
      sku: { ...current.sku, capacity: 1 },
    });
    await replaced.submitted();
    clock.now += 240_000;
    expect((await replaced.pollUntilDone()).sku?.capacity).toBe(1);
    expect((await arm.compute.virtualMachineScaleSets.get('rg1', 'vm')).orchestrationMode).toBe('Uniform');
  });

  test('a VPN gateway with a connection attached cannot be deleted; connections first, then the gateway', async () => {
    const { arm } = await setup();
    const rg = `/subscriptions/${SUB}/resourceGroups/rg1/providers`;
    const gw = `${rg}/Microsoft.Network/virtualNetworkGateways/vgw`;
    const template = {
      resources: [
        vnet('v'),
        {
          type: 'Microsoft.Network/publicIPAddresses',
          apiVersion: '2024-05-01',
          name: 'pip',
          location: LOC,
          sku: { name: 'Standard' },
          properties: { publicIPAllocationMethod: 'Static' },
        },
        {
          type: 'Microsoft.Network/virtualNetworkGateways',
          apiVersion: '2024-05-01',
          name: 'vgw',
          location: LOC,
          dependsOn: ['v', 'pip'],
          properties: {
            gatewayType: 'Vpn',
            vpnType: 'RouteBased',
            sku: { name: 'VpnGw1AZ', tier: 'VpnGw1AZ' },
            ipConfigurations: [
              {
                name: 'default',
                properties: {
                  subnet: {
                    id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 'GatewaySubnet')]",
                  },
                  publicIPAddress: { id: "[resourceId('Microsoft.Network/publicIPAddresses', 'pip')]" },
                },
              },
            ],
          },
        },
        {
          type: 'Microsoft.Network/connections',
          apiVersion: '2024-05-01',
          name: 'loop',
          location: LOC,
          dependsOn: ['vgw'],
          properties: {
            connectionType: 'Vnet2Vnet',
            virtualNetworkGateway1: { id: gw },
            virtualNetworkGateway2: { id: gw },
            sharedKey: 'x'.repeat(32),
          },
        },
      ],
    };
    await arm.deployments.deployments.createOrUpdate('rg1', 'g', body(template)).pollUntilDone();
    const gateway = await arm.network.virtualNetworkGateways.get('rg1', 'vgw');
    expect(gateway.ipConfigurations?.[0]?.id).toBe(`${gw}/ipConfigurations/default`);
    expect((await arm.network.publicIPAddresses.get('rg1', 'pip')).ipAddress).toMatch(/^20\.\d+\.\d+\.\d+$/);
    await expect(arm.resources.resources.deleteById(gw, '2024-05-01').pollUntilDone()).rejects.toMatchObject({
      statusCode: 400,
      code: 'VirtualNetworkGatewayCannotBeDeleted',
    });
    await expect(
      arm.resources.resources
        .deleteById(`${rg}/Microsoft.Network/publicIPAddresses/pip`, '2024-05-01')
        .pollUntilDone(),
    ).rejects.toMatchObject({
      code: 'PublicIPAddressCannotBeDeleted',
    });
    await arm.network.virtualNetworkGatewayConnections.delete('rg1', 'loop').pollUntilDone();
    await arm.resources.resources.deleteById(gw, '2024-05-01').pollUntilDone();
    await expect(arm.network.virtualNetworkGateways.get('rg1', 'vgw')).rejects.toMatchObject({
      statusCode: 404,
      code: 'ResourceNotFound',
    });
  });

  test('withdrawing the Lighthouse assignment withdraws the access it gave', async () => {
    const { emulator, arm } = await setup();
    await emulator.prepareResourceGroup({
      subscriptionId: SUB,
      resourceGroup: 'rg-bank',
      location: LOC,
      delegated: false,
    });
    const assignment = `/subscriptions/${SUB}/resourceGroups/rg-bank/providers/Microsoft.ManagedServices/registrationAssignments/a1`;
    const bank = armClients(emulator, SUB);
    await bank.deployments.deployments
      .createOrUpdateAtSubscriptionScope('delegate', {
        location: LOC,
        properties: {
          mode: 'Incremental',
          template: {
            resources: [
              {
                type: 'Microsoft.Resources/deployments',
                apiVersion: '2022-09-01',
                name: 'assign',
                resourceGroup: 'rg-bank',
                properties: {
                  mode: 'Incremental',
                  expressionEvaluationOptions: { scope: 'inner' },
                  template: {
                    resources: [
                      {
                        type: 'Microsoft.ManagedServices/registrationAssignments',
                        apiVersion: '2022-10-01',
                        name: 'a1',
                        properties: { registrationDefinitionId: 'd' },
                      },
                    ],
                  },
                },
              },
            ],
          },
        },
      })
      .pollUntilDone();
    expect((await arm.resources.resourceGroups.get('rg-bank')).name).toBe('rg-bank');
    await arm.resources.resources.deleteById(assignment, '2022-10-01').pollUntilDone();
    await expect(arm.resources.resourceGroups.get('rg-bank')).rejects.toMatchObject({ statusCode: 403 });
  });
});

describe('throttling and state', () => {
  test("ARM's write budget: a burst, then 429 with Retry-After until tokens refill", async () => {
    const { emulator, clock } = await setup({ writeBudget: { burst: 3, perSecond: 1 } });
    const arm = armClients(emulator, SUB, 0);
    for (const n of ['a', 'b', 'c'])
      await arm.resources.resourceGroups.createOrUpdate(`rg-${n}`, { location: LOC });
    await expect(
      arm.resources.resourceGroups.createOrUpdate('rg-d', { location: LOC }),
    ).rejects.toMatchObject({
      statusCode: 429,
      code: 'SubscriptionRequestsThrottled',
    });
    const res = await emulator.handle(
      raw('PUT', `/subscriptions/${SUB}/resourcegroups/rg-d`, { location: LOC }),
    );
    expect(res.headers?.['retry-after']).toBe('1');
    expect((await arm.resources.resourceGroups.get('rg-a')).name).toBe('rg-a');
    clock.now += 1_000;
    await arm.resources.resourceGroups.createOrUpdate('rg-d', { location: LOC });
    expect(emulator.stats()).toMatchObject({ writes: 4, peakWritesPerSecond: 3, throttled: 2 });
  });

  test('a new emulator on the same tables sees the same groups, resources and a deployment in flight', async () => {
    const { arm, make, clock } = await setup({ latencyFactor: 1 });
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'long', body({ resources: [nsg('n'), vmss('vm', 2)] }))
      .submitted();
    clock.now += 3_000;
    const second = armClients(make(), SUB);
    expect((await second.deployments.deployments.get('rg1', 'long')).properties?.provisioningState).toBe(
      'Running',
    );
    expect((await second.network.networkSecurityGroups.get('rg1', 'n')).provisioningState).toBe('Updating');
    clock.now += 240_000;
    expect((await second.deployments.deployments.get('rg1', 'long')).properties?.provisioningState).toBe(
      'Succeeded',
    );
    expect((await second.compute.virtualMachineScaleSets.get('rg1', 'vm')).sku?.capacity).toBe(2);
    expect((await second.resources.resourceGroups.get('rg1')).location).toBe(LOC);
  });
});

describe('VPN gateways: tunnels per SKU, generations, in-place resize', () => {
  const rgId = `/subscriptions/${SUB}/resourceGroups/rg1/providers`;
  const gwId = (name: string) => `${rgId}/Microsoft.Network/virtualNetworkGateways/${name}`;
  const gateway = (
    name: string,
    vnetName: string,
    sku: string,
    generation?: string,
    dependsOn: string[] = [],
  ) => ({
    type: 'Microsoft.Network/virtualNetworkGateways',
    apiVersion: '2024-05-01',
    name,
    location: LOC,
    dependsOn,
    properties: {
      gatewayType: 'Vpn',
      vpnType: 'RouteBased',
      ...(generation ? { vpnGatewayGeneration: generation } : {}),
      sku: { name: sku, tier: sku },
      ipConfigurations: [
        {
          name: 'default',
          properties: {
            subnet: {
              id: `[resourceId('Microsoft.Network/virtualNetworks/subnets', '${vnetName}', 'GatewaySubnet')]`,
            },
          },
        },
      ],
    },
  });
  const connections = (from: string, to: string, count: number, first = 0) => ({
    type: 'Microsoft.Network/connections',
    apiVersion: '2024-05-01',
    name: `[format('cn-{0}', add(copyIndex(), ${first}))]`,
    location: LOC,
    copy: { name: 'links', count },
    properties: {
      connectionType: 'Vnet2Vnet',
      virtualNetworkGateway1: { id: gwId(from) },
      virtualNetworkGateway2: { id: gwId(to) },
      sharedKey: 'k'.repeat(32),
    },
  });
  type Arm = Awaited<ReturnType<typeof setup>>['arm'];
  async function deploymentError(arm: Arm, name: string) {
    const d = await arm.deployments.deployments.get('rg1', name);
    return {
      state: d.properties?.provisioningState,
      codes: d.properties?.error?.details?.map((x) => x.code),
    };
  }

  test('a gateway refuses a connection past its SKU’s tunnels, by deployment and by PUT; a rewrite is no new tunnel', async () => {
    const { arm, emulator } = await setup();
    await arm.deployments.deployments
      .createOrUpdate(
        'rg1',
        'gws',
        body({
          resources: [
            vnet('v1'),
            vnet('v2'),
            gateway('gw1', 'v1', 'VpnGw2AZ', 'Generation2', ['v1']),
            gateway('gw2', 'v2', 'VpnGw2AZ', 'Generation2', ['v2']),
          ],
        }),
      )
      .pollUntilDone();
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'thirty', body({ resources: [connections('gw1', 'gw2', 30)] }))
      .pollUntilDone();
    // The 31st, as an onboarding deploys it: the deployment fails with the provider's refusal.
    await expect(
      arm.deployments.deployments
        .createOrUpdate('rg1', 'one-more', body({ resources: [connections('gw1', 'gw2', 1, 30)] }))
        .pollUntilDone(),
    ).rejects.toThrow(/DeploymentFailed/);
    expect(await deploymentError(arm, 'one-more')).toEqual({
      state: 'Failed',
      codes: ['VirtualNetworkGatewayConnectionLimitReached'],
    });
    // And straight through the network API.
    await expect(
      arm.network.virtualNetworkGatewayConnections
        .createOrUpdate('rg1', 'cn-direct', {
          location: LOC,
          connectionType: 'Vnet2Vnet',
          virtualNetworkGateway1: { id: gwId('gw1') },
          virtualNetworkGateway2: { id: gwId('gw2') },
          sharedKey: 'k'.repeat(32),
        })
        .pollUntilDone(),
    ).rejects.toMatchObject({ statusCode: 400, code: 'VirtualNetworkGatewayConnectionLimitReached' });
    // Redeploying connections that exist takes no new tunnel; the far gateway's tunnels are not used.
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'again', body({ resources: [connections('gw1', 'gw2', 30)] }))
      .pollUntilDone();
    await arm.deployments.deployments
      .createOrUpdate('rg1', 'back', body({ resources: [connections('gw2', 'gw1', 1, 100)] }))
      .pollUntilDone();
    const gateways = (await emulator.snapshot()).resources.gateways;
    expect(gateways.find((g) => g.name === 'gw1')).toMatchObject({ connections: 30, tunnelLimit: 30 });
    expect(gateways.find((g) => g.name === 'gw2')).toMatchObject({ connections: 1, tunnelLimit: 30 });
  });

  test('a SKU change within the generation resizes in place, Updating for the modelled time', async () => {
    const { arm, emulator, clock } = await setup({ latencyFactor: 1 });
    const t0 = clock.now;
    await arm.deployments.deployments
      .createOrUpdate(
        'rg1',
        'gw',
        body({ resources: [vnet('v1'), gateway('gw1', 'v1', 'VpnGw2AZ', 'Generation2', ['v1'])] }),
      )
      .submitted();
    clock.now = t0 + 2_713_000; // the VNet 10 s, the gateway 2,700 s, ARM's 2 s
    expect(await deploymentError(arm, 'gw')).toMatchObject({ state: 'Succeeded' });
    const resize = arm.deployments.deployments.createOrUpdate(
      'rg1',
      'resize',
      body({ resources: [gateway('gw1', 'v1', 'VpnGw4AZ', 'Generation2')] }),
    );
    await resize.submitted();
    const during = await arm.network.virtualNetworkGateways.get('rg1', 'gw1');
    expect([during.sku?.name, during.provisioningState]).toEqual(['VpnGw4AZ', 'Updating']);
    clock.now += 2_700_000 - 1;
    expect((await arm.network.virtualNetworkGateways.get('rg1', 'gw1')).provisioningState).toBe('Updating');
    clock.now += 2_001;
    expect(await deploymentError(arm, 'resize')).toMatchObject({ state: 'Succeeded' });
    const after = await arm.network.virtualNetworkGateways.get('rg1', 'gw1');
    expect([after.sku?.name, after.vpnGatewayGeneration, after.provisioningState]).toEqual([
      'VpnGw4AZ',
      'Generation2',
      'Succeeded',
    ]);
    expect((await emulator.snapshot()).resources.gateways).toEqual([
      expect.objectContaining({
        name: 'gw1',
        sku: { name: 'VpnGw4AZ', tier: 'VpnGw4AZ' },
        generation: 'Generation2',
        connections: 0,
        tunnelLimit: 100,
        provisioningState: 'Succeeded',
      }),
    ]);
  });

  test('a generation 1 gateway cannot become generation 2, and a SKU must exist in its generation', async () => {
    const { arm } = await setup();
    await arm.deployments.deployments
      .createOrUpdate(
        'rg1',
        'old',
        body({ resources: [vnet('v1'), gateway('gw1', 'v1', 'VpnGw1AZ', 'Generation1', ['v1'])] }),
      )
      .pollUntilDone();
    await expect(
      arm.deployments.deployments
        .createOrUpdate('rg1', 'grow', body({ resources: [gateway('gw1', 'v1', 'VpnGw4AZ', 'Generation2')] }))
        .pollUntilDone(),
    ).rejects.toThrow(/DeploymentFailed/);
    expect(await deploymentError(arm, 'grow')).toEqual({
      state: 'Failed',
      codes: ['CrossSeriesOrCrossGatewayGenenrationResizeNotSupported'],
    });
    // Untouched: still the generation 1 gateway it was.
    expect((await arm.network.virtualNetworkGateways.get('rg1', 'gw1')).sku?.name).toBe('VpnGw1AZ');
    const current = await arm.network.virtualNetworkGateways.get('rg1', 'gw1');
    await expect(
      arm.network.virtualNetworkGateways
        .createOrUpdate('rg1', 'gw1', {
          ...current,
          vpnGatewayGeneration: 'Generation2',
          sku: { name: 'VpnGw2AZ', tier: 'VpnGw2AZ' },
        })
        .pollUntilDone(),
    ).rejects.toMatchObject({
      statusCode: 400,
      code: 'CrossSeriesOrCrossGatewayGenenrationResizeNotSupported',
    });
    // Within generation 1, VpnGw1AZ → VpnGw2AZ is an in-place resize.
    await arm.deployments.deployments
      .createOrUpdate(
        'rg1',
        'gen1-resize',
        body({ resources: [gateway('gw1', 'v1', 'VpnGw2AZ', 'Generation1')] }),
      )
      .pollUntilDone();
    expect((await arm.network.virtualNetworkGateways.get('rg1', 'gw1')).sku?.name).toBe('VpnGw2AZ');
    await expect(
      arm.deployments.deployments
        .createOrUpdate(
          'rg1',
          'mismatch',
          body({ resources: [vnet('v2'), gateway('gw2', 'v2', 'VpnGw1AZ', 'Generation2', ['v2'])] }),
        )
        .pollUntilDone(),
    ).rejects.toThrow(/DeploymentFailed/);
    expect(await deploymentError(arm, 'mismatch')).toEqual({
      state: 'Failed',
      codes: ['VirtualNetworkGatewaySkuCannotBeCreatedForSpecifiedVmGeneration'],
    });
  });
});
