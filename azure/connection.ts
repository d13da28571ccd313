import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { HttpClient } from '@azure/core-rest-pipeline';
import {
  ClientAssertionCredential,
  CredentialUnavailableError,
  DefaultAzureCredential,
} from '@azure/identity';
import { ConfigError, guidSetting, readSetting, requireSetting } from '../runtime/settings';

/**
 * Where the Azure adapters send their calls. In Azure: the real endpoints with the app's managed
 * identity. Under the local host: the same SDK clients, but their `httpClient` hands every request to the
 * local cloud's emulators in this process (DESIGN.md: ARM refuses bearer tokens over http, so the
 * endpoint stays https and never leaves the process).
 */

const LOCAL_CLOUD = Symbol.for('trustnet.localCloud');

export interface LocalCloudHandle {
  httpClient: HttpClient;
  credential: TokenCredential;
  /** The local cloud's outbox keeps each Teams card the platform posts, for GET /admin/cloud/outbox. */
  recordCard?: (card: { url: string; card: unknown; eventId?: string }) => Promise<void>;
}

export interface AzureConnection {
  mode: 'azure' | 'local';
  credential: TokenCredential;
  httpClient?: HttpClient;
  /** Kept short: the SDK absorbs a blip; orchestrations own the long waits with durable timers. */
  retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
}

/** Used by the local host only. */
export function installLocalCloud(handle: LocalCloudHandle | undefined): void {
  (globalThis as Record<symbol, LocalCloudHandle | undefined>)[LOCAL_CLOUD] = handle;
}

/** The local cloud's hook for posted cards, when running under it. */
export function localCardRecorder(): LocalCloudHandle['recordCard'] {
  return localCloud()?.recordCard;
}

function localCloud(): LocalCloudHandle | undefined {
  return (globalThis as Record<symbol, LocalCloudHandle | undefined>)[LOCAL_CLOUD];
}

/** The audience a managed identity's token must carry to stand as a federated credential's assertion. */
const TOKEN_EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

export interface TenantRouting {
  /** The platform's own tenant; unset, every token comes from `home`. */
  homeTenantId?: string;
  /** The consortium's multi-tenant application, federated with the home identity. */
  appClientId?: string;
  /** Makes the application's credential in a bank's tenant (tests give a double). */
  assertionCredential?: (
    tenantId: string,
    clientId: string,
    getAssertion: () => Promise<string>,
  ) => TokenCredential;
}

/**
 * The platform's identity in its own tenant and, in a bank's tenant, the consortium's multi-tenant
 * application signed in with the identity's token as its assertion (a federated identity credential):
 * a bank's vault accepts only tokens its own tenant issued, and a managed identity gets tokens from its
 * own tenant alone. The Key Vault SDK names the vault's tenant (from its 401 challenge) as `tenantId`;
 * ARM calls name none and go through Lighthouse with the home identity.
 */
export class TenantRoutingCredential implements TokenCredential {
  readonly #banks = new Map<string, TokenCredential>();

  constructor(
    private readonly home: TokenCredential,
    private readonly routing: TenantRouting,
  ) {}

  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const tenant = options?.tenantId?.toLowerCase();
    const { homeTenantId, appClientId } = this.routing;
    if (!tenant || !homeTenantId || tenant === homeTenantId.toLowerCase())
      return this.home.getToken(scopes, options);
    if (!appClientId)
      return Promise.reject(
        new CredentialUnavailableError(
          `The resource is in Entra tenant ${tenant}, not the platform's tenant ${homeTenantId}: set ` +
            "TRUSTNET_PLATFORM_APP_ID to the consortium's multi-tenant application, which that tenant " +
            'has consented to (docs/deploy.md).',
        ),
      );
    let bank = this.#banks.get(tenant);
    if (!bank) {
      const make =
        this.routing.assertionCredential ??
        ((t: string, c: string, a: () => Promise<string>) => new ClientAssertionCredential(t, c, a));
      bank = make(tenant, appClientId, async () => {
        const token = await this.home.getToken(TOKEN_EXCHANGE_SCOPE, { abortSignal: options?.abortSignal });
        if (!token) throw new CredentialUnavailableError('The platform identity gave no token to exchange.');
        return token.token;
      });
      this.#banks.set(tenant, bank);
    }
    // The bank credential is bound to its tenant; the option would only ask it to switch.
    const { tenantId: _tenant, ...rest } = options ?? {};
    return bank.getToken(scopes, rest);
  }
}

/**
 * Who the bank vault template grants Key Vault Certificates Officer: the platform identity
 * (TRUSTNET_PLATFORM_PRINCIPAL_ID) when the bank shares its tenant (or the platform's tenant is not
 * set); '' for a bank in another tenant, whose delegation grants the role to the platform application's
 * service principal there (bicep/delegation.bicep). `required`: a missing principal id is an error,
 * else ''.
 */
export function vaultRoleAssignee(
  bankTenantId: string,
  env: NodeJS.ProcessEnv = process.env,
  required = true,
): string {
  const home = guidSetting('TRUSTNET_PLATFORM_TENANT_ID', env);
  if (home && home !== bankTenantId.toLowerCase()) return '';
  return required
    ? requireSetting('TRUSTNET_PLATFORM_PRINCIPAL_ID', env)
    : (readSetting('TRUSTNET_PLATFORM_PRINCIPAL_ID', env) ?? '');
}

let azureCredential: TokenCredential | undefined;

export function azureConnection(env: NodeJS.ProcessEnv = process.env): AzureConnection {
  const retryOptions = { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };
  if (readSetting('AZURE_SUBSCRIPTION_ID', env)) {
    azureCredential ??= new TenantRoutingCredential(new DefaultAzureCredential(), {
      homeTenantId: guidSetting('TRUSTNET_PLATFORM_TENANT_ID', env),
      appClientId: guidSetting('TRUSTNET_PLATFORM_APP_ID', env),
    });
    return { mode: 'azure', credential: azureCredential, retryOptions };
  }
  const local = localCloud();
  if (local)
    return { mode: 'local', credential: local.credential, httpClient: local.httpClient, retryOptions };
  throw new ConfigError(
    'CONFIG.MISSING',
    'AZURE_SUBSCRIPTION_ID',
    'App setting AZURE_SUBSCRIPTION_ID is not set, and no local cloud is running: set it (with managed ' +
      'identity or other credentials) to provision in Azure, or run under the local host.',
  );
}
