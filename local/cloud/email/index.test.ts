import { TableClient } from '@azure/data-tables';
import { CloudFaults } from '../faults';
import type { CloudRequest, CloudResponse } from '../http';
import { EmailEmulator, Outbox, type EmailEmulatorOptions, type OutboxCard } from './index';

const T0 = Date.UTC(2026, 0, 1);
const HOST = 'https://trustnet-local.europe.communication.azure.com';
const API = '2025-09-01';

let run = 0;
function freshTable(): TableClient {
  return TableClient.fromConnectionString(
    process.env['AzureWebJobsStorage']!,
    `outbox${Date.now()}${run++}`,
    {
      allowInsecureConnection: true,
    },
  );
}

function world(options: Partial<EmailEmulatorOptions> = {}) {
  const faults = new CloudFaults();
  const outbox = new Outbox({ now: () => T0 });
  const emulator = new EmailEmulator({ faults, outbox, now: () => T0, ...options });
  return { faults, outbox, emulator };
}

function request(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: 'Bearer t' },
  apiVersion: string | null = API,
): CloudRequest {
  const url = new URL(`${HOST}${path}`);
  if (apiVersion) url.searchParams.set('api-version', apiVersion);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return { method, url, headers, text, json: body };
}

const message = {
  senderAddress: 'DoNotReply@trustnet.example',
  content: { subject: 'Vote needed', plainText: 'Bank D asks to join.', html: '<p>Bank D asks to join.</p>' },
  recipients: {
    to: [{ address: 'ops@bank-a.example', displayName: 'Bank A operations' }],
    bcc: [{ address: 'audit@bank-a.example' }],
  },
};

function errorOf(res: CloudResponse): { code: string; message: string } {
  return (res.body as { error: { code: string; message: string } }).error;
}

