import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { json, type Json } from '../test/http';
import { newBank, startTrustNet, testConsortium } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/** A Teams Workflows endpoint on loopback: records every post, answers as told (202 by default). */
function teamsReceiver() {
  const posts: { path: string; body: Json; at: number }[] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = answers.shift() ?? 202;
      if (status === 202) posts.push({ path: req.url ?? '', body: JSON.parse(body), at: Date.now() });
      res.statusCode = status;
      if (status === 429) res.setHeader('retry-after', '1');
      res.end();
    });
  });
  return {
    posts,
    answers,
    start: () =>
      new Promise<string>((r) =>
        server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
      ),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What one Teams card says: its title line (the second TextRun of the header container). */
const titleOf = (post: { body: Json }): string =>
  post.body.attachments[0].content.body[0].items[1].inlines[0].text as string;

describe('notifications end to end: Teams cards and email to the people who must act', () => {
  let host: Host;
  const teams = teamsReceiver();
  let hook: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    const base = await teams.start();
    hook = `${base}/workflows/bank-a/triggers/manual?sig=SECRETSIG`;
    const c = await testConsortium();
    c.config.members[0]!.contacts.teamsWebhook = hook.replace('http://', 'https://');
    writeFileSync(c.file, JSON.stringify(c.config));
    process.env['TRUSTNET_EMAIL_ENDPOINT'] = 'https://trustnet.communication.azure.com';
    process.env['TRUSTNET_EMAIL_SENDER'] = 'DoNotReply@trustnet.example';
    process.env['TRUSTNET_OPERATORS_EMAIL'] = 'ops@consortium.example';
    process.env['TRUSTNET_PUBLIC_URL'] = 'https://trustnet.example';
    host = await startTrustNet(c, { schedules: { TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 * * * * *' } });
    // The founder's config URL is https (the schema says so); the loopback receiver speaks http, so the
    // founder sets its channel itself, as a member would.
    const res = await host.signedAction(
      '/api/members/bank-a/channels',
      {
        action: 'set-channels',
        subject: 'bank-a',
        channels: { email: ['ops@bank-a.example'], teamsWebhook: hook },
      },
      'bank-a',
      'PUT',
    );
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await host.stop();
    await teams.stop();
    process.env = saved;
  });

  const outbox = () => host.outbox();
  // On failure, a list (the outbox, posts) says only who got what.
  const until = <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) =>
    host.until(what, read, ok, {
      show: (v) => (Array.isArray(v) ? v.map((x: Json) => [x.kind, x.to, x.subject ?? x.eventId]) : v),
    });

  const emailsTo = (items: Json[], address: string) =>
    items.filter((i) => i.kind === 'email' && (i.to as string[]).includes(address));

  let applicants = 0;
  async function apply() {
    const key = await newBank('applicant');
    const n = ++applicants;
    const { payload, res } = await host.apply(
      {
        id: `bank-n${n}`,
        legalName: `O=Bank N${n}, L=Madrid, C=ES`,
        contacts: { email: [`ops@bank-n${n}.example`] },
        azure: {
          tenantId: randomUUID(),
          subscriptionId: randomUUID(),
          resourceGroup: `rg-bank-n${n}`,
          region: 'uksouth',
          addressSpace: `10.${100 + n}.0.0/16`,
        },
      },
      {},
      key,
    );
    expect(res.status).toBe(202);
    return payload;
  }

  const vote = (requestId: string, voter: string, decision = 'approve') =>
    host.vote(requestId, voter, { decision, reason: `checked by ${voter}` });

  it('tells every voter at once, by card and email, and nobody twice', async () => {
    const payload = await apply();
    const card = await until(
      'no request card',
      async () => teams.posts.filter((p) => titleOf(p).includes('asks to join')),
      (p) => p.length === 1,
    );
    const text = JSON.stringify(card[0]!.body);
    expect(text).toContain(payload.requestId);
    expect(text).toContain('O=Bank N1, L=Madrid, C=ES');
    expect(card[0]!.body.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    const items = await until('no emails', outbox, (i) =>
      ['ops@bank-a.example', 'ops@bank-b.example', 'ops@bank-c.example'].every(
        (a) => emailsTo(i, a).length === 1,
      ),
    );
    const b = emailsTo(items, 'ops@bank-b.example')[0]!;
    expect(JSON.stringify(b)).toContain(`trustnet vote`);
    // The outbox lists the card too, with the webhook masked.
    const cards = items.filter((i) => i.kind === 'card');
    expect(cards.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(items)).not.toContain('SECRETSIG');
    // The applicant hears nothing until members have acted: a join request names unchecked addresses.
    expect(emailsTo(items, 'ops@bank-n1.example')).toHaveLength(0);

    // A second look changes nothing: the delivery orchestration is per event, each send claimed once.
    await new Promise((r) => setTimeout(r, 300));
    expect(teams.posts.filter((p) => titleOf(p).includes('asks to join'))).toHaveLength(1);
  });

  it('sends nothing twice when the delivery of an event runs again (a replay, a second start)', async () => {
    const requestCard = (p: { body: Json }) => titleOf(p).includes('asks to join');
    const before = teams.posts.filter(requestCard).length;
    const emailsBefore = (await outbox()).filter((i) => i.kind === 'email').length;
    const instances = await json(
      await fetch(`${host.url}/runtime/webhooks/durabletask/instances?runtimeStatus=Completed`),
    );
    const done = (instances as Json[]).find((i) =>
      String(i.instanceId).startsWith('notify:request.received:'),
    )!;
    expect(done).toBeDefined();
    const first = await host.instance(done.instanceId);
    // Planned before it started: the event and its deliveries, one per recipient and channel.
    expect(first.name).toBe('notifyDeliverV3');
    expect(first.input.event).toMatchObject({ kind: 'request.received' });
    expect(first.input.deliveries.length).toBe(first.output.deliveries);
    // Run the very same event through each orchestration again, as a replay after a lost checkpoint would:
    // V3 with the planned deliveries, and V2 (a plan that failed in `notify`, or started before V3),
    // which plans them itself.
    for (const [name, input] of [
      ['notifyDeliverV3', first.input],
      ['notifyDeliverV2', first.input.event],
    ] as const) {
      const again = await fetch(
        `${host.url}/runtime/webhooks/durabletask/orchestrators/${name}/${encodeURIComponent(done.instanceId)}`,
        { method: 'POST', body: JSON.stringify(input) },
      );
      expect(again.status).toBe(202);
      const rerun = await until(
        `the second run (${name}) did not finish`,
        () => host.instance(done.instanceId),
        (st) => st?.name === name && st.runtimeStatus === 'Completed',
      );
      expect(rerun.output).toMatchObject({ deliveries: first.output.deliveries, sent: 0, failed: 0 });
      expect(rerun.output.skipped).toBe(first.output.deliveries);
    }
    expect(teams.posts.filter(requestCard)).toHaveLength(before);
    expect((await outbox()).filter((i) => i.kind === 'email')).toHaveLength(emailsBefore);
  });

  it('sends the decision to members and the applicant, and onboarding news to the applicant and operators', async () => {
    const payload = await apply();
    const { azure } = payload.applicant;
    const applicantEmail = payload.applicant.contacts.email[0]!;
    const rg = await host.prepareResourceGroup(azure);
    expect(rg.status).toBe(201);
    expect((await vote(payload.requestId, 'bank-a')).status).toBe(202);
    expect((await vote(payload.requestId, 'bank-b')).status).toBe(202);
    const items = await until(
      'no decision or activation email',
      outbox,
      (i) =>
        emailsTo(i, applicantEmail).some((e) => /approved/i.test(String(e.subject))) &&
        emailsTo(i, 'ops@bank-c.example').some((e) => /active/i.test(String(e.subject))),
    );
    // Onboarding started: the applicant and the operators hear of it.
    for (const who of [applicantEmail, 'ops@consortium.example'])
      expect(emailsTo(items, who).some((e) => /onboarding|provisioning/i.test(String(e.subject)))).toBe(true);
    // The vote receipts come from the sweep timer (the vote door never waits on a notification).
    await host.advanceClock('PT1M');
    await until('no vote receipt', outbox, (i) =>
      emailsTo(i, 'ops@bank-b.example').some(
        (e) => /vote/i.test(String(e.subject)) && JSON.stringify(e).includes('checked by bank-b'),
      ),
    );
  });

  it('rides out a 429 and reports a dead channel in the member view without blocking anything', async () => {
    teams.answers.push(429);
    const payload = await apply();
    await until(
      'no card after the 429',
      async () => teams.posts.filter((p) => JSON.stringify(p.body).includes(payload.requestId)),
      (p) => p.length === 1,
    );

    // From now on the webhook is gone (404): the card fails for good, the vote still counts.
    teams.answers.push(...Array.from({ length: 20 }, () => 404));
    const next = await apply();
    expect((await vote(next.requestId, 'bank-c')).status).toBe(202);
    const status = await until(
      'no failed delivery recorded',
      () => host.instance(`notify:request.received:${next.requestId}`),
      (s) => s?.runtimeStatus === 'Completed',
    );
    expect(status.output).toMatchObject({ failed: 1 });
    expect(teams.posts.filter((p) => JSON.stringify(p.body).includes(next.requestId))).toHaveLength(0);
    const member = await host.member('bank-a');
    // At least this card failed (other events still in flight for bank-a may have failed too).
    expect(member.channels.health.teams).toMatchObject({ lastError: 'CHANNEL.DEAD' });
    expect(member.channels.health.teams.consecutiveFailures).toBeGreaterThanOrEqual(1);
    expect(member.channels.health.email).toMatchObject({ consecutiveFailures: 0 });
    // Five failed cards in a row make the channel "failing": the operators are told, once.
    for (let i = 0; i < 5; i++) await apply();
    const alert = await until('no channel alert to the operators', outbox, (i) =>
      emailsTo(i, 'ops@consortium.example').some((e) => /channel failing/i.test(String(e.subject))),
    );
    const alerts = emailsTo(alert, 'ops@consortium.example').filter((e) =>
      /channel failing/i.test(String(e.subject)),
    );
    expect(alerts).toHaveLength(1);
    expect(JSON.stringify(alerts[0])).not.toContain('SECRETSIG');
    expect((await json(await fetch(`${host.url}/api/members/bank-a`))).channels.health.teams.failing).toBe(
      true,
    );
    // Email still went out.
    await until('no email for the second request', outbox, (i) =>
      emailsTo(i, 'ops@bank-b.example').some((e) => JSON.stringify(e).includes(next.requestId)),
    );
    teams.answers.length = 0;
  });

  it('never writes a webhook URL to a log line', () => {
    const logs = host.logs.records.map((r) => r.message).join('\n');
    expect(logs).not.toContain('SECRETSIG');
    expect(logs).not.toContain('/workflows/bank-a');
  });
});
