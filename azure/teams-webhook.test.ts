import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ChannelError,
  maskWebhookUrl,
  parseRetryAfter,
  sharedTeamsSender,
  TeamsSender,
  type SenderClock,
  type TeamsSenderOptions,
} from './teams-webhook';

const T0 = Date.UTC(2026, 0, 1);

/**
 * Virtual time for the sender: sleeps are timers on a virtual clock that jumps to the earliest timer
 * whenever no request is on the wire, so waits cost no wall time and arrival times are exact.
 */
class VirtualTime implements SenderClock {
  t = T0;
  inflight = 0;
  private timers: Array<{ at: number; resolve: () => void }> = [];
  private stopped = false;

  readonly now = (): number => this.t;
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => this.timers.push({ at: this.t + ms, resolve }));

  /** fetch, counted, with the body read before the answer is handed back (so nothing is half-done). */
  readonly fetch: typeof fetch = async (input, init) => {
    this.inflight += 1;
    try {
      const res = await fetch(input, init);
      const body = await res.arrayBuffer();
      return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
    } finally {
      this.inflight -= 1;
    }
  };

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      if (this.inflight === 0 && this.timers.length > 0) {
        this.timers.sort((a, b) => a.at - b.at);
        const next = this.timers.shift()!;
        this.t = Math.max(this.t, next.at);
        next.resolve();
      }
      setImmediate(tick);
    };
    setImmediate(tick);
  }

  stop(): void {
    this.stopped = true;
  }
}

interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A loopback Workflows stand-in: records each arrival (virtual time) and answers from a script per path. */
class Receiver {
  readonly arrivals: Array<{ path: string; at: number; body: unknown }> = [];
  private readonly scripts = new Map<string, Scripted[]>();
  private server!: Server;
  port = 0;

  constructor(private readonly now: () => number) {}

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const at = this.now();
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString('utf8')));
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0]!;
        this.arrivals.push({ path, at, body: text ? JSON.parse(text) : undefined });
        const next = this.scripts.get(path)?.shift() ?? { status: 202 };
        res.writeHead(next.status, next.headers);
        res.end(next.body ?? '');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  script(path: string, ...answers: Scripted[]): void {
    this.scripts.set(path, answers);
  }

  /** A Workflows-like URL whose query carries a signature. */
  url(path: string, sig = 'S3cr3tSig'): string {
    return `http://127.0.0.1:${this.port}${path}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`;
  }

  at(path: string): number[] {
    return this.arrivals.filter((a) => a.path === path).map((a) => a.at);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let time: VirtualTime;
let receiver: Receiver;
let lines: string[];

beforeEach(async () => {
  time = new VirtualTime();
  time.start();
  receiver = new Receiver(time.now);
  await receiver.start();
  lines = [];
});

afterEach(async () => {
  time.stop();
  await receiver.stop();
});

function sender(options: TeamsSenderOptions = {}): TeamsSender {
  return new TeamsSender({
    fetch: time.fetch,
    clock: time,
    random: () => 0.5,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    maxAttempts: 4,
    log: (line) => lines.push(line),
    ...options,
  });
}

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChannelError) return e;
    throw e;
  }
  throw new Error('expected a ChannelError');
}

/** Nothing the sender said may carry the URL, its path or its signature. */
function expectNoSecret(texts: string[], url: string): void {
  const u = new URL(url);
  for (const text of texts) {
    expect(text).not.toContain(url);
    expect(text).not.toContain(u.pathname);
    expect(text).not.toContain(u.searchParams.get('sig')!);
    expect(text).not.toContain('sig=');
  }
}

const card = {
  type: 'AdaptiveCard',
  version: '1.5',
  body: [{ type: 'TextBlock', text: 'Bank D asks to join' }],
};

