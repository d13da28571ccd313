import {
  type DeploymentTarget,
  type PlannedDeployment,
  type ResourceView,
  TEMPLATE_FUNCTIONS,
  type TemplateHost,
  TemplateError,
  buildResourceId,
  evaluateExpression,
  guid,
  parseResourceId,
  planDeployment,
  uniqueString,
} from './template';

const SUB = '0b3c5d7e-0000-4000-8000-000000000001';
const TENANT = '9a8b7c6d-0000-4000-8000-000000000002';
const RG = `/subscriptions/${SUB}/resourceGroups/rg1`;
const NSG_EXISTING = `${RG}/providers/Microsoft.Network/networkSecurityGroups/nsg-old`;

const stored: Record<string, ResourceView> = {
  [NSG_EXISTING.toLowerCase()]: {
    id: NSG_EXISTING,
    name: 'nsg-old',
    type: 'Microsoft.Network/networkSecurityGroups',
    location: 'westeurope',
    properties: { securityRules: [], resourceGuid: 'g-1' },
  },
};

const host: TemplateHost = {
  existing: (id) => stored[id.toLowerCase()],
  resourceGroup: (_sub, name) => (name === 'rg-other' ? { name, location: 'northeurope' } : undefined),
  tenantOf: () => TENANT,
  view: (b) => ({
    id: b.id,
    name: b.name,
    type: b.type,
    ...(b.location ? { location: b.location } : {}),
    properties: { ...b.properties, computed: `computed:${b.name}` },
  }),
  now: () => Date.UTC(2026, 0, 2, 3, 4, 5),
};

const target: DeploymentTarget = {
  subscriptionId: SUB,
  tenantId: TENANT,
  resourceGroup: { name: 'rg1', location: 'westeurope', tags: { env: 'test' } },
  deploymentName: 'dep1',
};

const ev = (value: unknown, parameters?: Record<string, unknown>, variables?: Record<string, unknown>) =>
  evaluateExpression(value, {
    target,
    host,
    ...(parameters ? { parameters } : {}),
    ...(variables ? { variables } : {}),
  });

const plan = (
  template: Record<string, unknown>,
  parameters: Record<string, unknown> = {},
  t = target,
): PlannedDeployment =>
  planDeployment({
    template: { $schema: 'x', contentVersion: '1.0.0.0', resources: [], ...template },
    parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v }])),
    target: t,
    host,
  });

function refused(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TemplateError) return e;
    throw e;
  }
  throw new Error('expected a TemplateError');
}

