import { readFileSync } from 'fs';
import { join } from 'path';
import { SETTINGS, type SettingSpec } from '../runtime/settings';
import { parseBicep, parseExpression } from './bicep-params';

/**
 * What the platform template must keep: identity-only storage, a purge-protected RBAC vault, the Flex
 * Consumption plan on Node 22, every app setting the app reads in Azure, and an identity with only the
 * roles listed here (each with its reason). Parity with the Bicep is parity.test.ts's job; this file
 * pins the content, on the JSON twin (what is deployed) and on the Bicep text (what people read).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const root = join(__dirname, '..');
const bicepSource = readFileSync(join(__dirname, 'platform.bicep'), 'utf8');
const twin = JSON.parse(readFileSync(join(__dirname, 'compiled', 'platform.json'), 'utf8')) as Json;
const clone = (t: Json): Json => JSON.parse(JSON.stringify(t)) as Json;

/** Every role the platform identity may hold on its own resources, and why. Nothing else is allowed. */
const KNOWN_ROLES: Record<string, { role: string; why: string }> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': {
    role: 'Storage Blob Data Owner',
    why: 'Functions host leases and locks, the deployment package, large durable messages',
  },
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': {
    role: 'Storage Queue Data Contributor',
    why: 'durable control and work-item queues',
  },
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': {
    role: 'Storage Table Data Contributor',
    why: 'durable history, registry, audit and notification tables',
  },
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': {
    role: 'Key Vault Crypto Officer',
    why: 'create the non-exportable CA keys and sign with them (Crypto User cannot create)',
  },
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': {
    role: 'Key Vault Secrets Officer',
    why: 'VPN shared keys, webhook URLs, CA certificate PEMs; the operators webhook reference',
  },
  'a4417e6f-fecd-4de8-b567-7b0420556985': {
    role: 'Key Vault Certificates Officer',
    why: 'the CA creation lock is a pending certificate operation',
  },
  '3913510d-42f4-4e42-8a64-420c390055eb': {
    role: 'Monitoring Metrics Publisher',
    why: 'Entra-authenticated telemetry (Application Insights local auth disabled)',
  },
  '09976791-48a7-449e-bb21-39d1a415f350': {
    role: 'Communication and Email Service Owner',
    why: 'send email with the managed identity; the only built-in role that can, scoped to one resource',
  },
  '0ad04412-c4d5-4796-b79c-f76d14c8d402': {
    role: 'Durable Task Data Contributor',
    why: 'the Durable Task Scheduler task hub, when that backend is chosen',
  },
};

/** Catalog settings the template does not set under their own name, and why. */
const NOT_SET: Record<string, string> = {
  AzureWebJobsStorage: 'identity-based: AzureWebJobsStorage__accountName, __credential, __clientId instead',
  FUNCTIONS_WORKER_RUNTIME: 'Flex Consumption refuses it: functionAppConfig.runtime sets the runtime',
};

const resources = (t: Json) => t.resources as Json[];
const ofType = (t: Json, type: string) => resources(t).filter((r) => r.type === type);
const one = (t: Json, type: string) => ofType(t, type)[0] ?? {};

