// A member bank's route-based VPN gateway in the GatewaySubnet of the VNet that member-network made.
//
// Only the availability-zone SKUs: Azure stopped creating gateways with the non-AZ VpnGw1-5 SKUs
// (announced for January 2025; refused with NonAzSkusNotAllowedForVPNGateway) and retires the rest on
// 30 September 2026. A full mesh of N members needs N-1 tunnels per gateway: VpnGw1AZ-3AZ hold 30,
// VpnGw4AZ-5AZ hold 100 (see README for the SKU per consortium size).
//
// The platform deploys VpnGw2AZ or VpnGw4AZ, both generation 2: Azure resizes a gateway in place only
// within its generation, so when the consortium outgrows 30 tunnels the platform redeploys this template
// into each member's group with the bigger SKU (an incremental PUT: an in-place resize). VpnGw1AZ stays
// allowed for gateways built before; being generation 1, it cannot be resized to VpnGw4AZ.

@description('Member id: lowercase letters, digits and hyphens; used in resource names.')
@minLength(2)
@maxLength(40)
param bankId string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Name of the bank VNet (member-network output vnetName); the gateway goes into its GatewaySubnet.')
param vnetName string

@description('VPN gateway SKU (AZ SKUs only). Tunnels: VpnGw1AZ-3AZ 30, VpnGw4AZ-5AZ 100.')
@allowed([
  'VpnGw1AZ'
  'VpnGw2AZ'
  'VpnGw3AZ'
  'VpnGw4AZ'
  'VpnGw5AZ'
])
param gatewaySku string

@description('Tags for every resource.')
param tags object = {}

var publicIpName = 'pip-vgw-${bankId}'
var gatewayName = 'vgw-${bankId}'

resource vnet 'Microsoft.Network/virtualNetworks@2026-01-01' existing = {
  name: vnetName
}

resource gatewaySubnet 'Microsoft.Network/virtualNetworks/subnets@2026-01-01' existing = {
  parent: vnet
  name: 'GatewaySubnet'
}

// AZ gateways need a Standard, static public IP. No zones listed: Standard public IPs are zone-redundant
// by default in regions with zones, and regional elsewhere.
resource publicIp 'Microsoft.Network/publicIPAddresses@2026-01-01' = {
  name: publicIpName
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

resource gateway 'Microsoft.Network/virtualNetworkGateways@2026-01-01' = {
  name: gatewayName
  location: location
  tags: tags
  properties: {
    gatewayType: 'Vpn'
    vpnType: 'RouteBased'
    // VpnGw1AZ exists only in generation 1; VpnGw4AZ and 5AZ only in generation 2. Changing an existing
    // gateway's generation is refused (CrossSeriesOrCrossGatewayGenenrationResizeNotSupported).
    vpnGatewayGeneration: gatewaySku == 'VpnGw1AZ' ? 'Generation1' : 'Generation2'
    sku: {
      name: gatewaySku
      tier: gatewaySku
    }
    activeActive: false
    enableBgp: false
    ipConfigurations: [
      {
        name: 'default'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: gatewaySubnet.id
          }
          publicIPAddress: {
            id: publicIp.id
          }
        }
      }
    ]
  }
}

output gatewayId string = gateway.id
output gatewayName string = gatewayName
output publicIpId string = publicIp.id