describe('template language functions', () => {
  const cases: Array<[string, unknown, Record<string, unknown>?]> = [
    ["[parameters('name')]", 'bank-a', { name: 'bank-a' }],
    ["[variables('v')]", 'var-bank-a', { name: 'bank-a' }],
    ["[format('{0}-{1}-{{x}}', 'a', 7)]", 'a-7-{x}'],
    ["[format('{0:D3}', 7)]", '007'],
    ["[format('{0}', true)]", 'True'],
    ["[concat('a', 'b', 1)]", 'ab1'],
    ['[concat(createArray(1, 2), createArray(3))]', [1, 2, 3]],
    [
      "[resourceId('Microsoft.Network/virtualNetworks', 'v')]",
      `${RG}/providers/Microsoft.Network/virtualNetworks/v`,
    ],
    [
      "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]",
      `${RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s`,
    ],
    [
      "[resourceId('rg2', 'Microsoft.Network/virtualNetworks', 'v')]",
      `/subscriptions/${SUB}/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/v`,
    ],
    [
      "[resourceId('s2', 'rg2', 'Microsoft.Network/virtualNetworks', 'v')]",
      '/subscriptions/s2/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/v',
    ],
    [
      "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/r1`,
    ],
    [
      "[subscriptionResourceId('s2', 'Microsoft.Authorization/roleDefinitions', 'r1')]",
      '/subscriptions/s2/providers/Microsoft.Authorization/roleDefinitions/r1',
    ],
    [
      "[extensionResourceId(resourceGroup().id, 'Microsoft.Resources/deployments', 'd')]",
      `${RG}/providers/Microsoft.Resources/deployments/d`,
    ],
    ['[resourceGroup().id]', RG],
    ['[resourceGroup().name]', 'rg1'],
    ['[resourceGroup().location]', 'westeurope'],
    ['[resourceGroup().tags.env]', 'test'],
    ['[subscription().id]', `/subscriptions/${SUB}`],
    ['[subscription().subscriptionId]', SUB],
    ['[subscription().tenantId]', TENANT],
    ['[tenant().tenantId]', TENANT],
    ['[deployment().name]', 'dep1'],
    ["[toLower('AbC')]", 'abc'],
    ["[toUpper('AbC')]", 'ABC'],
    ["[take('abcdef', 3)]", 'abc'],
    ['[take(createArray(1, 2, 3), 2)]', [1, 2]],
    ["[take('ab', 5)]", 'ab'],
    ["[substring('abcdef', 2, 3)]", 'cde'],
    ["[substring('abcdef', 4)]", 'ef'],
    ["[length('abc')]", 3],
    ['[length(createArray(1, 2))]', 2],
    ["[length(createObject('a', 1, 'b', 2))]", 2],
    ["[if(equals(1, 1), 'yes', 'no')]", 'yes'],
    ["[if(equals(1, 2), 'yes', 'no')]", 'no'],
    ["[equals(createObject('a', createArray(1)), json('{\"a\":[1]}'))]", true],
    ["[equals('a', 'A')]", false],
    ['[not(true())]', false],
    ['[and(true(), false())]', false],
    ['[and(true(), true(), true())]', true],
    ['[or(false(), true())]', true],
    ["[empty('')]", true],
    ['[empty(createArray())]', true],
    ['[empty(createObject())]', true],
    ["[empty('x')]", false],
    ["[contains('abc', 'b')]", true],
    ["[contains(createArray('a', 'b'), 'c')]", false],
    ["[contains(createObject('Key', 1), 'key')]", true],
    [
      "[union(createObject('a', 1, 'n', createObject('x', 1)), createObject('b', 2, 'n', createObject('y', 2)))]",
      { a: 1, n: { x: 1, y: 2 }, b: 2 },
    ],
    ['[union(createArray(1, 2), createArray(2, 3))]', [1, 2, 3]],
    ["[createArray('a', 1, true())]", ['a', 1, true]],
    ["[createObject('a', 1, 'b', createArray())]", { a: 1, b: [] }],
    ["[base64('hello')]", 'aGVsbG8='],
    ['[string(true())]', 'True'],
    ["[string(createObject('a', 1))]", '{"a":1}'],
    ['[string(12)]', '12'],
    ["[int('42')]", 42],
    ["[bool('true')]", true],
    ["[bool('False')]", false],
    ['[json(\'{"a":[1,2]}\').a[1]]', 2],
    ["[json('null')]", null],
    ["[split('a/b/c', '/')[1]]", 'b'],
    ["[split('a,b;c', createArray(',', ';'))]", ['a', 'b', 'c']],
    ["[replace('a-b-c', '-', '_')]", 'a_b_c'],
    ["[first('abc')]", 'a'],
    ['[first(createArray(7, 8))]', 7],
    ["[last('abc')]", 'c'],
    ['[last(createArray(7, 8))]', 8],
    ['[greater(2, 1)]', true],
    ["[greater('a', 'b')]", false],
    ['[less(1, 2)]', true],
    ["[coalesce(json('null'), '', 'x')]", ''],
    ["[coalesce(json('null'), 'x')]", 'x'],
    ["[createObject('k', 'v')['k']]", 'v'],
    ['[[literal]', '[literal]'],
    ['not an expression', 'not an expression'],
    ["[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-old')).resourceGuid]", 'g-1'],
    [
      "[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-old'), '2024-05-01', 'Full').location]",
      'westeurope',
    ],
  ];
  // A rest parameter: jest takes a callback with more declared parameters than the row as asking for done().
  test.each(cases)('%s', (...row) => {
    const [expr, expected, params] = row;
    expect(ev(expr, params ?? {}, { v: "[format('var-{0}', parameters('name'))]" })).toEqual(expected);
  });

  test('every function the platform templates may use is known', () => {
    const wanted =
      'parameters variables format concat resourceId subscriptionResourceId extensionResourceId resourceGroup subscription tenant uniqueString guid toLower toUpper take substring length if equals not and or empty contains union createArray createObject base64 string int bool json reference copyIndex split replace first last greater less coalesce';
    for (const f of wanted.split(' ')) expect(TEMPLATE_FUNCTIONS).toContain(f.toLowerCase());
  });

  test('function names are case-insensitive, as in ARM', () => {
    expect(ev("[TOLOWER(Concat('A', 'B'))]")).toBe('ab');
  });

  test('uniqueString is deterministic, 13 characters, and differs by input', () => {
    const x = ev('[uniqueString(resourceGroup().id)]');
    expect(x).toMatch(/^[a-z2-7]{13}$/);
    expect(ev('[uniqueString(resourceGroup().id)]')).toBe(x);
    expect(x).toBe(uniqueString(RG));
    expect(ev("[uniqueString(resourceGroup().id, 'x')]")).not.toBe(x);
  });

  test('guid is a deterministic RFC 4122 GUID of its arguments', () => {
    const g = ev("[guid('a', 'b')]");
    expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(g).toBe(guid('a', 'b'));
    expect(ev("[guid('a', 'c')]")).not.toBe(g);
  });

  test('an unknown function is refused naming it', () => {
    const e = refused(() => ev("[listKeys('x', '2020-01-01')]"));
    expect(e.armCode).toBe('InvalidTemplate');
    expect(e.message).toContain("The template function 'listKeys' is not valid");
  });

  test('bad expressions and bad arguments are InvalidTemplate', () => {
    expect(refused(() => ev("[concat('a']")).message).toContain('Unable to parse language expression');
    expect(refused(() => ev("[substring('abc', 2, 5)]")).message).toContain("function 'substring'");
    expect(refused(() => ev("[createObject('a', 1).b]")).message).toContain("property 'b' doesn't exist");
    expect(refused(() => ev('[copyIndex()]')).message).toContain("'copyIndex' is not expected");
    expect(refused(() => ev("[parameters('nope')]")).message).toContain("parameter 'nope' is not found");
  });

  test('if() evaluates only the branch it takes', () => {
    expect(ev("[if(true(), 'ok', listKeys('x'))]")).toBe('ok');
  });

  test('a reference to a resource that does not exist fails the deployment at run time', () => {
    const e = refused(() => ev("[reference(resourceId('Microsoft.Network/virtualNetworks', 'ghost')).x]"));
    expect(e.armCode).toBe('ResourceNotFound');
    expect(e.phase).toBe('runtime');
  });

  test('resource ids parse back into their parts', () => {
    expect(parseResourceId(`${RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s`)).toEqual({
      subscriptionId: SUB,
      resourceGroup: 'rg1',
      type: 'Microsoft.Network/virtualNetworks/subnets',
      name: 'v/s',
    });
    const ext = parseResourceId(
      `${RG}/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/g`,
    );
    expect(ext?.parent).toBe(`${RG}/providers/Microsoft.KeyVault/vaults/kv`);
    expect(ext?.type).toBe('Microsoft.Authorization/roleAssignments');
    expect(buildResourceId(SUB, undefined, 'Microsoft.Resources/resourceGroups', ['rg9'])).toBe(
      `/subscriptions/${SUB}/resourceGroups/rg9`,
    );
  });
});

