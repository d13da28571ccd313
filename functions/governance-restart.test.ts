import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { startCli } from '../test/cli';
import { json } from '../test/http';
import { applicantPayload, joseRequest, newBank, sign, testConsortium, until } from '../test/trustnet';

describe('a host killed in the middle of voting', () => {
  it('keeps the ballot: votes before and after the restart decide it, and the audit log still verifies', async () => {
    const c = await testConsortium();
    const env = {
      TRUSTNET_CONSORTIUM_FILE: c.file,
      TRUSTNET_TASK_HUB: `R${randomUUID().replace(/-/g, '').slice(0, 16)}`,
    };
    let first: ChildProcess | undefined;
    let second: ChildProcess | undefined;
    try {
      const a = await startCli(['--port', '0'], env);
      first = a.child;
      const key = await newBank('applicant');
      const payload = applicantPayload(c.config.name, new Date());
      expect(
        (
          await joseRequest(
            `${a.url}/api/membership-requests`,
            await sign(payload, key.privateKey, { jwk: key.publicJwk }),
          )
        ).status,
      ).toBe(202);
      const vote = async (url: string, voter: string) =>
        joseRequest(
          `${url}/api/membership-requests/${payload.requestId}/votes`,
          await sign(
            {
              consortium: c.config.name,
              requestId: payload.requestId,
              voter,
              decision: 'approve',
              reason: 'ok',
              issuedAt: new Date().toISOString(),
            },
            c.banks[voter]!.privateKey,
            { kid: voter },
          ),
        );
      expect((await vote(a.url, 'bank-a')).status).toBe(202);
      first.kill('SIGKILL');

      const b = await startCli(['--port', '0'], env);
      second = b.child;
      const mid = await json(await fetch(`${b.url}/api/membership-requests/${payload.requestId}`));
      expect(mid).toMatchObject({ phase: 'voting', tally: { approve: 1 } });
      expect((await vote(b.url, 'bank-a')).status).toBe(409);
      expect((await vote(b.url, 'bank-b')).status).toBe(202);
      const done = await until(
        'the vote to be decided',
        async () => json(await fetch(`${b.url}/api/membership-requests/${payload.requestId}`)),
        (r) => r.phase !== 'voting',
      );
      // Approved; onboarding may already have moved the phase on (provisioning, or failed: this
      // applicant never prepared a resource group in the local cloud).
      expect(done).toMatchObject({ outcome: 'approved', tally: { approve: 2, eligible: 3 } });
      expect(['approved', 'provisioning', 'failed']).toContain(done.phase);
      const { verifyChain } = await import('../core/audit');
      const audit = await json(await fetch(`${b.url}/api/audit?limit=1000`));
      expect(await verifyChain(audit.items)).toMatchObject({ ok: true });
      expect(audit.items.filter((e: { kind: string }) => e.kind === 'member.seeded')).toHaveLength(3);
    } finally {
      first?.kill('SIGKILL');
      second?.kill('SIGKILL');
    }
  });
});