describe('TeamsSender', () => {
  it('posts the card as JSON and resolves on 202', async () => {
    const url = receiver.url('/hook/a');
    const delivery = await sender().post(url, card, { label: 'bank-a Teams' });
    expect(delivery).toEqual({ label: 'bank-a Teams', status: 202, attempts: 1, at: T0 });
    expect(receiver.arrivals).toEqual([{ path: '/hook/a', at: T0, body: card }]);
  });

  it('honours a 429 Retry-After in seconds before trying again', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', { status: 429, headers: { 'retry-after': '2' } }, { status: 202 });
    const delivery = await sender().post(url, card);
    expect(delivery.attempts).toBe(2);
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 2000]);
    expectNoSecret(lines, url);
  });

  it('honours a 429 Retry-After given as an HTTP date, read against the response Date', async () => {
    const url = receiver.url('/hook/a');
    // A server clock far from ours: only the difference between its two headers counts.
    const serverNow = Date.UTC(2030, 5, 1, 12, 0, 0);
    receiver.script(
      '/hook/a',
      {
        status: 429,
        headers: {
          date: new Date(serverNow).toUTCString(),
          'retry-after': new Date(serverNow + 3000).toUTCString(),
        },
      },
      { status: 202 },
    );
    await sender().post(url, card);
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 3000]);
  });

  it('a 429 pauses every queued post to that URL, not just the throttled one', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', { status: 429, headers: { 'retry-after': '5' } });
    const s = sender();
    await Promise.all([s.post(url, { n: 1 }), s.post(url, { n: 2 }), s.post(url, { n: 3 })]);
    const times = receiver.at('/hook/a');
    expect(times).toHaveLength(4);
    expect(times[0]).toBe(T0);
    // The second post had its slot at +250 but had to wait out the pause.
    for (const t of times.slice(1)) expect(t).toBeGreaterThanOrEqual(T0 + 5000);
  });

  it('retries a 500 with backoff, then succeeds', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', { status: 500 }, { status: 503 }, { status: 202 });
    const delivery = await sender({ baseDelayMs: 1000, maxDelayMs: 5000 }).post(url, card);
    expect(delivery.attempts).toBe(3);
    // Equal jitter with random 0.5: 3/4 of 1000, then of 2000.
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 750, T0 + 750 + 1500]);
    expect(lines).toHaveLength(2);
    expectNoSecret(lines, url);
  });

  it('paces retries like any other post: a backoff shorter than the spacing still waits for the slot', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', { status: 500 }, { status: 202 });
    await sender({ baseDelayMs: 100 }).post(url, card);
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 250]);
  });

  it('gives up on a 5xx after the retry limit with CHANNEL.UNAVAILABLE', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', ...Array.from({ length: 4 }, () => ({ status: 502 })));
    const e = await failure(sender().post(url, card, { label: 'bank-b Teams' }));
    expect(e.code).toBe('CHANNEL.UNAVAILABLE');
    expect(e.transient).toBe(true);
    expect(e.attempts).toBe(4);
    expect(e.status).toBe(502);
    expect(e.message).toContain('bank-b Teams');
    expect(receiver.at('/hook/a')).toHaveLength(4);
  });

  it('a dead URL (connection refused) ends CHANNEL.UNREACHABLE after the retry limit, with backoff', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const url = `http://127.0.0.1:${port}/workflows/abc/triggers/manual/paths/invoke?sig=DeadSig`;

    const e = await failure(
      sender({ maxAttempts: 3, random: () => 0, baseDelayMs: 1000, maxDelayMs: 5000 }).post(url, card),
    );
    expect(e.code).toBe('CHANNEL.UNREACHABLE');
    expect(e.transient).toBe(true);
    expect(e.attempts).toBe(3);
    expect(e.serviceCode).toBe('ECONNREFUSED');
    // Waits of half the ceiling each (random 0): 500 then 1000.
    expect(time.now() - T0).toBe(1500);
    expectNoSecret([e.message, JSON.stringify(e), String(e.stack), ...lines], url);
  });

  it('404 and 410 end CHANNEL.DEAD at once; other 4xx end CHANNEL.REJECTED at once', async () => {
    const url = receiver.url('/hook/gone');
    receiver.script('/hook/gone', { status: 404 }, { status: 410 });
    const s = sender();
    const dead = await failure(s.post(url, card));
    expect(dead).toMatchObject({ code: 'CHANNEL.DEAD', attempts: 1, status: 404, transient: false });
    expect((await failure(s.post(url, card))).code).toBe('CHANNEL.DEAD');

    const bad = receiver.url('/hook/bad');
    receiver.script('/hook/bad', {
      status: 400,
      headers: { 'content-type': 'application/json' },
      // A service message that quotes the address must not leak through.
      body: JSON.stringify({ error: { code: 'InvalidRequestContent', message: `Bad body for ${bad}` } }),
    });
    const rejected = await failure(s.post(bad, card));
    expect(rejected).toMatchObject({
      code: 'CHANNEL.REJECTED',
      attempts: 1,
      status: 400,
      serviceCode: 'InvalidRequestContent',
      transient: false,
    });
    expect(receiver.at('/hook/bad')).toHaveLength(1);
    expectNoSecret([dead.message, rejected.message, JSON.stringify(rejected), ...lines], bad);
    expectNoSecret([dead.message], url);
  });

  it('a Retry-After longer than it waits in-process fails at once as CHANNEL.RATE_LIMITED', async () => {
    const url = receiver.url('/hook/a');
    receiver.script('/hook/a', { status: 429, headers: { 'retry-after': '3600' } });
    const e = await failure(sender({ maxRetryAfterMs: 60_000 }).post(url, card));
    expect(e).toMatchObject({ code: 'CHANNEL.RATE_LIMITED', attempts: 1, retryAfterMs: 3_600_000 });
    expect(e.transient).toBe(true);
  });

  it('still throttled after the last attempt: CHANNEL.RATE_LIMITED with the wait', async () => {
    const url = receiver.url('/hook/a');
    receiver.script(
      '/hook/a',
      ...Array.from({ length: 2 }, () => ({ status: 429, headers: { 'retry-after': '1' } })),
    );
    const e = await failure(sender({ maxAttempts: 2 }).post(url, card));
    expect(e).toMatchObject({ code: 'CHANNEL.RATE_LIMITED', attempts: 2, retryAfterMs: 1000 });
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 1000]);
  });

  it('keeps each URL at or under 4 posts a second, and two URLs do not wait for each other', async () => {
    const a = receiver.url('/hook/a');
    const b = receiver.url('/hook/b', 'OtherSig');
    const s = sender();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => s.post(a, { n: i })),
      ...Array.from({ length: 3 }, (_, i) => s.post(b, { n: i })),
    ]);
    const ta = receiver.at('/hook/a');
    const tb = receiver.at('/hook/b');
    expect(ta).toHaveLength(10);
    for (let i = 1; i < ta.length; i++) expect(ta[i]! - ta[i - 1]!).toBeGreaterThanOrEqual(250);
    for (const t of ta) expect(ta.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(4);
    // Posts to b are paced on their own: they did not queue behind a's ten.
    expect(tb).toEqual([T0, T0 + 250, T0 + 500]);
    // In order of the calls (each URL's queue is first come, first served).
    expect(
      receiver.arrivals.filter((x) => x.path === '/hook/a').map((x) => (x.body as { n: number }).n),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a throttled URL does not hold up another URL', async () => {
    const a = receiver.url('/hook/a');
    const b = receiver.url('/hook/b', 'OtherSig');
    receiver.script('/hook/a', { status: 429, headers: { 'retry-after': '30' } });
    const s = sender();
    await Promise.all([s.post(a, card), s.post(b, card), s.post(b, card)]);
    expect(receiver.at('/hook/b')).toEqual([T0, T0 + 250]);
    expect(receiver.at('/hook/a')).toEqual([T0, T0 + 30_000]);
  });

  it('refuses URLs that are not https (except loopback) or not URLs at all, without sending', async () => {
    const s = sender();
    const cleartext = 'http://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual?sig=Plain';
    const e = await failure(s.post(cleartext, card));
    expect(e).toMatchObject({ code: 'CHANNEL.INVALID', attempts: 0, transient: false });
    expectNoSecret([e.message], cleartext);
    expect((await failure(s.post('not a url sig=NoUrl', card))).code).toBe('CHANNEL.INVALID');
    expect(receiver.arrivals).toHaveLength(0);
  });

  it('sharedTeamsSender is one instance per process', () => {
    expect(sharedTeamsSender()).toBe(sharedTeamsSender());
  });
});

