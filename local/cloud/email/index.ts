import { randomUUID } from 'node:crypto';
import { faultResponse, type CloudFaults } from '../faults';
import { armError, type CloudHandler, type CloudRequest, type CloudResponse } from '../http';
import { Outbox } from './outbox';

export {
  Outbox,
  type OutboxCard,
  type OutboxEmail,
  type OutboxEmailStatus,
  type OutboxEntry,
  type OutboxOptions,
} from './outbox';

/**
 * An in-process Azure Communication Services Email data plane behind the real `EmailClient`: point it at
 * `https://<name>.communication.azure.com` with `httpClient: cloudHttpClient(emulator.handle)` and any
 * credential (a bearer token or an HMAC signature is required, not checked).
 *
 * `POST /emails:send` validates the message as ACS does and answers 202 with `Operation-Location`;
 * `GET /emails/operations/{id}` answers Running for the first `runningPolls` polls, then Succeeded (or
 * Failed when a delivery fault was armed). Every accepted email goes into the Outbox. Operations live in
 * memory: a restarted host forgets unfinished ones (the outbox keeps the emails).
 *
 * Faults: `email:send` and `email:operations.get` answer with the fault (429 with Retry-After, 500,
 * timeout...); `email:deliver` lets the send be accepted and its operation end Failed with the fault's
 * code (default `EmailDropped`).
 */

export interface EmailEmulatorOptions {
  faults: CloudFaults;
  outbox: Outbox;
  now: () => number;
  /** Sender domains linked to the resource; others get 404 DomainNotLinked. Omitted: every domain. */
  senderDomains?: string[];
  /** Polls answered Running before the operation ends (default 1). */
  runningPolls?: number;
  /** ACS asks pollers to wait ~20 s; Retry-After is that times this factor, rounded (default 0: none). */
  latencyFactor?: number;
}

interface Operation {
  id: string;
  polls: number;
  failure?: { code: string; message: string };
  done: boolean;
}

const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
// Deliberately simple: one @, no spaces, a dotted domain. ACS is stricter, but this catches our mistakes.
const ADDRESS = /^[^\s@"<>()[\],;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ACS's documented per-message limits. */
const MAX_RECIPIENTS = 50;
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const POLL_SECONDS = 20;

/** An ACS error answer: `{error:{code,message}}` and the code again in `x-ms-error-code`. */
function acsError(status: number, code: string, message: string, headers?: Record<string, string>) {
  return armError(status, code, message, { ...headers, 'x-ms-error-code': code });
}

class Invalid extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Address {
  address: string;
  displayName?: string;
}

interface ValidMessage {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  plainText?: string;
  html?: string;
}

function addresses(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Invalid(400, 'BadRequest', `recipients.${field} must be an array.`);
  return value.map((a: Address, i) => {
    if (typeof a?.address !== 'string')
      throw new Invalid(400, 'BadRequest', `recipients.${field}[${i}].address is required.`);
    if (!ADDRESS.test(a.address))
      throw new Invalid(400, 'InvalidEmailAddress', `The email address '${a.address}' is not valid.`);
    return a.address;
  });
}

function validate(body: unknown, senderDomains: string[] | undefined): ValidMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Invalid(400, 'BadRequest', 'The request body must be a JSON email message.');
  const m = body as {
    senderAddress?: unknown;
    content?: { subject?: unknown; plainText?: unknown; html?: unknown };
    recipients?: { to?: unknown; cc?: unknown; bcc?: unknown };
  };
  if (typeof m.senderAddress !== 'string' || !m.senderAddress)
    throw new Invalid(400, 'BadRequest', 'senderAddress is required.');
  if (!ADDRESS.test(m.senderAddress))
    throw new Invalid(400, 'InvalidEmailAddress', `The sender address '${m.senderAddress}' is not valid.`);
  if (typeof m.content?.subject !== 'string' || !m.content.subject.trim())
    throw new Invalid(400, 'BadRequest', 'content.subject is required.');
  const plainText = typeof m.content.plainText === 'string' ? m.content.plainText : undefined;
  const html = typeof m.content.html === 'string' ? m.content.html : undefined;
  if (!plainText && !html)
    throw new Invalid(400, 'BadRequest', 'The email content needs plainText or html (or both).');
  if (typeof m.recipients !== 'object' || m.recipients === null)
    throw new Invalid(400, 'BadRequest', 'recipients is required.');
  const to = addresses(m.recipients.to, 'to');
  const cc = addresses(m.recipients.cc, 'cc');
  const bcc = addresses(m.recipients.bcc, 'bcc');
  const count = to.length + cc.length + bcc.length;
  if (count === 0) throw new Invalid(400, 'BadRequest', 'At least one recipient is required.');
  if (count > MAX_RECIPIENTS)
    throw new Invalid(
      400,
      'BadRequest',
      `An email may have at most ${MAX_RECIPIENTS} recipients across to, cc and bcc; this one has ${count}.`,
    );
  const domain = m.senderAddress.split('@')[1]!.toLowerCase();
  if (senderDomains && !senderDomains.some((d) => d.toLowerCase() === domain))
    throw new Invalid(404, 'DomainNotLinked', 'The specified sender domain has not been linked.');
  return {
    from: m.senderAddress,
    to,
    cc,
    bcc,
    subject: m.content.subject,
    ...(plainText !== undefined ? { plainText } : {}),
    ...(html !== undefined ? { html } : {}),
  };
}