describe('parameters are checked as ARM checks them', () => {
  const template = {
    parameters: {
      name: { type: 'string', minLength: 2, maxLength: 5 },
      count: { type: 'int', minValue: 1, maxValue: 3, defaultValue: 1 },
      sku: { type: 'string', allowedValues: ['VpnGw1AZ', 'VpnGw2AZ'], defaultValue: 'VpnGw1AZ' },
      list: { type: 'array', defaultValue: [], maxLength: 2 },
      flag: { type: 'bool', defaultValue: false },
      obj: { type: 'object', defaultValue: {} },
      secret: { type: 'securestring', defaultValue: '' },
      secretObj: { type: 'secureObject', defaultValue: {} },
    },
  };
  const ok = { name: 'abc' };

  test.each([
    [
      'a required parameter is missing',
      {},
      "The value for the template parameter 'name' at line '1' and column",
    ],
    [
      'a parameter is unknown',
      { ...ok, extra: 1 },
      "The template parameters 'extra' in the parameters file are not valid",
    ],
    [
      'a string gets a number',
      { name: 5 },
      "Template parameter JToken type is not valid. Expected 'String, Uri'. Actual 'Integer'",
    ],
    ['an int gets a string', { ...ok, count: '2' }, "Expected 'Integer'. Actual 'String'"],
    ['a bool gets a string', { ...ok, flag: 'true' }, "Expected 'Boolean'. Actual 'String'"],
    ['an object gets an array', { ...ok, obj: [] }, "Expected 'Object'. Actual 'Array'"],
    ['an array gets an object', { ...ok, list: {} }, "Expected 'Array'. Actual 'Object'"],
    [
      'a value is not allowed',
      { ...ok, sku: 'Basic' },
      "The provided value 'Basic' for the template parameter 'sku'",
    ],
    ['an int is below minValue', { ...ok, count: 0 }, "must be greater than or equal to '1'"],
    ['an int is above maxValue', { ...ok, count: 4 }, "must be less than or equal to '3'"],
    [
      'a string is shorter than minLength',
      { name: 'a' },
      "The length of the value must be greater than or equal to '2'",
    ],
    [
      'a string is longer than maxLength',
      { name: 'abcdef' },
      "The length of the value must be less than or equal to '5'",
    ],
    [
      'an array is longer than maxLength',
      { ...ok, list: [1, 2, 3] },
      "less than or equal to '2'. Actual length is '3'",
    ],
  ])('%s: InvalidTemplate', (_what, params, message) => {
    const e = refused(() => plan(template, params));
    expect(e.armCode).toBe('InvalidTemplate');
    expect(e.phase).toBe('validation');
    expect(e.message).toContain('Deployment template validation failed');
    expect(e.message).toContain(message);
  });

  test('good values pass, defaults fill in, secure values are never shown', () => {
    const p = plan(template, { name: 'abc', secret: 'hunter2', secretObj: { k: 'v' }, list: ['x'] });
    expect(p.parameters['name']).toEqual({ type: 'String', value: 'abc' });
    expect(p.parameters['count']).toEqual({ type: 'Int', value: 1 });
    expect(p.parameters['flag']).toEqual({ type: 'Bool', value: false });
    expect(p.parameters['list']).toEqual({ type: 'Array', value: ['x'] });
    expect(p.parameters['secret']).toEqual({ type: 'SecureString' });
    expect(p.parameters['secretObj']).toEqual({ type: 'SecureObject' });
    expect(JSON.stringify(p)).not.toContain('hunter2');
  });

  test('a secure value too short is refused without echoing it', () => {
    const e = refused(() =>
      plan({ parameters: { key: { type: 'securestring', minLength: 32 } } }, { key: 'short-secret' }),
    );
    expect(e.message).toContain("template parameter 'key'");
    expect(e.message).not.toContain('short-secret');
  });

  test('every element of an array must be allowed', () => {
    const t = { parameters: { zones: { type: 'array', allowedValues: ['1', '2', '3'] } } };
    expect(plan(t, { zones: ['1', '3'] }).parameters['zones']?.value).toEqual(['1', '3']);
    expect(refused(() => plan(t, { zones: ['1', '4'] })).message).toContain(
      'not part of the allowed value(s)',
    );
  });
});

