// One direction of a VNet-to-VNet IPsec connection between two members' VPN gateways. The platform
// deploys it twice per pair, once in each member's resource group, with the same shared key. The two
// gateways sit in different subscriptions: the deployer needs rights on both (the platform has them
// through both banks' delegations).

@description('Name of the connection, e.g. cn-bank-a-to-bank-b.')
@minLength(1)
@maxLength(80)
param connectionName string

@description('Region of the connection (the local gateway region).')
param location string = resourceGroup().location

@description('Resource id of the local VPN gateway (in this resource group).')
param localGatewayId string

@description('Resource id of the other member VPN gateway.')
param remoteGatewayId string

@description('IPsec pre-shared key, the same on both directions of a pair.')
@secure()
@minLength(32)
param sharedKey string

@description('Tags for every resource.')
param tags object = {}

resource connection 'Microsoft.Network/connections@2026-01-01' = {
  name: connectionName
  location: location
  tags: tags
  properties: {
    connectionType: 'Vnet2Vnet'
    virtualNetworkGateway1: {
      id: localGatewayId
      properties: {}
    }
    virtualNetworkGateway2: {
      id: remoteGatewayId
      properties: {}
    }
    sharedKey: sharedKey
    connectionProtocol: 'IKEv2'
    enableBgp: false
  }
}

output connectionId string = connection.id
