import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, REPO_ROOT, startTestHost } from '../test/http';

describe('GET /api/health', () => {
  const saved = process.env['AzureWebJobsStorage'];
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

  it('answers 503 problem-free JSON naming the failure when storage does not answer', async () => {
    process.env['AzureWebJobsStorage'] =
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=' +
      Buffer.from('k').toString('base64') +
      ';TableEndpoint=http://127.0.0.1:9/devstoreaccount1;';
    const host = await startTestHost({ appDir: REPO_ROOT, loadLocalSettings: false });
    try {
      const res = await fetch(`${host.url}/api/health`);
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body).toMatchObject({ status: 'degraded', backends: { storage: { reachable: false } } });
      expect(body.backends.storage.error).toBeTruthy();
      expect(JSON.stringify(body)).not.toContain('AccountKey');
    } finally {
      await host.stop();
    }
  });

  it('answers 503 problem+json when storage is not configured at all', async () => {
    delete process.env['AzureWebJobsStorage'];
    const host = await startTestHost({ appDir: REPO_ROOT, loadLocalSettings: false });
    try {
      const res = await fetch(`${host.url}/api/health`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await json(res)).toMatchObject({ code: 'CONFIG.MISSING' });
    } finally {
      await host.stop();
    }
  });
});
