// The TrustNet platform itself, in the operator's resource group: the Function App on the Flex Consumption
// plan (Node 22) with a user-assigned identity, its storage (identity-based access only, no shared keys),
// the platform Key Vault (RBAC, soft delete, purge protection; the consortium CA keys live here), Log
// Analytics with workspace-based Application Insights, Communication Services with an Azure-managed email
// domain, and optionally the Durable Task Scheduler and private networking. Deployed with `azd up`
// (azure.yaml points here) or `az deployment group create` with compiled/platform.json; see docs/deploy.md.
//
// The identity gets only the roles below, each on the one resource it needs. Rights on member banks'
// resource groups do not come from here: each bank grants them with delegation.bicep (Lighthouse).

@description('Environment name (azd AZURE_ENV_NAME): lowercase letters, digits and hyphens; used in resource names.')
@minLength(2)
@maxLength(20)
param environmentName string

@description('Region of every regional resource.')
param location string = resourceGroup().location

@description('Durable Functions backend: Azure Storage (queues, tables, blobs in the app storage) or the Durable Task Scheduler (more throughput; needs the host.json change in docs/deploy.md).')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('true: VNet integration for the app and private endpoints for the vault and storage, public access to both disabled. false: public endpoints, access by Entra ID and RBAC only.')
param privateNetworking bool = true

@description('Address space of the platform VNet (used when privateNetworking is true).')
param vnetAddressPrefix string = '10.250.0.0/24'

@description('Subnet for the app\'s VNet integration, delegated to Microsoft.App/environments.')
param appSubnetPrefix string = '10.250.0.0/25'

@description('Subnet for the private endpoints.')
param privateEndpointSubnetPrefix string = '10.250.0.128/26'

@description('Durable task hub name (TRUSTNET_TASK_HUB); also the Durable Task Scheduler task hub.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'TrustNet'

@description('Path of the consortium file on the app (TRUSTNET_CONSORTIUM_FILE); the deployment package is mounted at /home/site/wwwroot.')
param consortiumFile string = '/home/site/wwwroot/consortium.json'

@description('Comma-separated operator email addresses (TRUSTNET_OPERATORS_EMAIL).')
@minLength(3)
param operatorsEmail string

@description('Name of the platform vault secret holding the operators\' Teams Workflows webhook URL (TRUSTNET_OPERATORS_TEAMS_WEBHOOK is a Key Vault reference to it).')
param operatorsTeamsWebhookSecretName string = 'operators-teams-webhook'

@description('Public base URL for links in notifications (TRUSTNET_PUBLIC_URL); empty: the app\'s default host name.')
param publicUrl string = ''

@description('Most membership requests open at once (TRUSTNET_MAX_OPEN_REQUESTS).')
@minValue(1)
@maxValue(1000)
param maxOpenRequests int = 20

@description('true: approved requests only validate and plan (TRUSTNET_DRY_RUN).')
param dryRun bool = false

@description('Client id of the consortium\'s multi-tenant Entra application, federated with the platform identity: how the platform reaches vaults of banks in other tenants (TRUSTNET_PLATFORM_APP_ID; docs/deploy.md). Empty: every bank shares this tenant.')
param platformAppClientId string = ''

@description('Most instances the Flex Consumption plan scales the app out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Storage redundancy: ZRS within the region; GZRS or RA-GZRS add an asynchronous copy in the paired region (docs/deploy.md, disaster recovery).')
@allowed([
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Where Communication Services keeps email data at rest (a geography, e.g. Europe, United States).')
param communicationDataLocation string = 'Europe'

@description('Tags for every resource.')
param tags object = {}

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var identityName = 'id-trustnet-${environmentName}'
var storageName = take('sttn${token}', 24)
var vaultName = take('kv-tn-${token}', 24)
var workspaceName = 'log-trustnet-${environmentName}'
var insightsName = 'appi-trustnet-${environmentName}'
var planName = 'plan-trustnet-${environmentName}'
var siteName = 'func-trustnet-${environmentName}-${take(token, 6)}'
var emailServiceName = 'ecs-trustnet-${token}'
var communicationName = 'acs-trustnet-${token}'
var schedulerName = 'dts-trustnet-${take(token, 8)}'
var vnetName = 'vnet-trustnet-${environmentName}'
var deploymentContainerName = 'app-package'
var useScheduler = durableBackend == 'DurableTaskScheduler'

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var keyVaultCryptoOfficerRoleId = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
var communicationEmailServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350'
var durableTaskDataContributorRoleId = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

// One private endpoint, DNS zone and zone link per entry (public Azure cloud zone names).
var privateLinks = privateNetworking ? [
      {
        name: 'vault'
        groupId: 'vault'
        zone: 'privatelink.vaultcore.azure.net'
        target: resourceId('Microsoft.KeyVault/vaults', vaultName)
      }
      {
        name: 'blob'
        groupId: 'blob'
        zone: 'privatelink.blob.core.windows.net'
        target: resourceId('Microsoft.Storage/storageAccounts', storageName)
      }
      {
        name: 'queue'
        groupId: 'queue'
        zone: 'privatelink.queue.core.windows.net'
        target: resourceId('Microsoft.Storage/storageAccounts', storageName)
      }
      {
        name: 'table'
        groupId: 'table'
        zone: 'privatelink.table.core.windows.net'
        target: resourceId('Microsoft.Storage/storageAccounts', storageName)
      }
    ] : []

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: identityName
  location: location
  tags: tags
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: insightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry only with an Entra token (the app identity's Monitoring Metrics Publisher role).
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: storageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: storageSku
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 14
    }
  }
}

// The Flex Consumption plan runs the app from a package in this container.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The CA keys cannot be destroyed before the retention period ends, even by an administrator.
    enablePurgeProtection: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      // Public mode cannot deny by default: Flex Consumption apps without VNet integration have no
      // stable outbound addresses and are not a trusted service (docs/deploy.md, "Networking").
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: communicationDataLocation
  }
}

resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: communicationDataLocation
    linkedDomains: [
      emailDomain.id
    ]
  }
}

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = if (useScheduler) {
  name: schedulerName
  location: location
  tags: tags
  properties: {
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: {
      name: 'Consumption'
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = if (useScheduler) {
  parent: scheduler
  name: taskHubName
  properties: {}
}

resource vnet 'Microsoft.Network/virtualNetworks@2026-01-01' = if (privateNetworking) {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
        }
      }
    ]
  }
}

resource privateDnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for link in privateLinks: {
    name: link.zone
    location: 'global'
    tags: tags
  }
]

resource privateDnsZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (link, i) in privateLinks: {
    parent: privateDnsZones[i]
    name: vnetName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2026-01-01' = [
  for link in privateLinks: {
    name: 'pe-${link.name}-${token}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, 'private-endpoints')
      }
      privateLinkServiceConnections: [
        {
          name: link.name
          properties: {
            privateLinkServiceId: link.target
            groupIds: [
              link.groupId
            ]
          }
        }
      ]
    }
    dependsOn: [
      vnet
      vault
      storage
    ]
  }
]

resource privateDnsZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2026-01-01' = [
  for (link, i) in privateLinks: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: link.name
          properties: {
            privateDnsZoneId: privateDnsZones[i].id
          }
        }
      ]
    }
  }
]

// --- What the app identity may do, and why -------------------------------------------------------

// Functions host and Durable Functions: host locks and leases, the deployment package, large durable
// messages (the host needs Owner, not Contributor, for blob leases on AzureWebJobsStorage).
resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Durable Functions control and work-item queues (Azure Storage backend) and the host's queues.
resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Durable history and instance tables, and TrustNet's registry, audit and notification tables.
resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The consortium CA: create the non-exportable root and doorman keys and sign with them. Crypto User
// can sign but not create keys; Crypto Officer covers both and nothing outside keys.
resource vaultCryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultCryptoOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Write, read and delete VPN pre-shared keys, members' webhook URLs and the CA certificates (PEM
// secrets); also resolves the operators' webhook Key Vault reference.
resource vaultSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The CA creation lock is a pending certificate operation (trustnet-ca-lock): create, read and cancel
// it. Certificate operations only; no secret or key material.
resource vaultCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultCertificatesOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights accepts only Entra-authenticated telemetry (DisableLocalAuth).
resource insightsMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, monitoringMetricsPublisherRoleId)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Send notification email with the managed identity: the only built-in role that allows it, scoped to
// this one Communication Services resource.
resource communicationEmailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identity.id, communicationEmailServiceOwnerRoleId)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationEmailServiceOwnerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Durable Task Scheduler backend: run orchestrations in this task hub only.
resource taskHubDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useScheduler) {
  name: guid(taskHub.id, identity.id, durableTaskDataContributorRoleId)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// --- The app --------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: siteName
  location: location
  // azd finds the service's app by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    virtualNetworkSubnetId: privateNetworking ? resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, 'app') : null
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
  dependsOn: [
    deploymentContainer
    vnet
    storageBlobDataOwner
  ]
}

