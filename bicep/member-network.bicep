// A member bank's network: the node subnet's NSG, a NAT gateway for the nodes' outbound traffic, and the
// VNet with its `node` subnet and the `GatewaySubnet` the VPN gateway goes into.
//
// NSG priority bands: 100-199 the bank's own rules, 200-299 this template, 300-3999 the platform's
// per-member rules (`corda-p2p-<memberId>`, added later through the securityRules API), 4000+ this
// template's denies. Redeploying this template resets the rule set to the template's: the platform
// re-applies its per-member rules after any redeploy.

@description('Member id: lowercase letters, digits and hyphens; used in resource names.')
@minLength(2)
@maxLength(40)
param bankId string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('The VNet address space (CIDR), e.g. 10.4.0.0/16.')
param addressSpace string

@description('The node subnet (CIDR), inside addressSpace.')
param nodeSubnetPrefix string

@description('The GatewaySubnet (CIDR, /27 or larger), inside addressSpace.')
param gatewaySubnetPrefix string

@description('Address spaces of the other members, admitted to Corda P2P (TCP 10002).')
param memberAddressSpaces array

@description('The bank own ranges, admitted to Corda RPC (TCP 10003).')
param rpcSourceRanges array

@description('Tags for every resource.')
param tags object = {}

var nsgName = 'nsg-${bankId}'
var vnetName = 'vnet-${bankId}'
var natGatewayName = 'natgw-${bankId}'
var natPublicIpName = 'pip-natgw-${bankId}'

// An NSG rule with an empty source list is invalid, so each optional rule sits in its own array and is
// left out when its list is empty (no resource condition needed).
var memberP2pRules = [
  {
    name: 'corda-p2p-members'
    properties: {
      description: 'Corda P2P from consortium members'
      protocol: 'Tcp'
      sourcePortRange: '*'
      sourceAddressPrefixes: memberAddressSpaces
      destinationPortRange: '10002'
      destinationAddressPrefix: nodeSubnetPrefix
      access: 'Allow'
      priority: 200
      direction: 'Inbound'
    }
  }
]
var ownRpcRules = [
  {
    name: 'corda-rpc-own'
    properties: {
      description: 'Corda RPC from the bank own ranges'
      protocol: 'Tcp'
      sourcePortRange: '*'
      sourceAddressPrefixes: rpcSourceRanges
      destinationPortRange: '10003'
      destinationAddressPrefix: nodeSubnetPrefix
      access: 'Allow'
      priority: 210
      direction: 'Inbound'
    }
  }
]
var baseRules = [
  {
    // The deny below would otherwise also stop the load balancer's health probe.
    name: 'allow-lb-probe'
    properties: {
      description: 'Load balancer health probe on Corda P2P'
      protocol: 'Tcp'
      sourcePortRange: '*'
      sourceAddressPrefix: 'AzureLoadBalancer'
      destinationPortRange: '10002'
      destinationAddressPrefix: nodeSubnetPrefix
      access: 'Allow'
      priority: 220
      direction: 'Inbound'
    }
  }
  {
    name: 'deny-internet-inbound'
    properties: {
      description: 'Nothing from the internet'
      protocol: '*'
      sourcePortRange: '*'
      sourceAddressPrefix: 'Internet'
      destinationPortRange: '*'
      destinationAddressPrefix: '*'
      access: 'Deny'
      priority: 4000
      direction: 'Inbound'
    }
  }
  {
    // The VirtualNetwork tag covers every VPN-connected member: without this, the default
    // AllowVnetInBound rule would open every port of the node to all of them.
    name: 'deny-vnet-inbound'
    properties: {
      description: 'Only the rules above admit traffic from the VNet and connected networks'
      protocol: '*'
      sourcePortRange: '*'
      sourceAddressPrefix: 'VirtualNetwork'
      destinationPortRange: '*'
      destinationAddressPrefix: '*'
      access: 'Deny'
      priority: 4010
      direction: 'Inbound'
    }
  }
]

resource nsg 'Microsoft.Network/networkSecurityGroups@2026-01-01' = {
  name: nsgName
  location: location
  tags: tags
  properties: {
    securityRules: concat(empty(memberAddressSpaces) ? [] : memberP2pRules, empty(rpcSourceRanges) ? [] : ownRpcRules, baseRules)
  }
}

// Nodes download the JDK and Corda at boot and reach the vault: new subnets have no default outbound
// access any more, so the node subnet gets a NAT gateway.
resource natPublicIp 'Microsoft.Network/publicIPAddresses@2026-01-01' = {
  name: natPublicIpName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2026-01-01' = {
  name: natGatewayName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2026-01-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressSpace
      ]
    }
    subnets: [
      {
        name: 'node'
        properties: {
          addressPrefix: nodeSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          natGateway: {
            id: natGateway.id
          }
          defaultOutboundAccess: false
        }
      }
      {
        // Azure requires this exact name; a gateway subnet takes no NSG.
        name: 'GatewaySubnet'
        properties: {
          addressPrefix: gatewaySubnetPrefix
        }
      }
    ]
  }
}

output vnetId string = vnet.id
output vnetName string = vnetName
output nsgId string = nsg.id
output nsgName string = nsgName
output nodeSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, 'node')
