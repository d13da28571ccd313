import { createHash } from 'node:crypto';
import { EmailClient, type EmailMessage } from '@azure/communication-email';
import type { KeyCredential, TokenCredential } from '@azure/core-auth';
import type { HttpClient, RestError } from '@azure/core-rest-pipeline';
import { nowMs } from '../runtime/clock';
import { serviceErrorBody } from './azure-error';
import { ChannelError, parseRetryAfter } from './teams-webhook';

export { ChannelError, type ChannelErrorCode } from './teams-webhook';

/**
 * Email through Azure Communication Services (`@azure/communication-email`): send, then poll the
 * operation to its end, and every failure as a ChannelError. In Azure the credential is the app's managed
 * identity (DefaultAzureCredential, which needs a role on the Communication Services resource); under
 * the local host, `LocalCloudCredential` with `httpClient` pointed at the local cloud's email emulator.
 *
 * The SDK itself retries 429 (honouring Retry-After) and 5xx a few times; what is left over reaches the
 * caller as a transient ChannelError so the orchestration, not this activity, owns long waits.
 */

export interface EmailSenderOptions {
  /** The Communication Services resource, e.g. `https://trustnet.europe.communication.azure.com`. */
  endpoint: string;
  credential: TokenCredential | KeyCredential;
  /** The From address, on a domain linked to the resource (e.g. `DoNotReply@<domain>`). */
  sender: string;
  httpClient?: HttpClient;
  /** The SDK's own retries (default: 2 retries, 1 s doubling, at most 8 s). */
  retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
  /** Poll interval when the service gives no Retry-After (default 2 s). */
  pollIntervalMs?: number;
  /** Give up waiting for the operation after this long (default 2 minutes): CHANNEL.UNAVAILABLE. */
  timeoutMs?: number;
}

export interface EmailContent {
  to: string[];
  subject: string;
  plainText: string;
  html: string;
}

export interface EmailSendOptions {
  /**
   * The ACS operation id (a UUID). Give the same one for the same notification (see `emailOperationId`)
   * so that a retried send names the same operation.
   */
  operationId?: string;
  /** How errors name this channel, e.g. "bank-a contacts". Default: "email to N recipients". */
  label?: string;
}

export interface EmailSender {
  /** Resolves when ACS reports the send Succeeded; `messageId` is the operation id. */
  send(message: EmailContent, options?: EmailSendOptions): Promise<{ messageId: string }>;
}

/** ACS's per-message limit across to, cc and bcc. */
export const MAX_EMAIL_RECIPIENTS = 50;

const NETWORK =
  /^(ETIMEDOUT|ESOCKETTIMEDOUT|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EPIPE|REQUEST_SEND_ERROR)$/;

