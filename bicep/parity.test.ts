import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import {
  ALLOWED_FUNCTIONS,
  type ArmTemplate,
  type BicepFile,
  checkTemplate,
  compareTwins,
  type Expr,
  parseBicep,
  parseExpression,
  printExpression,
  TemplateParityError,
} from './bicep-params';

const read = (name: string) => readFileSync(join(__dirname, name), 'utf8');
const bicepNames = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bicep'))
  .sort();
const parsed: Record<string, BicepFile> = Object.fromEntries(bicepNames.map((f) => [f, parseBicep(read(f))]));
const moduleNames = new Set(Object.values(parsed).flatMap((b) => b.modules.map((m) => m.path)));
const twinNames = bicepNames.filter((f) => !moduleNames.has(f));
const jsonName = (bicep: string) => join('compiled', bicep.replace(/\.bicep$/, '.json'));
const twin = (bicep: string): ArmTemplate => JSON.parse(read(jsonName(bicep))) as ArmTemplate;
const existingTypes = (b: BicepFile) => b.resources.filter((r) => r.existing).map((r) => r.type);
const compare = (bicep: string, template = twin(bicep), file = parsed[bicep]!) =>
  compareTwins(file, template, parsed);
const check = (bicep: string, template = twin(bicep)) =>
  checkTemplate(template, { existingTypes: existingTypes(parsed[bicep]!) });

// What the provisioning code passes and reads: these names are a contract.
const CONTRACT: Record<string, { params: string[]; outputs: string[] }> = {
  'member-network.bicep': {
    params: [
      'bankId',
      'location',
      'addressSpace',
      'nodeSubnetPrefix',
      'gatewaySubnetPrefix',
      'memberAddressSpaces',
      'rpcSourceRanges',
      'tags',
    ],
    outputs: ['vnetId', 'vnetName', 'nsgId', 'nsgName', 'nodeSubnetId'],
  },
  'member-gateway.bicep': {
    params: ['bankId', 'location', 'vnetName', 'gatewaySku', 'tags'],
    outputs: ['gatewayId', 'gatewayName', 'publicIpId'],
  },
  'member-vault.bicep': {
    params: ['bankId', 'location', 'tenantId', 'platformPrincipalId', 'nodeSubnetId', 'tags'],
    outputs: [
      'vaultId',
      'vaultName',
      'vaultUri',
      'identityId',
      'identityClientId',
      'identityPrincipalId',
      'loadBalancerId',
      'backendPoolId',
    ],
  },
  'member-node.bicep': {
    params: [
      'bankId',
      'location',
      'capacity',
      'vmSize',
      'monitoring',
      'nodeSubnetId',
      'backendPoolId',
      'identityId',
      'identityClientId',
      'vaultName',
      'certificateName',
      'legalName',
      'adminUsername',
      'adminSshPublicKey',
      'tags',
    ],
    outputs: ['scaleSetId', 'scaleSetName'],
  },
  'vpn-connection.bicep': {
    params: ['connectionName', 'location', 'localGatewayId', 'remoteGatewayId', 'sharedKey', 'tags'],
    outputs: ['connectionId'],
  },
  'delegation.bicep': {
    params: [
      'managedByTenantId',
      'platformPrincipalId',
      'platformPrincipalName',
      'resourceGroupName',
      'offerName',
      'platformLocalPrincipalId',
    ],
    outputs: ['registrationDefinitionId', 'registrationAssignmentId'],
  },
  'platform.bicep': {
    params: [
      'environmentName',
      'location',
      'durableBackend',
      'privateNetworking',
      'vnetAddressPrefix',
      'appSubnetPrefix',
      'privateEndpointSubnetPrefix',
      'taskHubName',
      'consortiumFile',
      'operatorsEmail',
      'operatorsTeamsWebhookSecretName',
      'publicUrl',
      'maxOpenRequests',
      'dryRun',
      'platformAppClientId',
      'maximumInstanceCount',
      'instanceMemoryMB',
      'storageSku',
      'communicationDataLocation',
      'tags',
    ],
    outputs: [
      'functionAppName',
      'functionAppHostName',
      'vaultUri',
      'vaultName',
      'identityClientId',
      'identityPrincipalId',
      'storageAccountName',
      'AZURE_RESOURCE_GROUP',
    ],
  },
};

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const resources = (t: ArmTemplate) => t.resources as Json[];
const ofType = (t: ArmTemplate, type: string) => resources(t).find((r) => r.type === type)!;