describe('resources, loops, conditions and dependencies', () => {
  const nsg = (name: string, extra: Record<string, unknown> = {}) => ({
    type: 'Microsoft.Network/networkSecurityGroups',
    apiVersion: '2024-05-01',
    name,
    location: '[resourceGroup().location]',
    properties: {},
    ...extra,
  });

  test('a resource copy loop makes one resource per index, with copyIndex and an offset', () => {
    const p = plan(
      {
        parameters: { n: { type: 'int' } },
        resources: [
          nsg("[format('nsg-{0}', copyIndex(1))]", { copy: { name: 'nsgs', count: "[parameters('n')]" } }),
        ],
      },
      { n: 3 },
    );
    expect(p.resources.map((r) => r.body.name)).toEqual(['nsg-1', 'nsg-2', 'nsg-3']);
  });

  test('property, variable and output copy loops build arrays', () => {
    const p = plan(
      {
        parameters: { ports: { type: 'array' } },
        variables: {
          copy: [
            {
              name: 'names',
              count: "[length(parameters('ports'))]",
              input: "[format('rule-{0}', copyIndex('names'))]",
            },
          ],
        },
        resources: [
          nsg('nsg', {
            properties: {
              copy: [
                {
                  name: 'securityRules',
                  count: "[length(parameters('ports'))]",
                  input: {
                    name: "[variables('names')[copyIndex('securityRules')]]",
                    properties: {
                      destinationPortRange: "[string(parameters('ports')[copyIndex('securityRules')])]",
                      priority: "[add(100, copyIndex('securityRules'))]",
                    },
                  },
                },
              ],
            },
          }),
        ],
        outputs: {
          doubled: {
            type: 'array',
            copy: {
              count: "[length(parameters('ports'))]",
              input: "[mul(2, parameters('ports')[copyIndex()])]",
            },
          },
        },
      },
      { ports: [10002, 10003] },
    );
    expect(p.resources[0]?.body.properties['securityRules']).toEqual([
      { name: 'rule-0', properties: { destinationPortRange: '10002', priority: 100 } },
      { name: 'rule-1', properties: { destinationPortRange: '10003', priority: 101 } },
    ]);
    expect(p.outputs['doubled']).toEqual({ type: 'Array', value: [20004, 20006] });
  });

  test('a false condition leaves a resource out, and what depends on it keeps going', () => {
    const p = plan(
      {
        parameters: { monitoring: { type: 'bool' } },
        resources: [nsg('a', { condition: "[parameters('monitoring')]" }), nsg('b', { dependsOn: ['a'] })],
      },
      { monitoring: false },
    );
    expect(p.resources.map((r) => r.body.name)).toEqual(['b']);
    expect(p.resources[0]?.dependsOn).toEqual([]);
  });

  test('dependsOn resolves names, ids and copy loops; reference() adds a dependency', () => {
    const p = plan({
      resources: [
        nsg("[format('x{0}', copyIndex())]", { copy: { name: 'xs', count: 2 } }),
        nsg('y', { dependsOn: ['xs'] }),
        nsg('z', {
          dependsOn: ["[resourceId('Microsoft.Network/networkSecurityGroups', 'y')]"],
          properties: { note: "[reference('w').computed]" },
        }),
        nsg('w'),
      ],
    });
    const id = (n: string) => `${RG}/providers/Microsoft.Network/networkSecurityGroups/${n}`.toLowerCase();
    const byName = Object.fromEntries(p.resources.map((r) => [r.body.name, r]));
    expect(byName['y']?.dependsOn.sort()).toEqual([id('x0'), id('x1')]);
    expect(byName['z']?.dependsOn.sort()).toEqual([id('w'), id('y')]);
    expect(byName['z']?.body.properties['note']).toBe('computed:w');
  });

  test('a dependency cycle, an undeclared dependency and a duplicate are refused', () => {
    expect(
      refused(() => plan({ resources: [nsg('a', { dependsOn: ['b'] }), nsg('b', { dependsOn: ['a'] })] }))
        .message,
    ).toContain('Circular dependency');
    expect(refused(() => plan({ resources: [nsg('a', { dependsOn: ['ghost'] })] })).message).toContain(
      "The resource 'ghost' is not defined in the template",
    );
    expect(refused(() => plan({ resources: [nsg('a'), nsg('a')] })).message).toContain(
      'defined multiple times',
    );
  });

  test('child resources: parent/child names, nested declarations, and wrong segment counts', () => {
    const p = plan({
      resources: [
        nsg('n', {
          resources: [
            { type: 'securityRules', apiVersion: '2024-05-01', name: 'r1', properties: { priority: 100 } },
          ],
        }),
        {
          type: 'Microsoft.Network/networkSecurityGroups/securityRules',
          apiVersion: '2024-05-01',
          name: 'n/r2',
          properties: {},
          dependsOn: ['n'],
        },
      ],
    });
    expect(p.resources.map((r) => r.body.id.split('/providers/')[1])).toEqual([
      'Microsoft.Network/networkSecurityGroups/n',
      'Microsoft.Network/networkSecurityGroups/n/securityRules/r1',
      'Microsoft.Network/networkSecurityGroups/n/securityRules/r2',
    ]);
    expect(p.resources[1]?.dependsOn).toEqual([p.resources[0]?.key]);
    expect(refused(() => plan({ resources: [nsg('a/b')] })).message).toContain('incorrect segment lengths');
  });

  test('extension resources take their scope into the id', () => {
    const p = plan({
      resources: [
        {
          type: 'Microsoft.Authorization/roleAssignments',
          apiVersion: '2022-04-01',
          name: "[guid('x')]",
          scope: "[format('Microsoft.KeyVault/vaults/{0}', 'kv1')]",
          properties: { principalId: 'p' },
        },
      ],
    });
    expect(p.resources[0]?.body.id).toBe(
      `${RG}/providers/Microsoft.KeyVault/vaults/kv1/providers/Microsoft.Authorization/roleAssignments/${guid('x')}`,
    );
  });

  test('outputs see the resources as deployed, existing ones too', () => {
    const p = plan({
      resources: [nsg('n')],
      outputs: {
        mine: {
          type: 'string',
          value: "[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'n')).computed]",
        },
        full: {
          type: 'string',
          value:
            "[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'n'), '2024-05-01', 'full').id]",
        },
        old: {
          type: 'string',
          value: "[reference(resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-old')).resourceGuid]",
        },
        hidden: { type: 'securestring', value: 'secret-output' },
      },
    });
    expect(p.outputs['mine']).toEqual({ type: 'String', value: 'computed:n' });
    expect(p.outputs['full']?.value).toBe(`${RG}/providers/Microsoft.Network/networkSecurityGroups/n`);
    expect(p.outputs['old']?.value).toBe('g-1');
    expect(p.outputs['hidden']).toEqual({ type: 'SecureString' });
  });

  test('an output of the wrong type fails the deployment', () => {
    const e = refused(() => plan({ outputs: { n: { type: 'int', value: 'text' } } }));
    expect(e.phase).toBe('runtime');
  });
});