const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 297)}...` : text);

/** A stable UUID for one notification on one channel, for `EmailSendOptions.operationId`. */
export function emailOperationId(eventId: string, channelKey: string): string {
  const h = createHash('sha256').update(`${eventId}\n${channelKey}`).digest('hex');
  // Shaped as a version-8 (custom) RFC 9562 UUID.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function isRestError(e: unknown): e is RestError {
  return e instanceof Error && e.name === 'RestError';
}

/** Translates what the SDK or its poller threw. `label` names the channel; nothing secret is added. */
export function toEmailChannelError(label: string, e: unknown): ChannelError {
  if (e instanceof ChannelError) return e;
  if (isRestError(e)) {
    const status = e.statusCode;
    const body = serviceErrorBody(e);
    const serviceCode = body?.code ?? e.code;
    const detail = {
      attempts: 1,
      ...(status !== undefined ? { status } : {}),
      ...(serviceCode ? { serviceCode } : {}),
    };
    if (status === undefined)
      return new ChannelError(
        'CHANNEL.UNREACHABLE',
        `${label}: the email service could not be reached (${e.code && NETWORK.test(e.code) ? e.code : 'no response'}).`,
        'email',
        detail,
      );
    const said = clip(
      `${status}${serviceCode ? ` ${serviceCode}` : ''}${body?.message ? `: ${body.message}` : ''}`,
    );
    if (status === 429) {
      const headers = e.response?.headers;
      const retryAfterMs = parseRetryAfter(headers?.get('retry-after'), nowMs(), headers?.get('date'));
      return new ChannelError(
        'CHANNEL.RATE_LIMITED',
        `${label}: the email service is throttling (${said}).`,
        'email',
        {
          ...detail,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        },
      );
    }
    if (status === 408 || status >= 500)
      return new ChannelError(
        'CHANNEL.UNAVAILABLE',
        `${label}: the email service failed (${said}).`,
        'email',
        detail,
      );
    if (status === 401 || status === 403)
      return new ChannelError(
        'CHANNEL.REJECTED',
        `${label}: the platform may not send email through this resource (${said}); check its identity's role.`,
        'email',
        detail,
      );
    return new ChannelError(
      'CHANNEL.REJECTED',
      `${label}: the email service refused the message (${said}).`,
      'email',
      detail,
    );
  }
  const err = e as { name?: string; message?: string };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError')
    return new ChannelError(
      'CHANNEL.UNAVAILABLE',
      `${label}: the send did not finish in time; it may still complete.`,
      'email',
      { attempts: 1 },
    );
  const message = typeof err?.message === 'string' ? err.message : String(e);
  // The poller reports a Failed operation as "The long-running operation has failed. <code>. <message>".
  const lro = /long-running operation has failed\.?\s*(?:([A-Za-z][A-Za-z0-9_]*)\.\s*)?(.*)$/is.exec(message);
  if (lro)
    return new ChannelError(
      'CHANNEL.FAILED',
      clip(
        `${label}: the email service accepted the message, then failed it${lro[1] ? ` (${lro[1]}: ${lro[2]})` : '.'}`,
      ),
      'email',
      { attempts: 1, ...(lro[1] ? { serviceCode: lro[1] } : {}) },
    );
  return new ChannelError('CHANNEL.FAILED', clip(`${label}: sending failed: ${message}`), 'email', {
    attempts: 1,
  });
}

export function emailSender(options: EmailSenderOptions): EmailSender {
  const client = new EmailClient(options.endpoint, options.credential, {
    ...(options.httpClient ? { httpClient: options.httpClient } : {}),
    retryOptions: { maxRetries: 2, retryDelayInMs: 1000, maxRetryDelayInMs: 8000, ...options.retryOptions },
  });
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 120_000;

  return {
    async send(content, sendOptions = {}) {
      const to = [...new Set(content.to.map((a) => a.trim()).filter(Boolean))];
      const label = sendOptions.label ?? `email to ${to.length} recipient${to.length === 1 ? '' : 's'}`;
      if (to.length === 0)
        throw new ChannelError('CHANNEL.INVALID', `${label}: no recipients.`, 'email', { attempts: 0 });
      if (to.length > MAX_EMAIL_RECIPIENTS)
        throw new ChannelError(
          'CHANNEL.INVALID',
          `${label}: ${to.length} recipients; one email may have at most ${MAX_EMAIL_RECIPIENTS}.`,
          'email',
          { attempts: 0 },
        );
      const message: EmailMessage = {
        senderAddress: options.sender,
        content: { subject: content.subject, plainText: content.plainText, html: content.html },
        recipients: { to: to.map((address) => ({ address })) },
      };
      const abortSignal = AbortSignal.timeout(timeoutMs);
      try {
        const poller = await client.beginSend(message, {
          ...(sendOptions.operationId ? { operationId: sendOptions.operationId } : {}),
          updateIntervalInMs: pollIntervalMs,
          abortSignal,
        });
        const result = await poller.pollUntilDone({ abortSignal });
        if (result.status !== 'Succeeded')
          throw new ChannelError(
            'CHANNEL.FAILED',
            clip(
              `${label}: the send ended ${result.status}${result.error?.code ? ` (${result.error.code}: ${result.error.message ?? ''})` : ''}.`,
            ),
            'email',
            { attempts: 1, ...(result.error?.code ? { serviceCode: result.error.code } : {}) },
          );
        return { messageId: result.id };
      } catch (e) {
        throw toEmailChannelError(label, e);
      }
    },
  };
}
