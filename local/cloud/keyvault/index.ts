export {
  KeyVaultEmulator,
  KEY_VAULT_TABLE,
  type CertificateStatus,
  type KeyVaultEmulatorOptions,
  type VaultContents,
  type VaultSnapshot,
} from './emulator';
