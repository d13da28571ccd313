import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startCli } from '../test/cli';
import { json, type Json } from '../test/http';
import { applicantPayload, joseRequest, newBank, sign, testConsortium, until } from '../test/trustnet';

/**
 * The host is killed (SIGKILL) while a Teams webhook is holding its answer to a card. The card's claim
 * stays "sending", so the new host does not post again at once; once the claim's lease (10 minutes) has
 * run out, the re-sent round posts it and the delivery completes. The one duplicate this can cause (the
 * webhook took the first post) is the documented at-least-once gap; nothing is lost.
 */
describe('a host killed while a card is being sent', () => {
  it('delivers it after a restart, once the claim of the dead send has lapsed', async () => {
    const posts: { at: number; body: string }[] = [];
    let hold = true;
    const held: ServerResponse[] = [];
    const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (!body.includes('asks to join')) return void res.writeHead(202).end();
        posts.push({ at: Date.now(), body });
        if (hold) held.push(res);
        else res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/workflows/x?sig=RESTARTSECRET`;

    const c = await testConsortium();
    const env = {
      TRUSTNET_CONSORTIUM_FILE: c.file,
      TRUSTNET_TASK_HUB: `N${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      TRUSTNET_LOCAL_CLOUD_LATENCY: '0',
      TRUSTNET_NOTIFY_SWEEP_SCHEDULE: '0 0 4 * * *',
    };
    let first: ChildProcess | undefined;
    let second: ChildProcess | undefined;
    try {
      const a = await startCli(['--port', '0', '--virtual-clock'], env);
      first = a.child;
      const now = async (url: string) =>
        new Date((await json(await fetch(`${url}/admin/host/clock`))).now as string).toISOString();
      const set = await joseRequest(
        `${a.url}/api/members/bank-a/channels`,
        await sign(
          {
            consortium: c.config.name,
            action: 'set-channels',
            subject: 'bank-a',
            actor: 'bank-a',
            channels: { email: ['ops@bank-a.example'], teamsWebhook: hook },
            issuedAt: await now(a.url),
          },
          c.banks['bank-a']!.privateKey,
          { kid: 'bank-a' },
        ),
        'PUT',
      );
      expect(set.status).toBe(200);
      const key = await newBank('applicant');
      const payload = applicantPayload(c.config.name, new Date(await now(a.url)));
      const submitted = await joseRequest(
        `${a.url}/api/membership-requests`,
        await sign(payload, key.privateKey, { jwk: key.publicJwk }),
      );
      expect(submitted.status).toBe(202);
      await until(
        'the card to be held',
        async () => held.length,
        (n) => n > 0,
      );
      expect(held).toHaveLength(1);
      first.kill('SIGKILL');
      await new Promise((r) => first!.once('exit', r));
      // The webhook answers a host that is gone; the platform never learns the card arrived.
      hold = false;
      held.splice(0).forEach((res) => res.writeHead(202).end());

      const b = await startCli(['--port', '0', '--virtual-clock'], env);
      second = b.child;
      const instance = `notify:request.received:${payload.requestId}`;
      const status = async (): Promise<Json> =>
        json(await fetch(`${b.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instance)}`));
      // The re-run send finds the dead send's claim and waits for a later round.
      await new Promise((r) => setTimeout(r, 1500));
      expect(posts).toHaveLength(1);
      expect((await status()).runtimeStatus).toBe('Running');
      // Past the claim's lease and the re-send rounds: the card goes out again and the delivery ends.
      let done: Json = await status();
      for (let i = 0; i < 40 && done.runtimeStatus !== 'Completed'; i++) {
        await fetch(`${b.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"PT5M"}' });
        for (let j = 0; j < 20 && (done = await status()).runtimeStatus !== 'Completed'; j++)
          await new Promise((r) => setTimeout(r, 25));
      }
      expect(done).toMatchObject({ runtimeStatus: 'Completed', output: { failed: 0 } });
      expect(posts).toHaveLength(2);
      expect(b.out()).not.toContain('RESTARTSECRET');
    } finally {
      first?.kill('SIGKILL');
      second?.kill('SIGTERM');
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  }, 180_000);
});