describe('Bicep templates and their ARM JSON twins', () => {
  test('every Bicep file has a JSON twin or is a module of one, and every twin has its Bicep', () => {
    expect(twinNames).toEqual(Object.keys(CONTRACT).sort());
    expect([...moduleNames]).toEqual(['delegation-assignment.bicep']);
    const jsonFiles = readdirSync(join(__dirname, 'compiled')).filter((f) => f.endsWith('.json'));
    expect(jsonFiles.sort()).toEqual(twinNames.map((f) => f.replace(/\.bicep$/, '.json')).sort());
  });

  describe.each(twinNames)('%s', (name) => {
    test('keeps the parameter and output names the provisioning code uses', () => {
      expect(parsed[name]!.params.map((p) => p.name)).toEqual(CONTRACT[name]!.params);
      expect(parsed[name]!.outputs.map((o) => o.name)).toEqual(CONTRACT[name]!.outputs);
    });

    test('matches its JSON twin (parameters, outputs, resources, modules, string variables)', () => {
      expect(compare(name)).toEqual([]);
    });

    test('its JSON twin references only what it declares, with functions the emulator evaluates', () => {
      expect(check(name)).toEqual([]);
    });
  });

  test('the constraints the platform relies on are in both twins', () => {
    const param = (file: string, p: string) => parsed[file]!.params.find((x) => x.name === p)!;
    expect(param('member-network.bicep', 'bankId')).toMatchObject({ minLength: 2, maxLength: 40 });
    expect(param('member-gateway.bicep', 'gatewaySku').allowedValues).toEqual([
      'VpnGw1AZ',
      'VpnGw2AZ',
      'VpnGw3AZ',
      'VpnGw4AZ',
      'VpnGw5AZ',
    ]);
    expect(param('member-node.bicep', 'capacity')).toMatchObject({ type: 'int', minValue: 1, maxValue: 100 });
    expect(param('member-node.bicep', 'monitoring')).toMatchObject({ type: 'bool' });
    expect(param('member-node.bicep', 'monitoring').defaultValue).toBeUndefined();
    expect(param('member-node.bicep', 'vmSize').defaultValue).toEqual({
      kind: 'literal',
      value: 'Standard_D4s_v5',
    });
    expect(param('member-node.bicep', 'adminUsername').defaultValue).toEqual({
      kind: 'literal',
      value: 'corda',
    });
    expect(param('vpn-connection.bicep', 'sharedKey')).toMatchObject({ type: 'securestring', minLength: 32 });
    expect(param('member-vault.bicep', 'tenantId').defaultValue).toEqual({
      kind: 'expression',
      text: 'subscription().tenantId',
    });
    expect(parsed['delegation.bicep']!.targetScope).toBe('subscription');
  });
});

