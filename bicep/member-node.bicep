// A member bank's Corda node: a VM scale set (Ubuntu 24.04 LTS, generation 2) behind the internal load
// balancer, running the node under the user-assigned identity that reads its certificate from the vault.
//
// Flexible orchestration: Azure's recommended mode for new scale sets; its instances are ordinary VMs
// (standard VM APIs, disks and extensions), and `sku.capacity` still scales it, which is all the cost
// profiles change. Cloud-init installs JDK 17 and Corda 4.12, turns the certificate into Corda's key
// stores and starts the node as a systemd unit.

@description('Member id: lowercase letters, digits and hyphens; used in resource names.')
@minLength(2)
@maxLength(40)
param bankId string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Number of node instances.')
@minValue(1)
@maxValue(100)
param capacity int

@description('VM size of each instance (one that supports Premium SSD).')
param vmSize string = 'Standard_D4s_v5'

@description('Install the Azure Monitor Agent.')
param monitoring bool

@description('The node subnet id (member-network output nodeSubnetId).')
param nodeSubnetId string

@description('The load balancer backend pool id (member-vault output backendPoolId).')
param backendPoolId string

@description('The node identity resource id (member-vault output identityId).')
param identityId string

@description('The node identity client id (member-vault output identityClientId).')
param identityClientId string

@description('The vault holding the node certificate (member-vault output vaultName).')
param vaultName string

@description('Name of the node certificate in the vault.')
param certificateName string

@description('The node X.500 legal name, e.g. O=Bank C, L=Paris, C=FR.')
param legalName string

@description('Admin user on each instance (SSH key only).')
param adminUsername string = 'corda'

@description('SSH public key of the admin user.')
param adminSshPublicKey string

@description('Tags for every resource.')
param tags object = {}

var scaleSetName = 'vmss-${bankId}'

// {0} legal name, {1} vault URI, {2} certificate name, {3} identity client id, {4} P2P host.
var cloudInitTemplate = '''#cloud-config
# TrustNet Corda node. The template fills {0}..{4} with format(); doubled braces are literal braces.
package_update: true
packages:
  - openjdk-17-jre-headless
  - jq
  - curl
  - openssl
write_files:
  - path: /opt/corda/node.conf
    permissions: '0644'
    content: |
      myLegalName = "{0}"
      p2pAddress = "{4}:10002"
      rpcSettings {{
        address = "0.0.0.0:10003"
        adminAddress = "127.0.0.1:10043"
      }}
      devMode = false
      keyStorePassword = ${{?CORDA_KEYSTORE_PASSWORD}}
      trustStorePassword = ${{?CORDA_KEYSTORE_PASSWORD}}
  - path: /etc/trustnet/node-vault.env
    permissions: '0600'
    content: |
      VAULT_URI={1}
      CERT_NAME={2}
      CLIENT_ID={3}
  - path: /opt/corda/bootstrap.sh
    permissions: '0750'
    content: |
      #!/bin/bash
      # Turns the node certificate (a PFX read from Key Vault) into Corda's key stores.
      set -euo pipefail
      . /etc/trustnet/node-vault.env
      cd /opt/corda
      mkdir -p certificates
      if [ ! -f corda.jar ]; then
        curl -fsSL --retry 5 -o corda.jar https://download.corda.net/maven/corda-releases/net/corda/corda/4.12/corda-4.12.jar
      fi
      # A token for the node identity from the instance metadata service, then the certificate's secret.
      TOKEN=$(curl -fsS --retry 5 -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=$CLIENT_ID" | jq -r .access_token)
      curl -fsS --retry 5 -H "Authorization: Bearer $TOKEN" "$VAULT_URI"secrets/"$CERT_NAME"?api-version=7.5 | jq -r .value | base64 -d > certificates/node.pfx
      PASS=$(openssl rand -hex 24)
      export PASS
      printf 'CORDA_KEYSTORE_PASSWORD=%s\n' "$PASS" > /etc/trustnet/corda.env
      chmod 600 /etc/trustnet/corda.env
      p12() {{ openssl pkcs12 -in certificates/node.pfx -passin pass: "$@" 2>/dev/null || openssl pkcs12 -legacy -in certificates/node.pfx -passin pass: "$@"; }}
      p12 -nodes -out certificates/node.pem
      # Only the PEM blocks: openssl prints bag attributes around them.
      p12 -nokeys -cacerts | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' > certificates/ca.pem
      p12 -nokeys -clcerts | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' > certificates/nodeca.pem
      openssl pkcs12 -export -in certificates/node.pem -name cordaclientca -passout env:PASS -out certificates/node.p12
      rm -f certificates/nodekeystore.jks certificates/sslkeystore.jks certificates/truststore.jks certificates/ca-*
      keytool -importkeystore -noprompt -srckeystore certificates/node.p12 -srcstoretype PKCS12 -srcstorepass:env PASS -destkeystore certificates/nodekeystore.jks -deststoretype JKS -deststorepass:env PASS -destkeypass:env PASS
      # The network root is the chain's self-signed certificate.
      csplit -s -z -f certificates/ca- certificates/ca.pem '/-----BEGIN CERTIFICATE-----/' '{{*}}'
      for f in certificates/ca-*; do
        if [ "$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253 | cut -d= -f2-)" = "$(openssl x509 -in "$f" -noout -issuer -nameopt RFC2253 | cut -d= -f2-)" ]; then
          keytool -importcert -noprompt -alias cordarootca -file "$f" -keystore certificates/truststore.jks -storetype JKS -storepass:env PASS
        fi
      done
      # The TLS key, certified by the node CA with Corda's certificate-role extension set to TLS (5).
      LEGAL_NAME=$(sed -n 's/^myLegalName = "\(.*\)"$/\1/p' node.conf)
      keytool -genkeypair -alias cordaclienttls -keyalg EC -groupname secp256r1 -dname "$LEGAL_NAME" -validity 365 -keystore certificates/sslkeystore.jks -storetype JKS -storepass:env PASS -keypass:env PASS
      keytool -certreq -alias cordaclienttls -keystore certificates/sslkeystore.jks -storepass:env PASS | keytool -gencert -rfc -alias cordaclientca -keystore certificates/nodekeystore.jks -storepass:env PASS -validity 365 -ext KeyUsage=digitalSignature,keyEncipherment,keyAgreement -ext ExtendedKeyUsage=serverAuth,clientAuth -ext 1.3.6.1.4.1.50530.1.1=02:01:05 > certificates/tls.pem
      cat certificates/tls.pem certificates/nodeca.pem certificates/ca.pem > certificates/tls-chain.pem
      keytool -importcert -noprompt -alias cordaclienttls -file certificates/tls-chain.pem -keystore certificates/sslkeystore.jks -storepass:env PASS -keypass:env PASS
      rm -f certificates/node.pfx certificates/node.pem certificates/node.p12
      chown -R corda:corda /opt/corda
  - path: /etc/systemd/system/corda.service
    content: |
      [Unit]
      Description=Corda node (TrustNet)
      After=network-online.target
      Wants=network-online.target

      [Service]
      User=corda
      WorkingDirectory=/opt/corda
      EnvironmentFile=/etc/trustnet/corda.env
      ExecStartPre=/usr/bin/java -jar /opt/corda/corda.jar run-migration-scripts --core-schemas --app-schemas --base-directory=/opt/corda
      ExecStart=/usr/bin/java -Xmx2g -jar /opt/corda/corda.jar --base-directory=/opt/corda --no-local-shell
      Restart=on-failure
      RestartSec=15

      [Install]
      WantedBy=multi-user.target
runcmd:
  - [ sh, -c, "id -u corda >/dev/null 2>&1 || useradd --system --home-dir /opt/corda --shell /usr/sbin/nologin corda" ]
  - [ /opt/corda/bootstrap.sh ]
  - [ systemctl, daemon-reload ]
  - [ systemctl, enable, --now, corda.service ]
'''

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

