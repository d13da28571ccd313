import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Teams notifications: an Adaptive Card posted to a Workflows (Power Automate) webhook URL, which answers
 * 202 and runs the flow later. Webhook URLs are secrets (their query carries a signature), so no message,
 * error or log line here ever contains one: they name a channel by its label or a masked form.
 *
 * Each URL has its own lane, shared by every post from this process: posts start at least
 * 1/ratePerSecond apart (4 a second by default), a 429 stops the whole lane until its Retry-After has
 * passed, and 5xx or network failures are retried with exponential backoff and jitter up to a limit.
 * Other 4xx answers are permanent. Two URLs never wait for each other.
 */

export type ChannelKind = 'teams' | 'email';

export type ChannelErrorCode =
  /** Still throttled after the last attempt, or asked to wait longer than we wait in-process. */
  | 'CHANNEL.RATE_LIMITED'
  /** The service kept answering 5xx (or 408) until the retry limit. */
  | 'CHANNEL.UNAVAILABLE'
  /** No HTTP answer at all (refused, DNS, reset, timeout) until the retry limit. */
  | 'CHANNEL.UNREACHABLE'
  /** A 4xx other than 404/410/429: the request or the caller's rights were refused; retrying won't help. */
  | 'CHANNEL.REJECTED'
  /** 404/410: the webhook (its flow) no longer exists. The member must set a new URL. */
  | 'CHANNEL.DEAD'
  /** The address is unusable before anything is sent: not a URL, cleartext HTTP off loopback, no recipients. */
  | 'CHANNEL.INVALID'
  /** The service accepted the message, then failed it (an email dropped). */
  | 'CHANNEL.FAILED';

const TRANSIENT: ReadonlySet<ChannelErrorCode> = new Set([
  'CHANNEL.RATE_LIMITED',
  'CHANNEL.UNAVAILABLE',
  'CHANNEL.UNREACHABLE',
]);

/** A notification that could not be delivered. Its message names the channel's label, never its URL. */
export class ChannelError extends Error {
  /** Waiting and trying again can help. */
  readonly transient: boolean;
  /** The last HTTP status, when there was an answer. */
  readonly status?: number;
  /** From the last Retry-After, when the service said how long to wait. */
  readonly retryAfterMs?: number;
  /** HTTP attempts made (Teams), or 1 for an email whose SDK retried internally. */
  readonly attempts: number;
  /** The service's own error code (`TooManyRequests`, `DomainNotLinked`, `ECONNREFUSED`...). */
  readonly serviceCode?: string;

  constructor(
    readonly code: ChannelErrorCode,
    message: string,
    readonly channel: ChannelKind,
    detail: { attempts: number; status?: number; retryAfterMs?: number; serviceCode?: string },
  ) {
    super(message);
    this.name = 'ChannelError';
    this.transient = TRANSIENT.has(code);
    this.attempts = detail.attempts;
    if (detail.status !== undefined) this.status = detail.status;
    if (detail.retryAfterMs !== undefined) this.retryAfterMs = detail.retryAfterMs;
    if (detail.serviceCode !== undefined) this.serviceCode = detail.serviceCode;
  }

  /** What a step or the notification log records: no stack, nothing secret. */
  toJSON(): {
    code: ChannelErrorCode;
    message: string;
    channel: ChannelKind;
    transient: boolean;
    attempts: number;
    status?: number;
    retryAfterMs?: number;
    serviceCode?: string;
  } {
    return {
      code: this.code,
      message: this.message,
      channel: this.channel,
      transient: this.transient,
      attempts: this.attempts,
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
      ...(this.serviceCode !== undefined ? { serviceCode: this.serviceCode } : {}),
    };
  }
}

/**
 * A webhook URL as it may be shown: scheme and host, then a fingerprint (8 hex of its SHA-256) so two
 * channels on the same host can be told apart. The path and query (where the signature is) never appear.
 */
export function maskWebhookUrl(url: string): string {
  const fingerprint = createHash('sha256').update(url).digest('hex').slice(0, 8);
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…#${fingerprint}`;
  } catch {
    return `webhook#${fingerprint}`;
  }
}

/**
 * Retry-After in milliseconds: delta-seconds, or an HTTP date. A date is read against the response's own
 * `Date` header when there is one (no clock skew between us and the service), else against `nowMs`.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
  responseDate?: string | null,
): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  const reference = responseDate ? Date.parse(responseDate) : NaN;
  return Math.max(0, at - (Number.isFinite(reference) ? reference : nowMs));
}

/** Time for the rate limiter and retry waits. Injected in tests; real (monotonic) time otherwise. */
export interface SenderClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

