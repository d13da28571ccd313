// What a bank deploys in its own subscription (`az deployment sub create`) to delegate narrow roles on
// its TrustNet resource group to the platform through Azure Lighthouse. The bank can withdraw them at
// any time by deleting the registration assignment.
//
// Lighthouse accepts built-in roles only, never Owner, and no role with DataActions (so no Key Vault data
// role). User Access Administrator is accepted only to assign the roles listed in its
// delegatedRoleDefinitionIds to managed identities in this tenant. Data-plane access to the node's vault
// therefore cannot come through Lighthouse: set platformLocalPrincipalId (the platform application's
// service principal in this tenant) and this template grants it Key Vault Certificates Officer on the
// resource group directly, as the bank itself.
targetScope = 'subscription'

@description('Entra tenant of the TrustNet platform (the managing tenant).')
param managedByTenantId string

@description('Object id, in the managing tenant, of the platform principal that gets the roles below.')
param platformPrincipalId string

@description('Display name of that principal, shown to the bank with each role.')
param platformPrincipalName string = 'TrustNet platform'

@description('The bank resource group to delegate; it must exist.')
param resourceGroupName string

@description('Offer name the bank sees under Service providers.')
param offerName string = 'TrustNet consortium node'

@description('Optional: object id, in this tenant, of the platform application service principal; gets Key Vault Certificates Officer on the resource group.')
param platformLocalPrincipalId string = ''

var networkContributorRoleId = '4d97b98b-1d4f-4787-a291-c67834d212e7'
var virtualMachineContributorRoleId = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'
var keyVaultContributorRoleId = 'f25e0fa2-a7c8-4377-a976-54943a77a395'
var managedIdentityContributorRoleId = 'e40ec5ca-96e0-45a2-b4ff-59039f2c2b59'
var managedIdentityOperatorRoleId = 'f1a07417-d97a-45cb-824c-7a7467783830'
var monitoringContributorRoleId = '749f88d5-cbae-40b8-bcfc-e573ddc772fa'
var userAccessAdministratorRoleId = '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9'
var registrationAssignmentDeleteRoleId = '91c1777a-f3dc-4fae-b103-61d183457e46'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985'

// Stable per platform principal and resource group, so a redeploy updates the same definition.
var definitionName = guid(managedByTenantId, platformPrincipalId, subscription().subscriptionId, resourceGroupName)

// The display name carries each role's reason, so the bank sees it under Service providers.
var authorizations = [
  // Network Contributor: the VNet, VPN gateway, connections, NSG rules and load balancer.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - network, VPN, NSG rules, load balancer'
    roleDefinitionId: networkContributorRoleId
  }
  // Virtual Machine Contributor: the node scale set and its capacity.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - node scale set and its capacity'
    roleDefinitionId: virtualMachineContributorRoleId
  }
  // Key Vault Contributor: create the node's vault (management plane only: no keys, secrets or certificates).
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - the node vault (management plane only)'
    roleDefinitionId: keyVaultContributorRoleId
  }
  // Managed Identity Contributor: create the node's user-assigned identity.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - create the node identity'
    roleDefinitionId: managedIdentityContributorRoleId
  }
  // Managed Identity Operator: assign that identity to the scale set.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - assign the node identity to the scale set'
    roleDefinitionId: managedIdentityOperatorRoleId
  }
  // Monitoring Contributor: the Azure Monitor Agent and its data collection.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - monitoring agent'
    roleDefinitionId: monitoringContributorRoleId
  }
  // User Access Administrator, restricted: only these Key Vault roles, only to managed identities in this
  // tenant (the node identity reads its certificate with Key Vault Secrets User).
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - Key Vault roles for the node identity'
    roleDefinitionId: userAccessAdministratorRoleId
    delegatedRoleDefinitionIds: [
      keyVaultSecretsUserRoleId
      keyVaultCertificatesOfficerRoleId
    ]
  }
  // Managed Services Registration Assignment Delete Role: the platform can end this delegation when the
  // bank leaves the consortium.
  {
    principalId: platformPrincipalId
    principalIdDisplayName: '${platformPrincipalName} - withdraw this delegation'
    roleDefinitionId: registrationAssignmentDeleteRoleId
  }
]

resource definition 'Microsoft.ManagedServices/registrationDefinitions@2022-10-01' = {
  name: definitionName
  properties: {
    registrationDefinitionName: offerName
    description: 'Lets the TrustNet platform build and run this bank Corda node, its VPN and its vault in one resource group.'
    managedByTenantId: managedByTenantId
    authorizations: authorizations
  }
}

module assignment 'delegation-assignment.bicep' = {
  name: 'trustnet-delegation'
  scope: resourceGroup(resourceGroupName)
  params: {
    registrationDefinitionId: definition.id
    platformLocalPrincipalId: platformLocalPrincipalId
  }
}

output registrationDefinitionId string = definition.id
output registrationAssignmentId string = assignment.outputs.registrationAssignmentId
