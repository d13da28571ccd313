// Module of delegation.bicep, deployed into the bank's resource group: the Lighthouse registration
// assignment, and the optional direct Key Vault role for the platform's service principal in this tenant.

@description('Resource id of the registration definition to assign.')
param registrationDefinitionId string

@description('Object id, in this tenant, of the platform application service principal; empty for none.')
param platformLocalPrincipalId string = ''

var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985'

resource assignment 'Microsoft.ManagedServices/registrationAssignments@2022-10-01' = {
  name: guid(resourceGroup().id, registrationDefinitionId)
  properties: {
    registrationDefinitionId: registrationDefinitionId
  }
}

// Assigned by the bank, not through Lighthouse: creates the node certificate and merges its signed chain,
// never reads private keys.
resource platformCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(platformLocalPrincipalId)) {
  name: guid(resourceGroup().id, platformLocalPrincipalId, keyVaultCertificatesOfficerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
    principalId: platformLocalPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output registrationAssignmentId string = assignment.id