describe('drift between twins is caught', () => {
  const mutations: [string, string, (t: Json) => void, RegExp][] = [
    [
      'an allowed value dropped',
      'member-gateway.bicep',
      (t) => t.parameters.gatewaySku.allowedValues.pop(),
      /gatewaySku' allowedValues/,
    ],
    [
      'a bound changed',
      'member-node.bicep',
      (t) => (t.parameters.capacity.maxValue = 1000),
      /capacity' maxValue/,
    ],
    [
      'a secure parameter made plain',
      'vpn-connection.bicep',
      (t) => (t.parameters.sharedKey.type = 'string'),
      /sharedKey' type/,
    ],
    [
      'a default removed',
      'member-network.bicep',
      (t) => delete t.parameters.tags.defaultValue,
      /'tags' has a default/,
    ],
    [
      'a default expression changed',
      'member-network.bicep',
      (t) => (t.parameters.location.defaultValue = '[resourceGroup().id]'),
      /'location' default/,
    ],
    [
      'a parameter added',
      'member-gateway.bicep',
      (t) => (t.parameters.extra = { type: 'string' }),
      /'extra' missing from the Bicep/,
    ],
    [
      'an output renamed',
      'member-vault.bicep',
      (t) => {
        t.outputs.vaultURI = t.outputs.vaultUri;
        delete t.outputs.vaultUri;
      },
      /output 'vaultUri' missing from the JSON/,
    ],
    [
      'an output retyped',
      'member-node.bicep',
      (t) => (t.outputs.scaleSetId.type = 'object'),
      /scaleSetId' type/,
    ],
    [
      'the cloud-init edited on one side',
      'member-node.bicep',
      (t) => (t.variables.cloudInitTemplate = t.variables.cloudInitTemplate.replace('4.12', '4.11')),
      /variable 'cloudInitTemplate' differs/,
    ],
    [
      'an API version changed',
      'member-vault.bicep',
      (t) => (t.resources[0].apiVersion = '2023-07-01'),
      /resources differ/,
    ],
    [
      'a resource condition dropped',
      'member-node.bicep',
      (t) => delete t.resources[1].condition,
      /resources differ/,
    ],
    [
      "a module's parameter changed in the nested template",
      'delegation.bicep',
      (t) => (t.resources[1].properties.template.parameters.platformLocalPrincipalId.defaultValue = 'x'),
      /module assignment: parameter 'platformLocalPrincipalId' default/,
    ],
    [
      'the target scope schema changed',
      'delegation.bicep',
      (t) => (t.$schema = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'),
      /\$schema should be/,
    ],
  ];

  test.each(mutations)('%s (%s)', (_what, name, mutate, expected) => {
    const altered = clone(twin(name)) as Json;
    mutate(altered);
    const problems = compare(name, altered as ArmTemplate);
    expect(problems.join('\n')).toMatch(expected);
  });

  test.each([
    ['member-network.bicep', '@maxLength(40)', '@maxLength(24)', /bankId' maxLength/],
    ['vpn-connection.bicep', '@secure()\n', '', /sharedKey' type/],
    ['member-vault.bicep', 'param tags object = {}', 'param tags object', /'tags' has a default/],
    ['member-gateway.bicep', "  'VpnGw5AZ'\n", '', /gatewaySku' allowedValues/],
  ])('an edited copy of %s is caught', (name, from, to, expected) => {
    const source = read(name);
    expect(source).toContain(from);
    const altered = parseBicep(source.replace(from, to));
    expect(compare(name, twin(name), altered).join('\n')).toMatch(expected);
  });
});

describe('broken references in a JSON twin are caught', () => {
  const breakages: [string, string, (t: Json) => void, RegExp][] = [
    [
      'dependsOn names an undeclared resource',
      'member-network.bicep',
      (t) =>
        (ofType(t, 'Microsoft.Network/natGateways').dependsOn = [
          "[resourceId('Microsoft.Network/publicIPAddresses', 'nope')]",
        ]),
      /names no resource declared/,
    ],
    [
      'dependsOn names a resource the template does not deploy',
      'member-gateway.bicep',
      (t) =>
        ofType(t, 'Microsoft.Network/virtualNetworkGateways').dependsOn.push(
          "[resourceId('Microsoft.Network/virtualNetworks/subnets', parameters('vnetName'), 'GatewaySubnet')]",
        ),
      /not deployed by this template/,
    ],
    [
      'an undeclared parameter',
      'member-vault.bicep',
      (t) => (ofType(t, 'Microsoft.KeyVault/vaults').properties.tenantId = "[parameters('tenant')]"),
      /parameters\('tenant'\) is not declared/,
    ],
    [
      'an undeclared variable',
      'member-node.bicep',
      (t) => (t.outputs.scaleSetName.value = "[variables('vmssName')]"),
      /variables\('vmssName'\) is not declared/,
    ],
    [
      'a function the emulator lacks',
      'member-vault.bicep',
      (t) =>
        (t.outputs.vaultUri.value =
          "[format('https://{0}{1}', variables('vaultName'), environment().suffixes.keyvaultDns)]"),
      /environment\(\) is not one the local ARM emulator evaluates/,
    ],
    [
      'reference() in a variable',
      'member-network.bicep',
      (t) =>
        (t.variables.nsgName =
          "[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'x')).name]"),
      /reference\(\) cannot be used in variables/,
    ],
    [
      'a sub-resource id with a typo',
      'member-vault.bicep',
      (t) =>
        (ofType(t, 'Microsoft.Network/loadBalancers').properties.loadBalancingRules[0].properties.probe.id =
          "[resourceId('Microsoft.Network/loadBalancers/probes', variables('loadBalancerName'), 'corda-p2')]"),
      /loadBalancers\/probes.*names no resource declared/,
    ],
    [
      'an unused parameter',
      'vpn-connection.bicep',
      (t) => (t.parameters.unused = { type: 'string' }),
      /'unused' is never used/,
    ],
    [
      'a role assignment scoped to another vault',
      'member-vault.bicep',
      (t) =>
        (ofType(t, 'Microsoft.Authorization/roleAssignments').scope =
          "[format('Microsoft.KeyVault/vaults/{0}', 'other')]"),
      /Microsoft.KeyVault\/vaults\('other'\) names no resource/,
    ],
    [
      'a required inner parameter not passed to a nested deployment',
      'delegation.bicep',
      (t) => delete t.resources[1].properties.parameters.registrationDefinitionId,
      /required inner parameter 'registrationDefinitionId'/,
    ],
    [
      'an inner template output naming an undeclared resource',
      'delegation.bicep',
      (t) =>
        (t.resources[1].properties.template.outputs.registrationAssignmentId.value =
          "[resourceId('Microsoft.ManagedServices/registrationAssignments', 'x')]"),
      /properties.template > outputs.*names no resource declared/,
    ],
    [
      'an unparsable expression',
      'member-gateway.bicep',
      (t) => (t.outputs.gatewayName.value = "[variables('gatewayName']"),
      /expected ',' or '\)'/,
    ],
    [
      'an unterminated expression',
      'member-gateway.bicep',
      (t) => (t.outputs.gatewayName.value = "[variables('gatewayName')"),
      /unterminated expression/,
    ],
  ];

  test.each(breakages)('%s (%s)', (_what, name, breakIt, expected) => {
    const altered = clone(twin(name)) as Json;
    breakIt(altered);
    expect(check(name, altered as ArmTemplate).join('\n')).toMatch(expected);
  });
});

describe('what the templates build', () => {
  test('member-network: fixed NSG rules outside the platform band 300-3999, optional ones left out when empty', () => {
    const t = twin('member-network.bicep') as Json;
    const rules = [
      ...t.variables.memberP2pRules,
      ...t.variables.ownRpcRules,
      ...t.variables.baseRules,
    ] as Json[];
    const byName = Object.fromEntries(rules.map((r) => [r.name, r.properties]));
    expect(byName['corda-p2p-members']).toMatchObject({
      access: 'Allow',
      direction: 'Inbound',
      protocol: 'Tcp',
    });
    expect(byName['corda-p2p-members']).toMatchObject({ destinationPortRange: '10002', priority: 200 });
    expect(byName['corda-rpc-own']).toMatchObject({ destinationPortRange: '10003', priority: 210 });
    expect(byName['deny-internet-inbound']).toMatchObject({
      access: 'Deny',
      sourceAddressPrefix: 'Internet',
      priority: 4000,
    });
    for (const r of rules) expect(r.properties.priority < 300 || r.properties.priority > 3999).toBe(true);
    const nsg = ofType(t as ArmTemplate, 'Microsoft.Network/networkSecurityGroups');
    expect(nsg.condition).toBeUndefined();
    expect(nsg.properties.securityRules).toContain(
      "if(empty(parameters('memberAddressSpaces')), createArray()",
    );
  });

  test('member-node: the cloud-init placeholders match the format() arguments', () => {
    const t = twin('member-node.bicep') as Json;
    const template: string = t.variables.cloudInitTemplate;
    expect(template.startsWith('#cloud-config\n')).toBe(true);
    const singles = template.replace(/\{\{|\}\}/g, '').match(/\{[^}]*\}/g) ?? [];
    expect([...new Set(singles)].sort()).toEqual(['{0}', '{1}', '{2}', '{3}', '{4}']);
    const customData: string = ofType(t as ArmTemplate, 'Microsoft.Compute/virtualMachineScaleSets')
      .properties.virtualMachineProfile.osProfile.customData;
    const e = parseExpression(customData.slice(1, -1));
    expect(e.kind === 'call' && e.name).toBe('base64');
    const format = (e as Extract<Expr, { kind: 'call' }>).args[0]!;
    expect(format.kind === 'call' && format.name === 'format' && format.args.length).toBe(6);
    expect(template).toContain('openjdk-17');
    expect(template).toContain('corda-4.12.jar');
  });

  test('member-vault: the vault name stays within 24 characters', () => {
    const t = twin('member-vault.bicep') as Json;
    const e = parseExpression(String(t.variables.vaultName).slice(1, -1)) as Extract<Expr, { kind: 'call' }>;
    expect(e.name).toBe('format');
    const fixed = (e.args[0] as { value: string }).value.replace(/\{\d\}/g, '').length;
    const takes = e.args.slice(1).map((a) => {
      expect(a.kind === 'call' && a.name).toBe('take');
      return ((a as Extract<Expr, { kind: 'call' }>).args[1] as { value: number }).value;
    });
    expect(fixed + takes.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(24);
  });

  test('delegation: the roles, with the User Access Administrator restricted to the two Key Vault roles', () => {
    const t = twin('delegation.bicep') as Json;
    const vars = t.variables as Record<string, string>;
    const resolve = (v: string) => vars[/^\[variables\('(\w+)'\)\]$/.exec(v)![1]!]!;
    const auths = (t.variables.authorizations as Json[]).map((a) => ({
      role: resolve(a.roleDefinitionId),
      delegated: (a.delegatedRoleDefinitionIds as string[] | undefined)?.map(resolve),
    }));
    const roles = auths.map((a) => a.role);
    expect(roles).toEqual([
      '4d97b98b-1d4f-4787-a291-c67834d212e7', // Network Contributor
      '9980e02c-c2be-4d73-94e8-173b1dc7cf3c', // Virtual Machine Contributor
      'f25e0fa2-a7c8-4377-a976-54943a77a395', // Key Vault Contributor
      'e40ec5ca-96e0-45a2-b4ff-59039f2c2b59', // Managed Identity Contributor
      'f1a07417-d97a-45cb-824c-7a7467783830', // Managed Identity Operator
      '749f88d5-cbae-40b8-bcfc-e573ddc772fa', // Monitoring Contributor
      '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', // User Access Administrator
      '91c1777a-f3dc-4fae-b103-61d183457e46', // Managed Services Registration Assignment Delete Role
    ]);
    const uaa = auths.find((a) => a.role === '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9')!;
    expect(uaa.delegated).toEqual([
      '4633458b-17de-408a-b874-0445c86b69e6',
      'a4417e6f-fecd-4de8-b567-7b0420556985',
    ]);
    // Lighthouse refuses Owner and any role with DataActions (the Key Vault data roles among them).
    const refused = [
      '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
      '4633458b-17de-408a-b874-0445c86b69e6',
      'a4417e6f-fecd-4de8-b567-7b0420556985',
    ];
    for (const r of roles) expect(refused).not.toContain(r);
    const nested = ofType(t as ArmTemplate, 'Microsoft.Resources/deployments');
    expect(nested.resourceGroup).toBe("[parameters('resourceGroupName')]");
    expect(nested.properties.expressionEvaluationOptions).toEqual({ scope: 'inner' });
  });
});

describe('the Bicep declaration parser', () => {
  const sample = `
// param notAParam string   (a comment, not a declaration)
/* @minLength(99) */
targetScope = 'resourceGroup'

@description('It\\'s described: // not a comment')
@allowed([
  'a'
  'b'
])
param choice string = 'a'

@minValue(-5)
@maxValue(5)
param n int = -2

@secure()
param secret object

param list array = [
  1
  'two'
  { k: true }
]

param computed string = toLower('\${choice}-x')

var text = '''
line one {0}
'''
var interpolated = 'x-\${choice}'

resource r 'Microsoft.Foo/bars@2024-01-01' = if (n > 0) {
  name: 'r'
  properties: { s: secret, l: list, t: format(text, computed, interpolated) }
}

resource e 'Microsoft.Foo/bars@2024-01-01' existing = {
  name: 'e'
}

@description('The id.')
output id string = r.id
`;

  test('reads declarations, decorators, defaults and literal strings', () => {
    const f = parseBicep(sample);
    expect(f.params).toEqual([
      {
        name: 'choice',
        type: 'string',
        description: "It's described: // not a comment",
        allowedValues: ['a', 'b'],
        defaultValue: { kind: 'literal', value: 'a' },
      },
      { name: 'n', type: 'int', minValue: -5, maxValue: 5, defaultValue: { kind: 'literal', value: -2 } },
      { name: 'secret', type: 'secureobject' },
      { name: 'list', type: 'array', defaultValue: { kind: 'literal', value: [1, 'two', { k: true }] } },
      {
        name: 'computed',
        type: 'string',
        defaultValue: { kind: 'expression', text: "toLower('${choice}-x')" },
      },
    ]);
    expect(f.stringVars).toEqual({ text: 'line one {0}\n' });
    expect(f.resources).toEqual([
      {
        symbol: 'r',
        type: 'Microsoft.Foo/bars',
        apiVersion: '2024-01-01',
        existing: false,
        conditional: true,
      },
      {
        symbol: 'e',
        type: 'Microsoft.Foo/bars',
        apiVersion: '2024-01-01',
        existing: true,
        conditional: false,
      },
    ]);
    expect(f.outputs).toEqual([{ name: 'id', type: 'string', description: 'The id.' }]);
  });

  test.each([
    ['@sealed()\nparam x string', /unsupported decorator @sealed/],
    ["resource p 'A.B/c@1' = {\n  resource q 'd' = {}\n}", /nested resource declarations/],
    ['param x string\nwhatever y', /unsupported statement 'whatever'/],
    ['@secure()\nparam x int', /@secure\(\) applies to string and object/],
    ["param x 'a' | 'b'", /expected ident/],
    ["param x string = 'unterminated", /unterminated string/],
    ['@minValue(x)\nparam n int', /@minValue\(\) needs one literal number/],
  ])('refuses what it does not understand: %j', (source, expected) => {
    let error: unknown;
    try {
      parseBicep(source);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemplateParityError);
    expect((error as TemplateParityError).code).toBe('BICEP.PARSE');
    expect((error as Error).message).toMatch(expected);
  });

  test('ARM expressions parse to a canonical form', () => {
    const e = parseExpression(" reference( resourceId('A.B/c', parameters('it''s')), '2020-01-01').x[0].y ");
    expect(printExpression(e)).toBe(
      "reference(resourceid('A.B/c', parameters('it''s')), '2020-01-01').x[0].y",
    );
    expect(() => parseExpression('true')).toThrow(/not a function call/);
    expect(ALLOWED_FUNCTIONS.has('reference')).toBe(true);
    expect(ALLOWED_FUNCTIONS.has('environment')).toBe(false);
  });
});