describe('nested deployments', () => {
  const nested = (scope: 'inner' | 'outer', extra: Record<string, unknown> = {}) => ({
    type: 'Microsoft.Resources/deployments',
    apiVersion: '2022-09-01',
    name: 'inner-dep',
    ...extra,
    properties: {
      mode: 'Incremental',
      expressionEvaluationOptions: { scope },
      ...(scope === 'inner'
        ? { parameters: { p: { value: "[format('{0}-x', parameters('outerParam'))]" } } }
        : {}),
      template: {
        $schema: 'x',
        contentVersion: '1.0.0.0',
        parameters: scope === 'inner' ? { p: { type: 'string' } } : {},
        resources: [
          {
            type: 'Microsoft.Network/networkSecurityGroups',
            apiVersion: '2024-05-01',
            name: scope === 'inner' ? "[parameters('p')]" : "[concat(parameters('outerParam'), '-outer')]",
            location: '[resourceGroup().location]',
            properties: {},
          },
        ],
        outputs: { rg: { type: 'string', value: '[resourceGroup().name]' } },
      },
    },
  });

  test('inner scope: own parameters, the target group, outputs through reference()', () => {
    const p = plan(
      {
        parameters: { outerParam: { type: 'string' } },
        resources: [nested('inner', { resourceGroup: 'rg-other' })],
        outputs: {
          fromNested: {
            type: 'string',
            value:
              "[reference(extensionResourceId(format('/subscriptions/{0}/resourceGroups/rg-other', subscription().subscriptionId), 'Microsoft.Resources/deployments', 'inner-dep')).outputs.rg.value]",
          },
        },
      },
      { outerParam: 'o' },
    );
    const child = p.deployments[0]!;
    expect(child.id).toBe(
      `/subscriptions/${SUB}/resourceGroups/rg-other/providers/Microsoft.Resources/deployments/inner-dep`,
    );
    expect(child.resources[0]?.body.id).toBe(
      `/subscriptions/${SUB}/resourceGroups/rg-other/providers/Microsoft.Network/networkSecurityGroups/o-x`,
    );
    expect(child.resources[0]?.body.location).toBe('northeurope');
    expect(p.outputs['fromNested']?.value).toBe('rg-other');
  });

  test("outer scope: the parent's parameters and functions, the template's target for resources", () => {
    const p = plan(
      { parameters: { outerParam: { type: 'string' } }, resources: [nested('outer')] },
      { outerParam: 'o' },
    );
    expect(p.deployments[0]?.resources[0]?.body.name).toBe('o-outer');
  });

  test('a nested deployment into a group that does not exist is refused', () => {
    const e = refused(() =>
      plan(
        {
          parameters: { outerParam: { type: 'string' } },
          resources: [nested('inner', { resourceGroup: 'rg-ghost' })],
        },
        { outerParam: 'o' },
      ),
    );
    expect(e.armCode).toBe('InvalidTemplateDeployment');
    expect(e.details?.[0]?.code).toBe('ResourceGroupNotFound');
  });

  test('a subscription-scope template can make a group and deploy into it', () => {
    const p = plan(
      {
        resources: [
          {
            type: 'Microsoft.Resources/resourceGroups',
            apiVersion: '2022-09-01',
            name: 'rg-new',
            location: 'uksouth',
          },
          {
            ...nested('inner', {
              resourceGroup: 'rg-new',
              dependsOn: ["[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg-new')]"],
            }),
          },
        ],
        parameters: { outerParam: { type: 'string' } },
      },
      { outerParam: 'o' },
      { subscriptionId: SUB, tenantId: TENANT, deploymentName: 'sub-dep', location: 'uksouth' },
    );
    expect(p.resources[0]?.body.id).toBe(`/subscriptions/${SUB}/resourceGroups/rg-new`);
    expect(p.deployments[0]?.resources[0]?.body.location).toBe('uksouth');
    expect(p.deployments[0]?.dependsOn).toEqual([p.resources[0]?.key]);
  });

  test('templateLink and Complete mode are refused', () => {
    const link = {
      type: 'Microsoft.Resources/deployments',
      apiVersion: '2022-09-01',
      name: 'l',
      properties: { mode: 'Incremental', templateLink: { uri: 'https://x' } },
    };
    expect(refused(() => plan({ resources: [link] })).message).toContain('templateLink');
    expect(refused(() => planDeployment({ template: {}, target, host, mode: 'Complete' })).armCode).toBe(
      'InvalidDeploymentMode',
    );
  });
});