describe('maskWebhookUrl', () => {
  it('keeps scheme and host, drops path and query, fingerprints the rest', () => {
    const url =
      'https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig=AbCdEf';
    const masked = maskWebhookUrl(url);
    expect(masked).toMatch(/^https:\/\/prod-12\.westeurope\.logic\.azure\.com\/…#[0-9a-f]{8}$/);
    expect(masked).not.toContain('AbCdEf');
    expect(masked).not.toContain('workflows');
    expect(maskWebhookUrl(url)).toBe(masked);
    expect(maskWebhookUrl(url.replace('AbCdEf', 'Other'))).not.toBe(masked);
    expect(maskWebhookUrl('garbage?sig=x')).toMatch(/^webhook#[0-9a-f]{8}$/);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2', T0)).toBe(2000);
    expect(parseRetryAfter('0.5', T0)).toBe(500);
    expect(parseRetryAfter(new Date(T0 + 7000).toUTCString(), T0)).toBe(7000);
    expect(parseRetryAfter(new Date(T0 - 7000).toUTCString(), T0)).toBe(0);
    expect(parseRetryAfter(new Date(T0 + 4000).toUTCString(), 0, new Date(T0).toUTCString())).toBe(4000);
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter(null, T0)).toBeUndefined();
  });
});