/** The role definition guid of a role assignment (subscriptionResourceId(..., variables('x'))). */
function roleIdOf(t: Json, assignment: Json): string | undefined {
  const text = String(assignment.properties?.roleDefinitionId ?? '');
  const e = parseExpression(text.slice(1, -1));
  if (e.kind !== 'call' || e.name !== 'subscriptionResourceId') return undefined;
  const arg = e.args[1];
  if (arg?.kind === 'string') return arg.value;
  if (arg?.kind === 'call' && arg.name === 'variables' && arg.args[0]?.kind === 'string') {
    const v = (t.variables as Json)[arg.args[0].value];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

function appSettings(t: Json): Json {
  return (one(t, 'Microsoft.Web/sites/config').properties ?? {}) as Json;
}

/** Everything the platform template must keep, as a list of problems (empty when all is well). */
function platformProblems(t: Json): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };

  const storage = one(t, 'Microsoft.Storage/storageAccounts').properties ?? {};
  expect(storage.allowSharedKeyAccess === false, 'storage allows shared key access');
  expect(storage.allowBlobPublicAccess === false, 'storage allows public blob access');
  expect(storage.minimumTlsVersion === 'TLS1_2', 'storage accepts TLS below 1.2');

  const vault = one(t, 'Microsoft.KeyVault/vaults').properties ?? {};
  expect(vault.enableRbacAuthorization === true, 'vault does not use RBAC authorization');
  expect(vault.enablePurgeProtection === true, 'vault has no purge protection');
  expect(vault.enableSoftDelete === true, 'vault has no soft delete');
  expect(!('accessPolicies' in vault), 'vault has access policies');

  const insights = one(t, 'Microsoft.Insights/components').properties ?? {};
  expect(typeof insights.WorkspaceResourceId === 'string', 'Application Insights is not workspace-based');

  const plan = one(t, 'Microsoft.Web/serverfarms');
  expect(
    plan.sku?.name === 'FC1' && plan.sku?.tier === 'FlexConsumption',
    'the plan is not Flex Consumption (FC1)',
  );
  const site = one(t, 'Microsoft.Web/sites');
  expect(site.kind === 'functionapp,linux', 'the site is not a Linux function app');
  const config = site.properties?.functionAppConfig ?? {};
  expect(config.runtime?.name === 'node' && config.runtime?.version === '22', 'the runtime is not Node 22');
  expect(
    config.deployment?.storage?.authentication?.type === 'UserAssignedIdentity',
    'the deployment storage is not reached with the identity',
  );
  expect(site.identity?.type === 'UserAssigned', 'the app does not run as the user-assigned identity');

  const settings = appSettings(t);
  const catalog = SETTINGS as Record<string, SettingSpec>;
  for (const [name, spec] of Object.entries(catalog)) {
    if (spec.localOnly || name in NOT_SET) continue;
    expect(name in settings, `app setting ${name} is not set`);
  }
  for (const name of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'AzureWebJobsStorage']) {
    expect(!(name in settings), `app setting ${name} must not be set on Flex Consumption / identity storage`);
  }
  expect(settings.AzureWebJobsStorage__credential === 'managedidentity', 'storage is not identity-based');
  expect(typeof settings.AzureWebJobsStorage__accountName === 'string', 'AzureWebJobsStorage__accountName');
  expect(typeof settings.AzureWebJobsStorage__clientId === 'string', 'AzureWebJobsStorage__clientId');
  expect(typeof settings.AZURE_CLIENT_ID === 'string', 'AZURE_CLIENT_ID (DefaultAzureCredential) missing');
  expect(
    String(settings.TRUSTNET_OPERATORS_TEAMS_WEBHOOK ?? '').includes('@Microsoft.KeyVault(SecretUri='),
    'the operators webhook is not a Key Vault reference',
  );
  for (const [name, value] of Object.entries(settings)) {
    if (!name.endsWith('_SCHEDULE')) continue;
    // Flex Consumption timers take NCRONTAB only: six fields, seconds first.
    expect(typeof value === 'string' && value.split(' ').length === 6, `${name} is not NCRONTAB`);
  }
  expect(settings.TRUSTNET_SCALING_SCHEDULE === '0 */5 * * * *', 'TRUSTNET_SCALING_SCHEDULE');

  for (const assignment of ofType(t, 'Microsoft.Authorization/roleAssignments')) {
    const id = roleIdOf(t, assignment);
    expect(
      id !== undefined && id in KNOWN_ROLES,
      `role assignment ${assignment.name} grants unlisted role ${id}`,
    );
    expect(
      String(assignment.properties?.principalId).includes('Microsoft.ManagedIdentity/userAssignedIdentities'),
      `role assignment ${assignment.name} is not for the platform identity`,
    );
  }

  for (const [name, output] of Object.entries((t.outputs ?? {}) as Json)) {
    expect(
      !/ConnectionString|listKeys|secret/i.test(JSON.stringify(output)),
      `output ${name} exposes a secret`,
    );
  }
  return problems;
}

