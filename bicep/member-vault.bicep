// A member bank's Key Vault for its node key, the node's user-assigned identity, the role assignments on
// the vault, and the internal load balancer in front of the node scale set.
//
// Under Azure Lighthouse the platform can assign roles only to managed identities in the bank's tenant
// (User Access Administrator restricted by delegatedRoleDefinitionIds), so the node identity's role is
// assigned here, while the platform's own Key Vault Certificates Officer role comes from the bank's
// delegation template (platformLocalPrincipalId): leave platformPrincipalId empty then. Set it where the
// deploying principal may assign roles to any principal (one tenant, or the local cloud).

@description('Member id: lowercase letters, digits and hyphens; used in resource names.')
@minLength(2)
@maxLength(40)
param bankId string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Entra tenant of the vault.')
param tenantId string = subscription().tenantId

@description('Principal (object id) given Key Vault Certificates Officer on the vault; empty for none.')
param platformPrincipalId string

@description('The node subnet id (member-network output nodeSubnetId), for the load balancer frontend.')
param nodeSubnetId string

@description('Tags for every resource.')
param tags object = {}

// 'kv-' + 12 + '-' + 6 = at most 22 characters (vault names: 3-24, no consecutive hyphens).
var vaultName = 'kv-${take(replace(bankId, '-', ''), 12)}-${take(uniqueString(resourceGroup().id), 6)}'
var identityName = 'id-${bankId}-node'
var loadBalancerName = 'lb-${bankId}'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Purge protection: a deleted node key can be recovered for 90 days and not destroyed early.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: identityName
  location: location
  tags: tags
}

// The node reads its certificate's PFX through the certificate's secret.
resource nodeSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    // Lets a Lighthouse-delegated deployer assign a role to this managed identity.
    delegatedManagedIdentityResourceId: identity.id
  }
}

// The platform creates the node certificate (the key never leaves the vault) and merges the signed
// chain; this role cannot read private keys or secrets.
resource platformCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(platformPrincipalId)) {
  name: guid(vault.id, platformPrincipalId, keyVaultCertificatesOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
    principalId: platformPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Internal only: members reach the node over the VPN, never from the internet.
resource loadBalancer 'Microsoft.Network/loadBalancers@2026-01-01' = {
  name: loadBalancerName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    frontendIPConfigurations: [
      {
        name: 'frontend'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: nodeSubnetId
          }
        }
      }
    ]
    backendAddressPools: [
      {
        name: 'nodes'
      }
    ]
    probes: [
      {
        name: 'corda-p2p'
        properties: {
          protocol: 'Tcp'
          port: 10002
          intervalInSeconds: 5
          probeThreshold: 2
        }
      }
    ]
    loadBalancingRules: [
      {
        name: 'corda-p2p'
        properties: {
          frontendIPConfiguration: {
            id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', loadBalancerName, 'frontend')
          }
          backendAddressPool: {
            id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, 'nodes')
          }
          probe: {
            id: resourceId('Microsoft.Network/loadBalancers/probes', loadBalancerName, 'corda-p2p')
          }
          protocol: 'Tcp'
          frontendPort: 10002
          backendPort: 10002
          idleTimeoutInMinutes: 30
          enableTcpReset: true
          loadDistribution: 'Default'
        }
      }
    ]
  }
}

output vaultId string = vault.id
output vaultName string = vaultName
output vaultUri string = vault.properties.vaultUri
output identityId string = identity.id
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output loadBalancerId string = loadBalancer.id
output backendPoolId string = resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, 'nodes')
