import { json, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';
import { platformVault } from '../orchestrations/vaults';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/** PUT /api/members/{id}/channels: a member's own email and Teams webhook, the URL kept as a secret. */
describe('notification channels', () => {
  let host: Host;
  const FOUNDER_HOOK =
    'https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual?sig=FOUNDERSECRET';
  const NEW_HOOK =
    'https://prod-02.westeurope.logic.azure.com/workflows/def/triggers/manual?sig=MEMBERSECRET';

  beforeAll(async () => {
    const c = await testConsortium();
    c.config.members[0]!.contacts.teamsWebhook = FOUNDER_HOOK;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(c.file, JSON.stringify(c.config));
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  const put = (id: string, signer: string, channels: unknown, extra: Record<string, unknown> = {}) =>
    host.signedAction(
      `/api/members/${id}/channels`,
      { action: 'set-channels', subject: id, channels, ...extra },
      signer,
      'PUT',
    );

  it("shows a founder's webhook from the config masked, and never stores it in the registry", async () => {
    const member = await json(await fetch(`${host.url}/api/members/bank-a`));
    expect(member.channels).toMatchObject({
      email: 1,
      teams: { configured: true, url: 'https://prod-01.westeurope.logic.azure.com/…' },
      setByMember: false,
    });
    expect(JSON.stringify(member)).not.toContain('FOUNDERSECRET');
    // Its first use copies it into Key Vault, where every webhook URL lives.
    const { teamsWebhookOf } = await import('../orchestrations/notify-channels');
    const { Registry } = await import('../azure/registry');
    expect(await teamsWebhookOf((await (await Registry.open()).getMember('bank-a'))!)).toBe(FOUNDER_HOOK);
    expect(await platformVault().getSecret('teams-webhook-bank-a')).toBe(FOUNDER_HOOK);
  });

  it('sets a member’s channels: the URL goes to Key Vault, the API and audit log show it masked or not at all', async () => {
    const res = await put('bank-b', 'bank-b', {
      email: ['noc@bank-b.example', 'ops@bank-b.example'],
      teamsWebhook: NEW_HOOK,
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.channels).toMatchObject({
      email: 2,
      teams: { configured: true, url: 'https://prod-02.westeurope.logic.azure.com/…' },
      setByMember: true,
    });
    expect(await platformVault().getSecret('teams-webhook-bank-b')).toBe(NEW_HOOK);
    const member = await json(await fetch(`${host.url}/api/members/bank-b`));
    expect(member.channels.teams.url).toBe('https://prod-02.westeurope.logic.azure.com/…');
    const audit = await fetch(`${host.url}/api/audit?limit=1000`).then((r) => r.text());
    expect(audit).not.toContain('MEMBERSECRET');
    const entry = (JSON.parse(audit).items as Json[]).find((e) => e.kind === 'member.channels-set');
    expect(entry).toMatchObject({ subject: 'bank-b', actor: 'bank-b', data: { email: 2, teams: true } });
    expect(entry.jws).toBeUndefined();
    expect(host.logs.records.map((r) => r.message).join('\n')).not.toContain('MEMBERSECRET');
  });

  it('removes a webhook with null, and the config no longer applies once a founder set its own', async () => {
    const res = await put('bank-a', 'bank-a', { email: ['ops@bank-a.example'], teamsWebhook: null });
    expect(res.status).toBe(200);
    expect((await json(res)).channels.teams).toEqual({ configured: false });
    const { teamsWebhookOf } = await import('../orchestrations/notify-channels');
    const { Registry } = await import('../azure/registry');
    const member = await (await Registry.open()).getMember('bank-a');
    expect(await teamsWebhookOf(member!)).toBeUndefined();
    // And set again after removal (a removal is a new secret version, not a deleted secret).
    expect(
      (await put('bank-a', 'bank-a', { email: ['ops@bank-a.example'], teamsWebhook: NEW_HOOK })).status,
    ).toBe(200);
    expect(await teamsWebhookOf((await (await Registry.open()).getMember('bank-a'))!)).toBe(NEW_HOOK);
  });

  it('refuses another member, a bad URL and a payload for the wrong route, saying why and never echoing the URL', async () => {
    const other = await put('bank-b', 'bank-c', { email: ['x@bank-c.example'] });
    expect(other.status).toBe(403);
    const plain = await put('bank-c', 'bank-c', {
      email: ['x@bank-c.example'],
      teamsWebhook: 'http://hooks.example.com/x?sig=PLAINSECRET',
    });
    expect(plain.status).toBe(400);
    const problem = await json(plain);
    expect(problem.code).toBe('CHANNEL.INVALID');
    expect(JSON.stringify(problem)).not.toContain('PLAINSECRET');
    expect(plain.headers.get('content-type')).toContain('application/problem+json');
    const noEmail = await put('bank-c', 'bank-c', { teamsWebhook: NEW_HOOK });
    expect(noEmail.status).toBe(400);
    const missing = await put('bank-c', 'bank-c', undefined);
    expect(missing.status).toBe(400);
    const wrongAction = await host.signedAction(
      '/api/members/bank-c/channels',
      { action: 'rotate-key', subject: 'bank-c', channels: { email: ['a@b.example'] } },
      'bank-c',
      'PUT',
    );
    expect(wrongAction.status).toBe(400);
  });

  it('refuses an applicant request that carries a Teams webhook (it would land in the audit log)', async () => {
    const { res } = await host.apply({
      contacts: { email: ['ops@bank-d.example'], teamsWebhook: NEW_HOOK },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('MEMBERSECRET');
  });
});