// The backend pool id names its load balancer: /subscriptions/.../loadBalancers/<name>/backendAddressPools/<pool>.
resource loadBalancer 'Microsoft.Network/loadBalancers@2026-01-01' existing = {
  name: split(backendPoolId, '/')[8]
}

resource scaleSet 'Microsoft.Compute/virtualMachineScaleSets@2026-04-01' = {
  name: scaleSetName
  location: location
  tags: tags
  sku: {
    name: vmSize
    tier: 'Standard'
    capacity: capacity
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    orchestrationMode: 'Flexible'
    platformFaultDomainCount: 1
    singlePlacementGroup: false
    // Model changes (the monitoring extension) reach running instances without a manual upgrade.
    upgradePolicy: {
      mode: 'Automatic'
    }
    virtualMachineProfile: {
      osProfile: {
        computerNamePrefix: take(bankId, 20)
        adminUsername: adminUsername
        // Peers reach the node at the load balancer's frontend address, over the VPN.
        customData: base64(format(cloudInitTemplate, legalName, vault.properties.vaultUri, certificateName, identityClientId, loadBalancer.properties.frontendIPConfigurations[0].properties.privateIPAddress))
        linuxConfiguration: {
          disablePasswordAuthentication: true
          provisionVMAgent: true
          ssh: {
            publicKeys: [
              {
                path: '/home/${adminUsername}/.ssh/authorized_keys'
                keyData: adminSshPublicKey
              }
            ]
          }
        }
      }
      storageProfile: {
        imageReference: {
          publisher: 'Canonical'
          offer: 'ubuntu-24_04-lts'
          sku: 'server'
          version: 'latest'
        }
        osDisk: {
          createOption: 'FromImage'
          caching: 'ReadWrite'
          managedDisk: {
            storageAccountType: 'Premium_LRS'
          }
        }
      }
      networkProfile: {
        // The only value Flexible orchestration accepts.
        networkApiVersion: '2020-11-01'
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              ipConfigurations: [
                {
                  name: 'ipconfig'
                  properties: {
                    primary: true
                    subnet: {
                      id: nodeSubnetId
                    }
                    loadBalancerBackendAddressPools: [
                      {
                        id: backendPoolId
                      }
                    ]
                  }
                }
              ]
            }
          }
        ]
      }
      securityProfile: {
        securityType: 'TrustedLaunch'
        uefiSettings: {
          secureBootEnabled: true
          vTpmEnabled: true
        }
      }
      diagnosticsProfile: {
        bootDiagnostics: {
          enabled: true
        }
      }
    }
  }
}

resource monitorAgent 'Microsoft.Compute/virtualMachineScaleSets/extensions@2026-04-01' = if (monitoring) {
  parent: scaleSet
  name: 'AzureMonitorLinuxAgent'
  properties: {
    publisher: 'Microsoft.Azure.Monitor'
    type: 'AzureMonitorLinuxAgent'
    typeHandlerVersion: '1.0'
    autoUpgradeMinorVersion: true
    enableAutomaticUpgrade: true
    settings: {
      authentication: {
        managedIdentity: {
          'identifier-name': 'mi_res_id'
          'identifier-value': identityId
        }
      }
    }
  }
}

output scaleSetId string = scaleSet.id
output scaleSetName string = scaleSetName
