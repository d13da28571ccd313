import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { json, REPO_ROOT, startTestHost, type Json } from '../test/http';
import { health } from './health';
import { testConsortium } from '../test/trustnet';

describe('GET /api/health', () => {
  const saved = process.env['AzureWebJobsStorage'];
  beforeAll(async () => {
    process.env['TRUSTNET_CONSORTIUM_FILE'] = (await testConsortium()).file;
    process.env['TRUSTNET_TASK_HUB'] = 'HealthTest';
  });
  afterEach(() => {
    process.env['AzureWebJobsStorage'] = saved;
  });

  it('reports the version and the backends in use, with storage reachable', async () => {
    const host = await startTestHost({ appDir: REPO_ROOT, loadLocalSettings: false, virtualClock: true });
    try {
      const res = await fetch(`${host.url}/api/health`);
      expect(res.status).toBe(200);
      const body = await json(res);
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
      expect(body).toMatchObject({
        status: 'ok',
        version: pkg.version,
        backends: {
          host: 'trustnet-local-host',
          clock: 'virtual',
          storage: { kind: 'azurite', reachable: true },
        },
      });
      expect(Math.abs(Date.parse(body.time) - host.clock.now())).toBeLessThan(2000);
      expect(JSON.stringify(body)).not.toContain('AccountKey');
    } finally {
      await host.stop();
    }
  });

  // With storage down or unset the Functions host itself cannot start an app that uses Durable
  // Functions, so these call the handler directly, as a platform probe would reach it mid-outage.
  async function callHealth(): Promise<{ status?: number; headers?: Record<string, string>; body: Json }> {
    const res = await health(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
      new InvocationContext({ functionName: 'health' }),
    );
    const body = res.jsonBody ?? JSON.parse(String(res.body));
    return { status: res.status, headers: res.headers as Record<string, string>, body };
  }

  it('answers 503 naming the failure when storage does not answer', async () => {
    process.env['AzureWebJobsStorage'] =
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=' +
      Buffer.from('k').toString('base64') +
      ';TableEndpoint=http://127.0.0.1:9/devstoreaccount1;';
    const { status, body } = await callHealth();
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'degraded', backends: { storage: { reachable: false } } });
    expect(body.backends.storage.error).toBeTruthy();
    expect(JSON.stringify(body)).not.toContain('AccountKey');
  });

  it('answers 503 problem+json when storage is not configured at all', async () => {
    delete process.env['AzureWebJobsStorage'];
    const { status, headers, body } = await callHealth();
    expect(status).toBe(503);
    expect(headers?.['content-type']).toBe('application/problem+json');
    expect(body).toMatchObject({ code: 'CONFIG.MISSING' });
  });
});