// Rates and Retry-After are real time even when the local host runs a virtual clock, so this is
// performance time (monotonic, epoch-based), not runtime/clock.ts.
const realClock: SenderClock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => delay(ms).then(() => undefined),
};

export interface TeamsSenderOptions {
  fetch?: typeof fetch;
  clock?: SenderClock;
  /** In [0, 1); jitter. */
  random?: () => number;
  /** Posts per second per URL (default 4). */
  ratePerSecond?: number;
  /** Attempts per post, the first included (default 5). */
  maxAttempts?: number;
  /** First backoff (default 1000 ms), doubled each retry up to maxDelayMs (default 30 s); jittered. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for in-process: RATE_LIMITED at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Per HTTP attempt (default 15 s). */
  timeoutMs?: number;
  /** Receives one line per retry and failure; lines name the label, never the URL. */
  log?: (line: string) => void;
}

export interface TeamsPostOptions {
  /** How messages name this channel, e.g. "bank-a Teams"; default the masked URL. Must not be secret. */
  label?: string;
}

export interface TeamsDelivery {
  label: string;
  /** The 2xx the webhook answered (Workflows: 202). */
  status: number;
  attempts: number;
  /** When it was accepted, by the sender's clock. */
  at: number;
}

interface Lane {
  /** Earliest start of the next post. */
  next: number;
  /** Set by a 429: no post starts before. */
  blockedUntil: number;
  pending: number;
}

type Outcome =
  | { kind: 'answer'; status: number; retryAfterMs?: number; serviceCode?: string }
  | { kind: 'network'; code: string };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/i;

function serviceCodeOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown } };
    const code = body?.error?.code;
    // Only a code-shaped token: a service's message could quote the workflow's address.
    return typeof code === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function networkCode(e: unknown): string {
  const err = e as { name?: string; code?: unknown; cause?: { code?: unknown; name?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'ETIMEDOUT';
  const code = err?.cause?.code ?? err?.code;
  // Never pass on the error's message: undici's can name the address.
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'ENETWORK';
}

export class TeamsSender {
  private readonly lanes = new Map<string, Lane>();
  private readonly fetch: typeof fetch;
  private readonly clock: SenderClock;
  private readonly random: () => number;
  private readonly spacingMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;
  private readonly log: (line: string) => void;

  constructor(options: TeamsSenderOptions = {}) {
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.spacingMs = 1000 / (options.ratePerSecond ?? 4);
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.log = options.log ?? (() => undefined);
  }

  /**
   * Posts `body` as JSON to the webhook. Resolves on a 2xx; throws ChannelError otherwise (after retries
   * for 429, 5xx and network failures). Posts to one URL are paced and paused together.
   */
  async post(url: string, body: unknown, options: TeamsPostOptions = {}): Promise<TeamsDelivery> {
    const label = options.label ?? maskWebhookUrl(url);
    const target = this.check(url, label);
    const payload = JSON.stringify(body);
    // Lanes are keyed by a hash so this long-lived map holds no signature.
    const key = createHash('sha256').update(target.href).digest('base64url');
    const lane = this.lanes.get(key) ?? { next: 0, blockedUntil: 0, pending: 0 };
    this.lanes.set(key, lane);
    lane.pending += 1;
    try {
      for (let attempt = 1; ; attempt++) {
        await this.acquire(lane);
        const outcome = await this.attempt(target, payload);
        if (outcome.kind === 'answer' && outcome.status >= 200 && outcome.status < 300)
          return { label, status: outcome.status, attempts: attempt, at: this.clock.now() };
        let wait: number;
        try {
          wait = this.decide(outcome, attempt, label, lane);
        } catch (e) {
          this.log(
            `teams ${label}: attempt ${attempt} ${describe(outcome)}; giving up: ${(e as Error).message}`,
          );
          throw e;
        }
        this.log(`teams ${label}: attempt ${attempt} ${describe(outcome)}; retrying`);
        if (wait > 0) await this.clock.sleep(wait);
      }
    } finally {
      lane.pending -= 1;
      this.prune(key, lane);
    }
  }

  private check(url: string, label: string): URL {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new ChannelError('CHANNEL.INVALID', `Teams webhook ${label} is not a URL.`, 'teams', {
        attempts: 0,
      });
    }
    // Cards carry member details: cleartext only to a receiver on this machine (local runs, tests).
    const ok =
      target.protocol === 'https:' || (target.protocol === 'http:' && LOOPBACK.test(target.hostname));
    if (!ok)
      throw new ChannelError(
        'CHANNEL.INVALID',
        `Teams webhook ${label} must be an https URL (http is accepted on loopback only).`,
        'teams',
        { attempts: 0 },
      );
    return target;
  }

  /** Waits for this lane's next start slot (and any 429 pause), then takes it. */
  private async acquire(lane: Lane): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const at = Math.max(now, lane.next, lane.blockedUntil);
      // Reserve at once so concurrent posts queue in order instead of racing for the same slot.
      lane.next = at + this.spacingMs;
      if (at <= now) return;
      await this.clock.sleep(at - now);
      // A 429 that arrived meanwhile pushed blockedUntil: queue again behind it.
      if (lane.blockedUntil <= this.clock.now()) return;
    }
  }

  private async attempt(target: URL, payload: string): Promise<Outcome> {
    try {
      const res = await this.fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
        // A moved webhook is a configuration problem, and following it would re-post the card.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text().catch(() => '');
      const retryAfterMs = parseRetryAfter(
        res.headers.get('retry-after'),
        this.clock.now(),
        res.headers.get('date'),
      );
      const serviceCode = res.status >= 400 ? serviceCodeOf(text) : undefined;
      return {
        kind: 'answer',
        status: res.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        ...(serviceCode ? { serviceCode } : {}),
      };
    } catch (e) {
      return { kind: 'network', code: networkCode(e) };
    }
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the ceiling, so retries still back off, spread over the rest.
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** How long to wait before the next attempt, or throws the final ChannelError. */
  private decide(outcome: Outcome, attempt: number, label: string, lane: Lane): number {
    const last = attempt >= this.maxAttempts;
    if (outcome.kind === 'network') {
      if (last)
        throw new ChannelError(
          'CHANNEL.UNREACHABLE',
          `Teams webhook ${label} could not be reached after ${attempt} attempts (${outcome.code}).`,
          'teams',
          { attempts: attempt, serviceCode: outcome.code },
        );
      return this.backoff(attempt);
    }
    const { status, retryAfterMs, serviceCode } = outcome;
    const detail = {
      attempts: attempt,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(serviceCode ? { serviceCode } : {}),
    };
    const suffix = serviceCode ? ` ${serviceCode}` : '';
    if (status === 429) {
      if (retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs)
        throw new ChannelError(
          'CHANNEL.RATE_LIMITED',
          `Teams webhook ${label} is throttled for ${Math.ceil(retryAfterMs / 1000)} s (429${suffix}).`,
          'teams',
          detail,
        );
      const wait = retryAfterMs ?? this.backoff(attempt);
      // The whole lane waits: the next post to this URL would be throttled too.
      lane.blockedUntil = Math.max(lane.blockedUntil, this.clock.now() + wait);
      if (last)
        throw new ChannelError(
          'CHANNEL.RATE_LIMITED',
          `Teams webhook ${label} was still throttled after ${attempt} attempts (429${suffix}).`,
          'teams',
          { ...detail, retryAfterMs: wait },
        );
      // acquire() waits for blockedUntil.
      return 0;
    }
    if (status === 408 || status >= 500) {
      if (last)
        throw new ChannelError(
          'CHANNEL.UNAVAILABLE',
          `Teams webhook ${label} answered ${status}${suffix} after ${attempt} attempts.`,
          'teams',
          detail,
        );
      return retryAfterMs !== undefined
        ? Math.min(retryAfterMs, this.maxRetryAfterMs)
        : this.backoff(attempt);
    }
    if (status === 404 || status === 410)
      throw new ChannelError(
        'CHANNEL.DEAD',
        `Teams webhook ${label} no longer exists (${status}${suffix}); the member must set a new one.`,
        'teams',
        detail,
      );
    throw new ChannelError(
      'CHANNEL.REJECTED',
      `Teams webhook ${label} refused the card (${status}${suffix}).`,
      'teams',
      detail,
    );
  }

  /** Forgets an idle lane once its pacing no longer matters, so the map does not grow forever. */
  private prune(key: string, lane: Lane): void {
    const now = this.clock.now();
    if (lane.pending === 0 && lane.next <= now && lane.blockedUntil <= now) this.lanes.delete(key);
  }
}

function describe(outcome: Outcome): string {
  return outcome.kind === 'network'
    ? `failed (${outcome.code})`
    : `answered ${outcome.status}${outcome.serviceCode ? ` ${outcome.serviceCode}` : ''}`;
}

let shared: TeamsSender | undefined;

/**
 * The process-wide sender: every activity in this worker should post through it so the per-URL pace
 * and 429 pauses cover all of them.
 */
export function sharedTeamsSender(): TeamsSender {
  return (shared ??= new TeamsSender());
}