describe('platform template', () => {
  test('the twin keeps every pinned property', () => {
    expect(platformProblems(twin)).toEqual([]);
  });

  test('it is a resource-group template whose required parameters azd can fill', () => {
    const parsed = parseBicep(bicepSource);
    expect(parsed.targetScope).toBe('resourceGroup');
    const required = parsed.params.filter((p) => p.defaultValue === undefined).map((p) => p.name);
    expect(required.sort()).toEqual(['environmentName', 'operatorsEmail']);
    const parameterFile = JSON.parse(
      readFileSync(join(__dirname, 'platform.parameters.json'), 'utf8'),
    ) as Json;
    const given = Object.keys(parameterFile.parameters as Json);
    for (const name of required) expect(given).toContain(name);
    for (const name of given) expect(parsed.params.map((p) => p.name)).toContain(name);
    expect(parameterFile.parameters.environmentName.value).toBe('${AZURE_ENV_NAME}');
    expect(parameterFile.parameters.location.value).toBe('${AZURE_LOCATION}');
  });

  test('each role is one of the known set, and the Bicep says why next to each assignment', () => {
    const granted = ofType(twin, 'Microsoft.Authorization/roleAssignments').map((a) => roleIdOf(twin, a));
    expect(granted.sort()).toEqual(Object.keys(KNOWN_ROLES).sort());
    // Never a broad role.
    const broad = [
      '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', // Owner
      'b24988ac-6180-42a0-ab88-20f7382dd24c', // Contributor
      '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', // User Access Administrator
      '00482a5a-887f-4fb3-b363-3b7fe8e74483', // Key Vault Administrator
    ];
    for (const id of broad) expect(bicepSource).not.toContain(id);
    const lines = bicepSource.split('\n');
    const assignments = lines
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => /^resource \w+ 'Microsoft\.Authorization\/roleAssignments@/.test(line));
    expect(assignments).toHaveLength(Object.keys(KNOWN_ROLES).length);
    for (const { line, i } of assignments) {
      expect([line, lines[i - 1]?.trim().startsWith('//')]).toEqual([line, true]);
    }
  });

  test('the Bicep sets the same pinned properties and settings as the twin', () => {
    for (const text of [
      'allowSharedKeyAccess: false',
      'allowBlobPublicAccess: false',
      "minimumTlsVersion: 'TLS1_2'",
      'enableRbacAuthorization: true',
      'enablePurgeProtection: true',
      "name: 'FC1'",
      "tier: 'FlexConsumption'",
      "kind: 'functionapp,linux'",
      "name: 'node'",
      "version: '22'",
    ]) {
      expect(bicepSource).toContain(text);
    }
    const block = bicepSource.slice(bicepSource.indexOf("resource appSettings 'Microsoft.Web/sites/config"));
    const bicepKeys = [...block.matchAll(/^ {4}(\w+):/gm)].map((m) => m[1]);
    expect(bicepKeys.sort()).toEqual(Object.keys(appSettings(twin)).sort());
    for (const [name, value] of Object.entries(appSettings(twin))) {
      // Literal values agree exactly; expressions are held together by the key list above.
      if (typeof value === 'string' && !value.startsWith('[')) expect(block).toContain(`${name}: '${value}'`);
    }
  });

  test('the private networking switch reaches the vault, storage, endpoints and app', () => {
    const t = twin;
    expect(one(t, 'Microsoft.Network/virtualNetworks').condition).toBe("[parameters('privateNetworking')]");
    const vault = one(t, 'Microsoft.KeyVault/vaults').properties;
    expect(vault.publicNetworkAccess).toBe("[if(parameters('privateNetworking'), 'Disabled', 'Enabled')]");
    expect(String(t.variables.privateLinks)).toMatch(/^\[if\(parameters\('privateNetworking'\)/);
    for (const zone of ['vaultcore', 'blob', 'queue', 'table']) {
      expect(String(t.variables.privateLinks)).toContain(`privatelink.${zone}.`);
    }
    for (const type of [
      'Microsoft.Network/privateEndpoints',
      'Microsoft.Network/privateDnsZones',
      'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
      'Microsoft.Network/privateEndpoints/privateDnsZoneGroups',
    ]) {
      expect(one(t, type).copy?.count).toBe("[length(variables('privateLinks'))]");
    }
    const subnets = one(t, 'Microsoft.Network/virtualNetworks').properties.subnets as Json[];
    expect(subnets.find((s) => s.name === 'app')?.properties.delegations[0].properties.serviceName).toBe(
      'Microsoft.App/environments',
    );
    expect(one(t, 'Microsoft.Web/sites').properties.virtualNetworkSubnetId).toContain('privateNetworking');
  });

  test('the Durable Task Scheduler is created, granted and wired only when chosen', () => {
    const useScheduler = "[variables('useScheduler')]";
    expect(twin.variables.useScheduler).toBe(
      "[equals(parameters('durableBackend'), 'DurableTaskScheduler')]",
    );
    expect(one(twin, 'Microsoft.DurableTask/schedulers').condition).toBe(useScheduler);
    expect(one(twin, 'Microsoft.DurableTask/schedulers/taskHubs').condition).toBe(useScheduler);
    const hubRole = ofType(twin, 'Microsoft.Authorization/roleAssignments').find(
      (a) => roleIdOf(twin, a) === '0ad04412-c4d5-4796-b79c-f76d14c8d402',
    );
    expect(hubRole?.condition).toBe(useScheduler);
    expect(hubRole?.scope).toContain('taskHubs');
    const conn = String(appSettings(twin).DURABLE_TASK_SCHEDULER_CONNECTION_STRING);
    expect(conn).toMatch(
      /^\[if\(variables\('useScheduler'\), format\('Endpoint=\{0\};Authentication=ManagedIdentity/,
    );
    // The other roles are unconditional: the Azure Storage backend needs them either way.
    const conditional = ofType(twin, 'Microsoft.Authorization/roleAssignments').filter((a) => a.condition);
    expect(conditional).toHaveLength(1);
  });

  test('azure.yaml points azd at bicep/platform and deploys the project as a function app', () => {
    const yaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/^name: trustnet$/m);
    expect(yaml).toMatch(/^infra:\n {2}provider: bicep\n {2}path: bicep\n {2}module: platform$/m);
    expect(yaml).toMatch(/^ {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function$/m);
    // azd finds the app by this tag.
    expect(one(twin, 'Microsoft.Web/sites').tags).toContain("'azd-service-name', 'api'");
  });
});

describe('what platformProblems catches', () => {
  const settingsOf = (t: Json) => one(t, 'Microsoft.Web/sites/config').properties as Json;
  const roleOf = (t: Json, roleVar: string) =>
    ofType(t, 'Microsoft.Authorization/roleAssignments').find((a) =>
      String(a.properties.roleDefinitionId).includes(roleVar),
    )!;
  const cases: [string, (t: Json) => void, RegExp][] = [
    [
      'shared keys allowed',
      (t) => (one(t, 'Microsoft.Storage/storageAccounts').properties.allowSharedKeyAccess = true),
      /shared key/,
    ],
    [
      'purge protection off',
      (t) => (one(t, 'Microsoft.KeyVault/vaults').properties.enablePurgeProtection = false),
      /purge protection/,
    ],
    [
      'access policies instead of RBAC',
      (t) => (one(t, 'Microsoft.KeyVault/vaults').properties.enableRbacAuthorization = false),
      /RBAC/,
    ],
    ['a consumption (Y1) plan', (t) => (one(t, 'Microsoft.Web/serverfarms').sku.name = 'Y1'), /Flex/],
    [
      'Node 20',
      (t) => (one(t, 'Microsoft.Web/sites').properties.functionAppConfig.runtime.version = '20'),
      /Node 22/,
    ],
    ['a catalog setting dropped', (t) => delete settingsOf(t).TRUSTNET_RETRY_WINDOW, /TRUSTNET_RETRY_WINDOW/],
    [
      'the webhook in plain text',
      (t) => (settingsOf(t).TRUSTNET_OPERATORS_TEAMS_WEBHOOK = 'https://example.invalid/hook'),
      /Key Vault reference/,
    ],
    [
      'a TimeSpan schedule',
      (t) => (settingsOf(t).TRUSTNET_SCALING_SCHEDULE = '00:05:00'),
      /TRUSTNET_SCALING_SCHEDULE/,
    ],
    [
      'FUNCTIONS_WORKER_RUNTIME set on Flex',
      (t) => (settingsOf(t).FUNCTIONS_WORKER_RUNTIME = 'node'),
      /FUNCTIONS_WORKER_RUNTIME must not/,
    ],
    [
      'a role swapped for Contributor',
      (t) =>
        (roleOf(t, 'keyVaultSecretsOfficerRoleId').properties.roleDefinitionId =
          "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-42a0-ab88-20f7382dd24c')]"),
      /unlisted role b24988ac/,
    ],
    [
      'a role variable changed to Key Vault Administrator',
      (t) => (t.variables.keyVaultCryptoOfficerRoleId = '00482a5a-887f-4fb3-b363-3b7fe8e74483'),
      /unlisted role 00482a5a/,
    ],
    [
      'a role granted to someone else',
      (t) =>
        (roleOf(t, 'storageBlobDataOwnerRoleId').properties.principalId = "[parameters('environmentName')]"),
      /not for the platform identity/,
    ],
    [
      'the App Insights connection string as an output',
      (t) =>
        (t.outputs.insights = {
          type: 'string',
          value:
            "[reference(resourceId('Microsoft.Insights/components', variables('insightsName')), '2020-02-02').ConnectionString]",
        }),
      /output insights exposes a secret/,
    ],
  ];

  test.each(cases)('%s', (_what, mutate, expected) => {
    const altered = clone(twin);
    mutate(altered);
    expect(platformProblems(altered).join('\n')).toMatch(expected);
  });

  test('a setting added to the catalog but not to the template is caught', () => {
    const catalog = SETTINGS as Record<string, SettingSpec>;
    catalog['TRUSTNET_NEW_THING'] = { description: 'test only', sample: '' };
    try {
      expect(platformProblems(twin)).toEqual(['app setting TRUSTNET_NEW_THING is not set']);
      catalog['TRUSTNET_NEW_THING'] = { description: 'test only', sample: '', localOnly: true };
      expect(platformProblems(twin)).toEqual([]);
    } finally {
      delete catalog['TRUSTNET_NEW_THING'];
    }
  });
});
