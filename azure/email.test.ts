import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential, type CloudHandler } from '../local/cloud/http';
import { EmailEmulator, Outbox, type OutboxEmail } from '../local/cloud/email';
import { ChannelError, emailOperationId, emailSender, type EmailSenderOptions } from './email';

const T0 = Date.UTC(2026, 0, 1);
const ENDPOINT = 'https://trustnet-local.europe.communication.azure.com';

function world(options: Partial<EmailSenderOptions> = {}) {
  const faults = new CloudFaults();
  const outbox = new Outbox({ now: () => T0 });
  const emulator = new EmailEmulator({
    faults,
    outbox,
    now: () => T0,
    senderDomains: ['trustnet.example'],
  });
  const seen: Array<{ method: string; path: string; status: number; auth: string }> = [];
  const handler: CloudHandler = async (req) => {
    const res = await emulator.handle(req);
    seen.push({
      method: req.method,
      path: req.url.pathname,
      status: res.status,
      auth: (req.headers['authorization'] ?? '').split(' ')[0]!,
    });
    return res;
  };
  const sender = emailSender({
    endpoint: ENDPOINT,
    credential: new LocalCloudCredential(),
    sender: 'DoNotReply@trustnet.example',
    httpClient: cloudHttpClient(handler),
    pollIntervalMs: 1,
    retryOptions: { maxRetries: 0 },
    ...options,
  });
  return { faults, outbox, sender, seen };
}

const message = {
  to: ['ops@bank-d.example', 'risk@bank-d.example'],
  subject: 'Bank D asks to join TrustNet Local',
  plainText: 'Bank D (O=Bank D, L=Madrid, C=ES) asks to join. Vote by 8 January.',
  html: '<p>Bank D asks to join. Vote by 8 January.</p>',
};

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChannelError) return e;
    throw e;
  }
  throw new Error('expected a ChannelError');
}