// Flex Consumption takes no FUNCTIONS_WORKER_RUNTIME or FUNCTIONS_EXTENSION_VERSION: functionAppConfig
// sets the runtime. Every TRUSTNET_* setting the app reads in Azure is here (platform.test.ts checks).
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // DefaultAzureCredential picks the user-assigned identity by this.
    AZURE_CLIENT_ID: identity.properties.clientId
    AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
    // host.json names this setting only when the Durable Task Scheduler is configured (docs/deploy.md).
    DURABLE_TASK_SCHEDULER_CONNECTION_STRING: useScheduler ? 'Endpoint=${scheduler.properties.endpoint};Authentication=ManagedIdentity;ClientID=${identity.properties.clientId}' : ''
    TRUSTNET_TASK_HUB: taskHubName
    TRUSTNET_CONSORTIUM_FILE: consortiumFile
    TRUSTNET_MAX_OPEN_REQUESTS: string(maxOpenRequests)
    TRUSTNET_KEY_VAULT_URL: vault.properties.vaultUri
    TRUSTNET_PLATFORM_PRINCIPAL_ID: identity.properties.principalId
    TRUSTNET_PLATFORM_TENANT_ID: subscription().tenantId
    TRUSTNET_PLATFORM_APP_ID: platformAppClientId
    TRUSTNET_POLL_INTERVAL: 'PT30S'
    TRUSTNET_RETRY_WINDOW: 'P7D'
    TRUSTNET_DRY_RUN: dryRun ? 'true' : 'false'
    TRUSTNET_CERT_RENEWAL_SCHEDULE: '0 0 3 * * *'
    TRUSTNET_SCALING_SCHEDULE: '0 */5 * * * *'
    TRUSTNET_CERT_RENEW_BEFORE: 'P30D'
    TRUSTNET_PUBLIC_URL: empty(publicUrl) ? 'https://${site.properties.defaultHostName}' : publicUrl
    TRUSTNET_OPERATORS_EMAIL: operatorsEmail
    TRUSTNET_OPERATORS_TEAMS_WEBHOOK: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${operatorsTeamsWebhookSecretName})'
    TRUSTNET_EMAIL_ENDPOINT: 'https://${communication.properties.hostName}'
    TRUSTNET_EMAIL_SENDER: 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
    TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 * * * * *'
    TRUSTNET_DEADLINE_REMINDER: 'PT24H'
  }
  dependsOn: [
    storageQueueDataContributor
    storageTableDataContributor
    vaultSecretsOfficer
  ]
}

@description('Name of the Function App.')
output functionAppName string = site.name

@description('Default host name of the Function App.')
output functionAppHostName string = site.properties.defaultHostName

@description('URI of the platform Key Vault (TRUSTNET_KEY_VAULT_URL).')
output vaultUri string = vault.properties.vaultUri

@description('Name of the platform Key Vault.')
output vaultName string = vault.name

@description('Client id of the platform identity.')
output identityClientId string = identity.properties.clientId

@description('Principal (object) id of the platform identity: what banks pass to delegation.bicep.')
output identityPrincipalId string = identity.properties.principalId

@description('Name of the app storage account.')
output storageAccountName string = storage.name

@description('Resource group of the platform (azd reads AZURE_RESOURCE_GROUP).')
output AZURE_RESOURCE_GROUP string = resourceGroup().name
