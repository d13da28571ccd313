import { addDuration, parseDuration } from '../core/duration';

/**
 * Every app setting TrustNet reads, in one catalog. local.settings.sample.json and the README's settings
 * table are checked against it by a test, so a new setting cannot ship undocumented.
 */

export interface SettingSpec {
  /** What it is for, as the README shows it. */
  description: string;
  /** The value local.settings.sample.json carries: safe for local use, never a secret. */
  sample: string;
  /** Read by the local host only (not by the app in Azure). */
  localOnly?: boolean;
}

export const SETTINGS = {
  AzureWebJobsStorage: {
    description:
      'Storage for the Functions runtime, durable task hub and registry tables: a connection string, or ' +
      '`AzureWebJobsStorage__accountName` for identity-based access in Azure. `UseDevelopmentStorage=true` ' +
      'makes `npm start` use the Azurite it starts.',
    sample: 'UseDevelopmentStorage=true',
  },
  FUNCTIONS_WORKER_RUNTIME: {
    description: 'Always `node`.',
    sample: 'node',
  },
  TRUSTNET_TASK_HUB: {
    description: 'Durable Functions task hub name (host.json reads it); one per environment.',
    sample: 'TrustNetLocal',
  },
  TRUSTNET_CONSORTIUM_FILE: {
    description:
      'Path of the consortium configuration (schemas/consortium.schema.json): name, policy, voting window, ' +
      'founders. `npm start` writes a sample one into its data folder when this is not set.',
    sample: '',
  },
  TRUSTNET_MAX_OPEN_REQUESTS: {
    description: 'Most membership requests that may be open (voting) at once; more get 429 REQUEST.LIMIT.',
    sample: '20',
  },
  TRUSTNET_MAX_BODY_BYTES: {
    description: 'Local host: largest request body accepted, in bytes; larger ones get 413.',
    sample: '1048576',
    localOnly: true,
  },
  AZURE_SUBSCRIPTION_ID: {
    description:
      "The platform's own Azure subscription. Set (with a managed identity or other `DefaultAzureCredential` source), provisioning talks to Azure; empty, it talks to the local cloud that `npm start` runs.",
    sample: '',
  },
  TRUSTNET_KEY_VAULT_URL: {
    description:
      "The platform's Key Vault: the consortium CA keys (root and doorman, non-exportable), VPN pre-shared keys, webhook URLs. Locally the local cloud holds a vault at this address.",
    sample: 'https://trustnet-platform.vault.azure.net',
  },
  TRUSTNET_PLATFORM_PRINCIPAL_ID: {
    description:
      "Object id of the platform's managed identity; each bank's vault template grants it Key Vault Certificates Officer so it can create and merge the node certificate.",
    sample: '00000000-0000-4000-8000-000000000001',
  },
  TRUSTNET_PLATFORM_TENANT_ID: {
    description:
      "The platform's Entra tenant id. A bank whose `azure.tenantId` differs keeps its vault in its own tenant: the platform reaches it as the multi-tenant application (`TRUSTNET_PLATFORM_APP_ID`), and the bank's delegation grants that application's role (docs/deploy.md). Unset: every bank is taken to share the platform's tenant.",
    sample: '',
  },
  TRUSTNET_PLATFORM_APP_ID: {
    description:
      "Client id of the consortium's multi-tenant Entra application, federated with the platform's managed identity: the identity the platform uses in a bank's tenant (its vault accepts only its own tenant's tokens). Needed once any bank is in another tenant.",
    sample: '',
  },
  TRUSTNET_POLL_INTERVAL: {
    description:
      'How often (ISO 8601 duration) an orchestration checks a long Azure operation (deployment, certificate) between durable timers. Unset: `PT30S`.',
    sample: 'PT1S',
  },
  TRUSTNET_RETRY_WINDOW: {
    description:
      "How long (ISO 8601 duration) a failed onboarding waits for a member's `retry` before it is abandoned and what was built is torn down. Unset: `P7D`.",
    sample: 'P7D',
  },
  TRUSTNET_DRY_RUN: {
    description:
      '`true`: approved requests run validation and what-if only and list the planned changes in `steps`; nothing is created.',
    sample: 'false',
  },
  TRUSTNET_LOCAL_CLOUD_LATENCY: {
    description:
      'Local cloud: realistic Azure durations (45 minutes for a VPN gateway) multiplied by this factor; `0` makes every operation instant.',
    sample: '0.01',
    localOnly: true,
  },
  TRUSTNET_CERT_RENEWAL_SCHEDULE: {
    description:
      'NCRONTAB schedule of the timer that renews node certificates before they expire (the Flex Consumption plan takes NCRONTAB only).',
    sample: '0 0 3 * * *',
  },
  TRUSTNET_SCALING_SCHEDULE: {
    description:
      "NCRONTAB schedule of the timer that computes every ACTIVE member's desired cost profile and scales its node when it differs.",
    sample: '0 */5 * * * *',
  },
  TRUSTNET_CERT_RENEW_BEFORE: {
    description:
      'How long (ISO 8601 duration) before a node certificate expires the timer renews it. Unset: `P30D`.',
    sample: 'P30D',
  },
  APPLICATIONINSIGHTS_CONNECTION_STRING: {
    description:
      'Application Insights connection string: when set, OpenTelemetry metrics and traces go there (Entra ID auth with the app identity). Empty: telemetry stays in the process.',
    sample: '',
  },
  TRUSTNET_PUBLIC_URL: {
    description:
      "The platform's public base URL, for links in notifications (status pages, the dashboard). Unset: links are relative.",
    sample: 'http://localhost:7071',
  },
  TRUSTNET_OPERATORS_EMAIL: {
    description:
      "Comma-separated addresses of the consortium's operators, who hear of failed onboarding steps, failing channels and expiring certificates.",
    sample: 'operators@consortium.example',
  },
  TRUSTNET_OPERATORS_TEAMS_WEBHOOK: {
    description:
      "Teams Workflows webhook URL of the operators' channel. A secret: in Azure give it as a Key Vault reference (`@Microsoft.KeyVault(SecretUri=...)`), never in plain text.",
    sample: '',
  },
  TRUSTNET_EMAIL_ENDPOINT: {
    description:
      'Azure Communication Services endpoint that sends notification email (managed identity in Azure). Locally the local cloud emulates it at this address. Empty: no email is sent.',
    sample: 'https://trustnet.communication.azure.com',
  },
  TRUSTNET_EMAIL_SENDER: {
    description:
      "The sender address of notification email, on the Communication Services resource's verified domain.",
    sample: 'DoNotReply@trustnet.example',
  },
  TRUSTNET_NOTIFY_SWEEP_SCHEDULE: {
    description:
      'NCRONTAB schedule of the timer that announces votes cast and deadlines approaching (and re-sends what a crash left unsent).',
    sample: '0 * * * * *',
  },
  TRUSTNET_DEADLINE_REMINDER: {
    description:
      'How long (ISO 8601 duration) before a ballot closes its voters who have not voted are reminded. Unset: `PT24H`.',
    sample: 'PT24H',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

export class ConfigError extends Error {
  constructor(
    readonly code: 'CONFIG.MISSING' | 'CONFIG.INVALID',
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function readSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A GUID setting (an Entra tenant or client id), lower-cased; undefined when unset. */
export function guidSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = readSetting(name, env);
  if (raw === undefined) return undefined;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw))
    throw new ConfigError(
      'CONFIG.INVALID',
      name,
      `App setting ${name} must be a GUID such as 11111111-2222-3333-4444-555555555555; got "${raw}".`,
    );
  return raw.toLowerCase();
}

export function requireSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): string {
  const value = readSetting(name, env);
  if (value === undefined) {
    throw new ConfigError(
      'CONFIG.MISSING',
      name,
      `App setting ${name} is not set: ${SETTINGS[name].description}`,
    );
  }
  return value;
}

/** A duration setting in milliseconds, `fallback` when unset; the error names the setting and an example. */
export function durationSettingMs(
  name: SettingName,
  fallback: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = readSetting(name, env) ?? fallback;
  try {
    return addDuration(new Date(0), parseDuration(raw)).getTime();
  } catch {
    throw new ConfigError(
      'CONFIG.INVALID',
      name,
      `App setting ${name} must be an ISO 8601 duration such as ${fallback}; got "${raw}".`,
    );
  }
}

/** A whole positive number of at most `max`, or the default when unset. */
export function positiveIntSetting(
  name: SettingName,
  fallback: number,
  env: NodeJS.ProcessEnv = process.env,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = readSetting(name, env);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new ConfigError(
      'CONFIG.INVALID',
      name,
      `App setting ${name} must be a whole number from 1 to ${max}; got "${raw}".`,
    );
  }
  return Number(raw);
}