describe('emailSender against the local email emulator', () => {
  it('sends through the real SDK, polls to Succeeded, and the outbox has the email', async () => {
    const { sender, outbox, seen } = world();
    const { messageId } = await sender.send(message);
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual([
      'POST /emails:send 202',
      `GET /emails/operations/${messageId} 200`,
      `GET /emails/operations/${messageId} 200`,
    ]);
    // Bearer token from the credential, as the managed identity's would be in Azure.
    expect(new Set(seen.map((s) => s.auth))).toEqual(new Set(['Bearer']));
    const entries = await outbox.list();
    expect(entries).toEqual([
      {
        kind: 'email',
        id: messageId,
        at: new Date(T0).toISOString(),
        from: 'DoNotReply@trustnet.example',
        to: message.to,
        cc: [],
        bcc: [],
        subject: message.subject,
        plainText: message.plainText,
        html: message.html,
        status: 'Succeeded',
      } satisfies OutboxEmail,
    ]);
  });

  it('a validation error is a permanent CHANNEL.REJECTED with the service code', async () => {
    const { sender, outbox } = world();
    const e = await failure(
      sender.send({ ...message, to: ['not-an-address'] }, { label: 'bank-d contacts' }),
    );
    expect(e).toMatchObject({
      code: 'CHANNEL.REJECTED',
      status: 400,
      serviceCode: 'InvalidEmailAddress',
      transient: false,
      channel: 'email',
    });
    expect(e.message).toMatch(/^bank-d contacts: /);
    expect(await outbox.list()).toEqual([]);
  });

  it('a sender domain not linked to the resource is refused (404 DomainNotLinked)', async () => {
    const { sender } = world({ sender: 'DoNotReply@elsewhere.example' });
    const e = await failure(sender.send(message));
    expect(e).toMatchObject({ code: 'CHANNEL.REJECTED', status: 404, serviceCode: 'DomainNotLinked' });
  });

  it('429 then success: the SDK honours Retry-After and the email goes once', async () => {
    const { sender, faults, seen, outbox } = world({ retryOptions: { maxRetries: 2 } });
    faults.set([{ operation: 'email:send', kind: 'throttle', retryAfterSeconds: 0 }]);
    const { messageId } = await sender.send(message);
    expect(seen.slice(0, 2).map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual([
      'POST /emails:send 429',
      'POST /emails:send 202',
    ]);
    expect((await outbox.list()).map((x) => x.id)).toEqual([messageId]);
  });

  it('429 left over after the SDK retries: transient CHANNEL.RATE_LIMITED with Retry-After', async () => {
    const { sender, faults, outbox } = world();
    faults.set([{ operation: 'email:send', kind: 'throttle', retryAfterSeconds: 7 }]);
    const e = await failure(sender.send(message));
    expect(e).toMatchObject({
      code: 'CHANNEL.RATE_LIMITED',
      status: 429,
      retryAfterMs: 7000,
      serviceCode: 'TooManyRequests',
      transient: true,
    });
    expect(await outbox.list()).toEqual([]);
  });

  it('5xx is a transient CHANNEL.UNAVAILABLE; a timeout a transient CHANNEL.UNREACHABLE', async () => {
    const { sender, faults } = world();
    faults.set([{ operation: 'email:send', kind: 'server' }]);
    expect(await failure(sender.send(message))).toMatchObject({
      code: 'CHANNEL.UNAVAILABLE',
      status: 500,
      transient: true,
    });
    faults.set([{ operation: 'email:operations.get', kind: 'timeout' }]);
    const e = await failure(sender.send(message));
    expect(e).toMatchObject({ code: 'CHANNEL.UNREACHABLE', transient: true });
    expect(e.message).toContain('ETIMEDOUT');
  });

  it('an operation that ends Failed is CHANNEL.FAILED with the service code, and the outbox says so', async () => {
    const { sender, faults, outbox } = world();
    faults.set([
      { operation: 'email:deliver', kind: 'error', status: 200, code: 'EmailDroppedAllRecipientsSuppressed' },
    ]);
    const e = await failure(sender.send(message));
    expect(e).toMatchObject({
      code: 'CHANNEL.FAILED',
      serviceCode: 'EmailDroppedAllRecipientsSuppressed',
      transient: false,
    });
    expect(e.message).toBe(
      'email to 2 recipients: the email service accepted the message, then failed it ' +
        '(EmailDroppedAllRecipientsSuppressed: Email was dropped after several attempts to deliver (injected).)',
    );
    const [entry] = (await outbox.list()) as OutboxEmail[];
    expect(entry?.status).toBe('Failed');
    expect(entry?.error?.code).toBe('EmailDroppedAllRecipientsSuppressed');
  });

  it('the same operation id sends once', async () => {
    const { sender, outbox } = world();
    const operationId = emailOperationId('evt-request-received-7552', 'email-0123');
    const first = await sender.send(message, { operationId });
    const again = await sender.send(message, { operationId });
    expect(first.messageId).toBe(operationId);
    expect(again.messageId).toBe(operationId);
    expect(await outbox.list()).toHaveLength(1);
  });

  it('refuses an email without recipients, or with more than ACS allows, before any request', async () => {
    const { sender, seen } = world();
    expect(await failure(sender.send({ ...message, to: [' '] }))).toMatchObject({
      code: 'CHANNEL.INVALID',
      attempts: 0,
    });
    const many = Array.from({ length: 51 }, (_, i) => `m${i}@bank.example`);
    expect((await failure(sender.send({ ...message, to: many }))).code).toBe('CHANNEL.INVALID');
    expect(seen).toEqual([]);
  });
});

describe('emailOperationId', () => {
  it('is a stable UUID per (event, channel)', () => {
    const a = emailOperationId('e1', 'c1');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(emailOperationId('e1', 'c1')).toBe(a);
    expect(emailOperationId('e1', 'c2')).not.toBe(a);
    expect(emailOperationId('e2', 'c1')).not.toBe(a);
  });
});