describe('EmailEmulator', () => {
  it('answers a send with 202, Operation-Location and Running, then Running, then Succeeded', async () => {
    const { emulator, outbox } = world({ runningPolls: 2 });
    const sent = await emulator.handle(request('POST', '/emails:send', message));
    expect(sent.status).toBe(202);
    const { id, status } = sent.body as { id: string; status: string };
    expect(status).toBe('Running');
    expect(sent.headers?.['operation-location']).toBe(`${HOST}/emails/operations/${id}?api-version=${API}`);
    // No Retry-After at latency 0: local runs do not wait.
    expect(sent.headers?.['retry-after']).toBeUndefined();

    const poll = (path = `/emails/operations/${id}`) => emulator.handle(request('GET', path));
    expect((await poll()).body).toEqual({ id, status: 'Running' });
    expect((await outbox.list())[0]).toMatchObject({ id, status: 'Running', to: ['ops@bank-a.example'] });
    expect((await poll()).body).toEqual({ id, status: 'Running' });
    // ACS's own Operation-Location has a double slash after the host; that path works too.
    const done = await poll(`//emails/operations/${id}`);
    expect(done).toMatchObject({ status: 200, body: { id, status: 'Succeeded' } });
    expect(done.headers?.['retry-after']).toBeUndefined();
    expect((await outbox.list())[0]).toMatchObject({
      id,
      status: 'Succeeded',
      bcc: ['audit@bank-a.example'],
    });
  });

  it('asks pollers to wait ~20 s times the latency factor', async () => {
    const { emulator } = world({ latencyFactor: 0.5 });
    const sent = await emulator.handle(request('POST', '/emails:send', message));
    expect(sent.headers?.['retry-after']).toBe('10');
  });

  it('needs a token or signature and an api-version, and knows only its two routes', async () => {
    const { emulator } = world();
    const noAuth = await emulator.handle(request('POST', '/emails:send', message, {}));
    expect(noAuth.status).toBe(401);
    const noVersion = await emulator.handle(request('POST', '/emails:send', message, undefined, null));
    expect(noVersion.status).toBe(400);
    expect(errorOf(noVersion).code).toBe('MissingApiVersionParameter');
    expect((await emulator.handle(request('GET', '/emails/operations/nope'))).status).toBe(404);
    expect((await emulator.handle(request('DELETE', '/emails:send'))).status).toBe(404);
    const hmac = await emulator.handle(
      request('POST', '/emails:send', message, { authorization: 'HMAC-SHA256 SignedHeaders=x&Signature=y' }),
    );
    expect(hmac.status).toBe(202);
  });

  it.each([
    ['no body', undefined, 400, 'BadRequest'],
    ['no sender', { ...message, senderAddress: undefined }, 400, 'BadRequest'],
    ['a bad sender', { ...message, senderAddress: 'nobody' }, 400, 'InvalidEmailAddress'],
    ['no subject', { ...message, content: { plainText: 'x' } }, 400, 'BadRequest'],
    ['no text or html', { ...message, content: { subject: 'x' } }, 400, 'BadRequest'],
    ['no recipients', { ...message, recipients: { to: [] } }, 400, 'BadRequest'],
    ['a bad recipient', { ...message, recipients: { to: [{ address: 'a@b' }] } }, 400, 'InvalidEmailAddress'],
    [
      '51 recipients',
      {
        ...message,
        recipients: { to: Array.from({ length: 51 }, (_, i) => ({ address: `m${i}@bank.example` })) },
      },
      400,
      'BadRequest',
    ],
  ])('refuses a message with %s as ACS does', async (_what, body, status, code) => {
    const { emulator, outbox } = world();
    const res = await emulator.handle(request('POST', '/emails:send', body));
    expect(res.status).toBe(status);
    expect(errorOf(res)).toMatchObject({ code, message: expect.any(String) });
    expect(res.headers?.['x-ms-error-code']).toBe(code);
    expect(await outbox.list()).toEqual([]);
  });

  it('refuses a sender domain not linked to the resource', async () => {
    const { emulator } = world({ senderDomains: ['other.example'] });
    const res = await emulator.handle(request('POST', '/emails:send', message));
    expect(res.status).toBe(404);
    expect(errorOf(res).code).toBe('DomainNotLinked');
  });

  it('answers injected faults as the service would, and forgets them once fired', async () => {
    const { emulator, faults, outbox } = world();
    faults.set([
      { operation: 'email:send', kind: 'throttle', retryAfterSeconds: 3 },
      { operation: 'email:send', kind: 'server' },
    ]);
    const throttled = await emulator.handle(request('POST', '/emails:send', message));
    expect(throttled.status).toBe(429);
    expect(throttled.headers).toMatchObject({ 'retry-after': '3', 'x-ms-error-code': 'TooManyRequests' });
    const failed = await emulator.handle(request('POST', '/emails:send', message));
    expect(failed.status).toBe(500);
    expect(errorOf(failed).code).toBe('InternalServerError');
    expect((await emulator.handle(request('POST', '/emails:send', message))).status).toBe(202);
    expect(await outbox.list()).toHaveLength(1);

    faults.set([{ operation: 'email:deliver', kind: 'error', status: 200, code: 'EmailDropped' }]);
    const sent = await emulator.handle(request('POST', '/emails:send', message));
    const { id } = sent.body as { id: string };
    await emulator.handle(request('GET', `/emails/operations/${id}`));
    const done = await emulator.handle(request('GET', `/emails/operations/${id}`));
    expect(done.body).toMatchObject({ id, status: 'Failed', error: { code: 'EmailDropped' } });
  });

  it('a repeated Operation-Id answers the same operation and does not send again', async () => {
    const { emulator, outbox } = world({ runningPolls: 0 });
    const opId = '0b6f2d4e-5a1c-4c3e-9f8a-7d6e5c4b3a21';
    const first = await emulator.handle(
      request('POST', '/emails:send', message, { authorization: 'Bearer t', 'operation-id': opId }),
    );
    expect(first.body).toEqual({ id: opId, status: 'Running' });
    await emulator.handle(request('GET', `/emails/operations/${opId}`));
    const again = await emulator.handle(
      request('POST', '/emails:send', message, { authorization: 'Bearer t', 'operation-id': opId }),
    );
    expect(again).toMatchObject({ status: 202, body: { id: opId, status: 'Succeeded' } });
    expect(await outbox.list()).toHaveLength(1);
    const bad = await emulator.handle(
      request('POST', '/emails:send', message, { authorization: 'Bearer t', 'operation-id': 'not-a-uuid' }),
    );
    expect(bad.status).toBe(400);
  });
});

