import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { TenantRoutingCredential, vaultRoleAssignee } from './connection';
import { toVaultError } from './key-vault';
import { ConfigError } from '../runtime/settings';

const HOME = 'aaaaaaaa-0000-4000-8000-000000000001';
const BANK = 'bbbbbbbb-0000-4000-8000-000000000002';
const APP = 'cccccccc-0000-4000-8000-000000000003';

/** A credential that records what it was asked and answers with a token naming itself. */
class RecordingCredential implements TokenCredential {
  readonly asked: { scopes: string | string[]; tenantId?: string }[] = [];
  constructor(readonly name: string) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.asked.push({ scopes, ...(options?.tenantId ? { tenantId: options.tenantId } : {}) });
    return { token: `${this.name}:${String(scopes)}`, expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

describe('TenantRoutingCredential', () => {
  const vault = 'https://vault.azure.net/.default';

  it("uses the home identity for the platform's tenant and for calls that name none (ARM)", async () => {
    const home = new RecordingCredential('home');
    const made: string[] = [];
    const c = new TenantRoutingCredential(home, {
      homeTenantId: HOME,
      appClientId: APP,
      assertionCredential: (t) => {
        made.push(t);
        return new RecordingCredential('app');
      },
    });
    expect((await c.getToken(vault, { tenantId: HOME.toUpperCase() }))?.token).toBe(`home:${vault}`);
    expect((await c.getToken('https://management.azure.com/.default'))?.token).toMatch(/^home:/);
    expect(made).toEqual([]);
  });

  it("signs in as the application in a bank's tenant, with the home identity's token as its assertion", async () => {
    const home = new RecordingCredential('home');
    const assertions: string[] = [];
    const made: { tenant: string; client: string }[] = [];
    const c = new TenantRoutingCredential(home, {
      homeTenantId: HOME,
      appClientId: APP,
      assertionCredential: (tenant, client, getAssertion) => {
        made.push({ tenant, client });
        return {
          async getToken(scopes, options) {
            // Bound to its tenant: it is not asked to switch.
            expect(options?.tenantId).toBeUndefined();
            assertions.push(await getAssertion());
            return { token: `app@${tenant}:${String(scopes)}`, expiresOnTimestamp: Date.now() + 3_600_000 };
          },
        };
      },
    });
    expect((await c.getToken(vault, { tenantId: BANK }))?.token).toBe(`app@${BANK}:${vault}`);
    await c.getToken(vault, { tenantId: BANK });
    // One application credential per tenant, kept.
    expect(made).toEqual([{ tenant: BANK, client: APP }]);
    expect(assertions).toEqual([
      'home:api://AzureADTokenExchange/.default',
      'home:api://AzureADTokenExchange/.default',
    ]);
  });

  it('refuses a foreign tenant without the application, saying which setting to set', async () => {
    const c = new TenantRoutingCredential(new RecordingCredential('home'), { homeTenantId: HOME });
    const e = await c.getToken(vault, { tenantId: BANK }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('CredentialUnavailableError');
    expect((e as Error).message).toContain('TRUSTNET_PLATFORM_APP_ID');
    expect(toVaultError('create certificate node', e).code).toBe('VAULT.FORBIDDEN');
  });

  it('without the home tenant set, leaves every token to the home identity (one-tenant consortia)', async () => {
    const home = new RecordingCredential('home');
    const c = new TenantRoutingCredential(home, { appClientId: APP });
    await c.getToken(vault, { tenantId: BANK });
    expect(home.asked).toEqual([{ scopes: vault, tenantId: BANK }]);
  });
});

describe('vaultRoleAssignee', () => {
  const PID = '00000000-0000-4000-8000-0000000000aa';

  it('grants the platform identity in its own tenant, and nothing in a bank tenant (the delegation does)', () => {
    const env = { TRUSTNET_PLATFORM_TENANT_ID: HOME, TRUSTNET_PLATFORM_PRINCIPAL_ID: PID };
    expect(vaultRoleAssignee(HOME.toUpperCase(), env)).toBe(PID);
    expect(vaultRoleAssignee(BANK, env)).toBe('');
    // A bank in another tenant needs no principal id at all.
    expect(vaultRoleAssignee(BANK, { TRUSTNET_PLATFORM_TENANT_ID: HOME })).toBe('');
    expect(vaultRoleAssignee(BANK, { TRUSTNET_PLATFORM_PRINCIPAL_ID: PID })).toBe(PID);
  });

  it('wants the principal id where it grants it, unless asked leniently (dry run)', () => {
    expect(() => vaultRoleAssignee(HOME, { TRUSTNET_PLATFORM_TENANT_ID: HOME })).toThrow(
      /TRUSTNET_PLATFORM_PRINCIPAL_ID is not set/,
    );
    expect(vaultRoleAssignee(HOME, { TRUSTNET_PLATFORM_TENANT_ID: HOME }, false)).toBe('');
  });

  it('refuses a tenant setting that is no GUID, naming it', () => {
    const env = { TRUSTNET_PLATFORM_TENANT_ID: 'contoso.com' };
    expect(() => vaultRoleAssignee(BANK, env)).toThrow(ConfigError);
    expect(() => vaultRoleAssignee(BANK, env)).toThrow(/TRUSTNET_PLATFORM_TENANT_ID must be a GUID/);
  });
});
