import type { Member } from '../core/membership';

/** Secrets of the platform vault, as the test sets them; every read is counted. */
const secrets = new Map<string, { value: string; tags: Record<string, string> }>();
const reads: string[] = [];
jest.mock('./vaults', () => ({
  platformVault: () => ({
    readSecret: async (name: string) => {
      reads.push(name);
      return secrets.get(name);
    },
    setSecret: async (name: string, value: string, tags: Record<string, string>) => {
      secrets.set(name, { value, tags });
    },
  }),
}));
const founderHook = 'https://prod-1.westeurope.logic.azure.com/workflows/f/triggers/manual?sig=S1';
jest.mock('../functions/edge/services', () => ({
  getConsortium: () => ({
    members: [
      { id: 'bank-a', contacts: { email: ['ops@bank-a.example'], teamsWebhook: founderHook } },
      { id: 'bank-b', contacts: { email: ['ops@bank-b.example'] } },
    ],
  }),
}));

import { teamsWebhookOf } from './notify-channels';

const member = (id: string, channels?: Member['channels']): Member =>
  ({ id, contacts: { email: [`ops@${id}.example`] }, ...(channels ? { channels } : {}) }) as Member;
const set = (teams: { masked: string } | null): Member['channels'] => ({
  email: ['ops@x.example'],
  teams,
  setByMember: true,
  updatedAt: '2026-12-07T00:00:00Z',
});

describe('teamsWebhookOf', () => {
  beforeEach(() => {
    secrets.clear();
    reads.length = 0;
  });

  it('reads no secret for a member that can have no webhook', async () => {
    // A founder without one in the config, a member that joined (its request names none), and a member
    // that set its channels without one.
    expect(await teamsWebhookOf(member('bank-b'))).toBeUndefined();
    expect(await teamsWebhookOf(member('bank-d'))).toBeUndefined();
    expect(await teamsWebhookOf(member('bank-e', set(null)))).toBeUndefined();
    expect(reads).toEqual([]);
  });

  it("reads the member's own webhook from the vault, and a removed one is none", async () => {
    secrets.set('teams-webhook-bank-e', { value: 'https://e.example/hook', tags: {} });
    expect(await teamsWebhookOf(member('bank-e', set({ masked: 'https://e.example/…' })))).toBe(
      'https://e.example/hook',
    );
    secrets.set('teams-webhook-bank-e', { value: 'none', tags: { removed: 'true' } });
    expect(await teamsWebhookOf(member('bank-e', set({ masked: 'https://e.example/…' })))).toBeUndefined();
    expect(reads).toEqual(['teams-webhook-bank-e', 'teams-webhook-bank-e']);
  });

  it("keeps a founder's config webhook in the vault from its first use, and reads it from there", async () => {
    expect(await teamsWebhookOf(member('bank-a'))).toBe(founderHook);
    expect(secrets.get('teams-webhook-bank-a')?.value).toBe(founderHook);
    expect(await teamsWebhookOf(member('bank-a'))).toBe(founderHook);
    expect(reads).toEqual(['teams-webhook-bank-a', 'teams-webhook-bank-a']);
    // Once the founder sets channels without Teams, the config's URL no longer applies.
    expect(await teamsWebhookOf(member('bank-a', set(null)))).toBeUndefined();
  });
});
