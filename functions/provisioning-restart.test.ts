import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { deploymentName } from '../core/provisioning';
import { startCli } from '../test/cli';
import { json, type Json } from '../test/http';
import { applicantPayload, joseRequest, newBank, sign, testConsortium, until } from '../test/trustnet';

/**
 * The host is killed (SIGKILL) while the new bank's gateway is being built. A new host on the same
 * storage finishes the onboarding, and the local cloud, whose state is in the same tables, shows every
 * deployment run exactly once.
 */
describe('a host killed in the middle of provisioning', () => {
  it('finishes after a restart without deploying anything twice', async () => {
    const c = await testConsortium();
    const env = {
      TRUSTNET_CONSORTIUM_FILE: c.file,
      TRUSTNET_TASK_HUB: `P${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      // The gateway takes 2700 s × 0.002 = 5.4 s: long enough to kill the host in the middle of it.
      TRUSTNET_LOCAL_CLOUD_LATENCY: '0.002',
      TRUSTNET_POLL_INTERVAL: 'PT0.2S',
    };
    let first: ChildProcess | undefined;
    let second: ChildProcess | undefined;
    try {
      const a = await startCli(['--port', '0'], env);
      first = a.child;
      const key = await newBank('applicant');
      const payload = applicantPayload(c.config.name, new Date());
      const { azure } = payload.applicant;
      const rg = await fetch(`${a.url}/admin/cloud/resource-groups`, {
        method: 'POST',
        body: JSON.stringify({
          subscriptionId: azure.subscriptionId,
          resourceGroup: azure.resourceGroup,
          location: azure.region,
        }),
      });
      expect(rg.status).toBe(201);
      const submitted = await joseRequest(
        `${a.url}/api/membership-requests`,
        await sign(payload, key.privateKey, { jwk: key.publicJwk }),
      );
      expect(submitted.status).toBe(202);
      for (const voter of ['bank-a', 'bank-b']) {
        const vote = {
          consortium: c.config.name,
          requestId: payload.requestId,
          voter,
          decision: 'approve',
          reason: 'ok',
          issuedAt: new Date().toISOString(),
        };
        const r = await joseRequest(
          `${a.url}/api/membership-requests/${payload.requestId}/votes`,
          await sign(vote, c.banks[voter]!.privateKey, { kid: voter }),
        );
        expect(r.status).toBe(202);
      }
      const status = async (url: string): Promise<Json> =>
        json(await fetch(`${url}/api/membership-requests/${payload.requestId}`));
      const mid = await until(
        'the gateway step to run',
        () => status(a.url),
        (r) => r.steps?.find((s: Json) => s.name === 'gateway')?.state === 'running',
      );
      expect(mid.steps.find((s: Json) => s.name === 'gateway').state).toBe('running');
      first.kill('SIGKILL');

      const b = await startCli(['--port', '0'], env);
      second = b.child;
      // Generous: the new host replays every instance first, and CI machines are busy.
      const done = await until(
        'onboarding to end after the restart',
        () => status(b.url),
        (r) => r.phase === 'active' || r.phase === 'failed',
        { tries: 4800 },
      );
      // The steps in the message say where it stopped if it did.
      expect({ phase: done.phase, steps: done.steps }).toMatchObject({ phase: 'active' });

      const cloud = await json(await fetch(`${b.url}/admin/cloud/resources`));
      const mine = (part: string) =>
        cloud.deployments.find((d: Json) => d.name === deploymentName(payload.requestId, part));
      const parts = ['network', 'gateway', 'vault', 'node'];
      for (const f of ['bank-a', 'bank-b', 'bank-c']) parts.push(`cn-${f}-out`, `cn-${f}-in`);
      for (const part of parts) {
        expect(mine(part)).toBeDefined();
        expect(mine(part).runs).toHaveLength(1);
        expect(mine(part).state).toBe('Succeeded');
      }
    } finally {
      first?.kill('SIGKILL');
      second?.kill('SIGTERM');
    }
  }, 180_000);
});