describe('Outbox', () => {
  const card = { type: 'AdaptiveCard', version: '1.5', body: [{ type: 'TextBlock', text: 'Vote cast' }] };
  const secretUrl =
    'https://prod-1.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=Zz9';

  it('lists emails and cards in send order and never stores a webhook URL', async () => {
    const outbox = new Outbox({ now: () => T0 + 9 });
    await outbox.recordCard({ url: secretUrl, card, at: T0 + 5, eventId: 'evt-1' });
    await outbox.recordEmail({
      id: 'op-1',
      at: T0 + 1,
      from: 'a@x.example',
      to: ['b@x.example'],
      cc: [],
      bcc: [],
      subject: 's',
      plainText: 't',
    });
    await outbox.recordCard({ url: 'bank-b Teams', card });
    const list = await outbox.list();
    // By the time each was sent, whatever order they were recorded in.
    expect(list.map((e) => e.kind)).toEqual(['email', 'card', 'card']);
    const first = list[1] as OutboxCard;
    expect(first).toMatchObject({
      channel: expect.stringMatching(/^https:\/\/prod-1\.westeurope\.logic\.azure\.com\/…#/),
      eventId: 'evt-1',
      card,
    });
    expect(first.at).toBe(new Date(T0 + 5).toISOString());
    expect((list[2] as OutboxCard).channel).toBe('bank-b Teams');
    expect(JSON.stringify(list)).not.toContain('sig=');
    expect(JSON.stringify(list)).not.toContain('workflows/abc');
  });

  it('with a table, a new Outbox (a restarted host) lists what the old one recorded', async () => {
    const table = freshTable();
    const before = new Outbox({ table, now: () => T0 });
    const emulator = new EmailEmulator({ faults: new CloudFaults(), outbox: before, now: () => T0 + 10 });
    const sent = await emulator.handle(request('POST', '/emails:send', message));
    const { id } = sent.body as { id: string };
    await emulator.handle(request('GET', `/emails/operations/${id}`));
    await emulator.handle(request('GET', `/emails/operations/${id}`));
    await before.recordCard({ url: secretUrl, card, at: T0 + 20, eventId: 'evt-2' });
    const big = { ...card, body: [{ type: 'TextBlock', text: 'x'.repeat(70_000) }] };
    await before.recordCard({ url: 'ops', card: big, at: T0 + 30 });

    // As the local cloud would hand it over: a function that resolves to the table.
    const after = new Outbox({
      table: () =>
        Promise.resolve(
          TableClient.fromConnectionString(process.env['AzureWebJobsStorage']!, table.tableName, {
            allowInsecureConnection: true,
          }),
        ),
    });
    const list = await after.list();
    expect(list.map((e) => [e.kind, e.at])).toEqual([
      ['email', new Date(T0 + 10).toISOString()],
      ['card', new Date(T0 + 20).toISOString()],
      ['card', new Date(T0 + 30).toISOString()],
    ]);
    expect(list[0]).toMatchObject({ id, status: 'Succeeded', subject: 'Vote needed' });
    expect((list[2] as OutboxCard).card).toEqual(big);
    expect(JSON.stringify(list)).not.toContain('sig=');

    await after.clear();
    expect(await before.list()).toEqual([]);
  });
});