export class EmailEmulator {
  readonly outbox: Outbox;
  private readonly operations = new Map<string, Operation>();
  private readonly runningPolls: number;
  private readonly retryAfterSeconds: number;

  constructor(private readonly options: EmailEmulatorOptions) {
    this.outbox = options.outbox;
    this.runningPolls = Math.max(0, options.runningPolls ?? 1);
    this.retryAfterSeconds = Math.round(POLL_SECONDS * (options.latencyFactor ?? 0));
  }

  readonly handle: CloudHandler = async (req) => {
    const auth = req.headers['authorization'];
    if (!auth || !/^(Bearer|HMAC-SHA256) \S/.test(auth))
      return acsError(401, 'Unauthorized', 'The request has no valid Authorization header.');
    const apiVersion = req.url.searchParams.get('api-version');
    if (!apiVersion)
      return acsError(400, 'MissingApiVersionParameter', 'The api-version query parameter is required.');
    if (!API_VERSION.test(apiVersion))
      return acsError(400, 'UnsupportedApiVersion', `The api-version '${apiVersion}' is not supported.`);
    // Operation-Location as ACS writes it can carry a double slash after the host.
    const path = req.url.pathname.replace(/\/{2,}/g, '/');
    if (path === '/emails:send' && req.method === 'POST') return this.send(req, apiVersion);
    const op = /^\/emails\/operations\/([^/]+)$/.exec(path);
    if (op && req.method === 'GET') return this.status(req, decodeURIComponent(op[1]!));
    return acsError(404, 'NotFound', `No route for ${req.method} ${path}.`);
  };

  private fault(operation: string, req: CloudRequest): CloudResponse | undefined {
    const fault = this.options.faults.take(operation);
    if (!fault) return undefined;
    const res = faultResponse(fault, req);
    const code = (res.body as { error?: { code?: string } } | undefined)?.error?.code;
    return code ? { ...res, headers: { ...res.headers, 'x-ms-error-code': code } } : res;
  }

  private location(req: CloudRequest, id: string, apiVersion: string): string {
    return `${req.url.origin}/emails/operations/${id}?api-version=${apiVersion}`;
  }

  private running(req: CloudRequest, op: Operation, apiVersion: string, status: number): CloudResponse {
    return {
      status,
      headers: {
        'operation-location': this.location(req, op.id, apiVersion),
        ...(this.retryAfterSeconds > 0 ? { 'retry-after': String(this.retryAfterSeconds) } : {}),
      },
      body: { id: op.id, status: 'Running' },
    };
  }

  private async send(req: CloudRequest, apiVersion: string): Promise<CloudResponse> {
    const faulted = this.fault('email:send', req);
    if (faulted) return faulted;
    if ((req.text?.length ?? 0) > MAX_REQUEST_BYTES)
      return acsError(413, 'RequestEntityTooLarge', 'The email request exceeds 10 MB.');
    const requested = req.headers['operation-id'];
    if (requested !== undefined && !UUID.test(requested))
      return acsError(400, 'BadRequest', 'The Operation-Id header must be a UUID.');
    let message: ValidMessage;
    try {
      message = validate(req.json, this.options.senderDomains);
    } catch (e) {
      if (e instanceof Invalid) return acsError(e.status, e.code, e.message);
      throw e;
    }
    // A repeated Operation-Id names the same send: answer with it instead of sending again.
    const existing = requested ? this.operations.get(requested.toLowerCase()) : undefined;
    if (existing) return this.answer(req, existing, apiVersion, 202);

    const id = (requested ?? randomUUID()).toLowerCase();
    const op: Operation = { id, polls: 0, done: false };
    const drop = this.options.faults.take('email:deliver');
    if (drop)
      op.failure = {
        code: drop.code ?? 'EmailDropped',
        message: drop.message ?? 'Email was dropped after several attempts to deliver (injected).',
      };
    this.operations.set(id, op);
    await this.outbox.recordEmail({ id, at: this.options.now(), ...message });
    return this.running(req, op, apiVersion, 202);
  }

  private async status(req: CloudRequest, id: string): Promise<CloudResponse> {
    const faulted = this.fault('email:operations.get', req);
    if (faulted) return faulted;
    const op = this.operations.get(id.toLowerCase());
    if (!op) return acsError(404, 'NotFound', `Operation ${id} was not found.`);
    const apiVersion = req.url.searchParams.get('api-version')!;
    op.polls += 1;
    if (!op.done && op.polls > this.runningPolls) {
      op.done = true;
      await this.outbox.setEmailStatus(op.id, op.failure ? 'Failed' : 'Succeeded', op.failure);
    }
    return this.answer(req, op, apiVersion, 200);
  }

  private answer(req: CloudRequest, op: Operation, apiVersion: string, status: number): CloudResponse {
    if (!op.done) return this.running(req, op, apiVersion, status);
    return {
      status,
      ...(status === 202 ? { headers: { 'operation-location': this.location(req, op.id, apiVersion) } } : {}),
      body: op.failure
        ? { id: op.id, status: 'Failed', error: op.failure }
        : { id: op.id, status: 'Succeeded' },
    };
  }
}
