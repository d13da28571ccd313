import { join } from 'node:path';
import { FIXTURES, json, startTestHost } from '../../test/http';
import type { RunningHost } from './host';

describe('local host: HTTP triggers of a plain v4 app', () => {
  let host: RunningHost & { logs: { records: { message: string }[] } };
  const hooks = () =>
    (
      globalThis as unknown as {
        __fixtureHooks: { appStart: number; pre: string[]; post: { name: string; error: string | null }[] };
      }
    ).__fixtureHooks;

  beforeAll(async () => {
    process.env['TRUSTNET_MAX_BODY_BYTES'] = '4096';
    host = await startTestHost({ appDir: join(FIXTURES, 'http-app'), loadLocalSettings: false });
  });
  afterAll(async () => {
    await host.stop();
    delete process.env['TRUSTNET_MAX_BODY_BYTES'];
  });

  it('passes route params, query, headers and the body through the library, with the /api prefix', async () => {
    const res = await fetch(`${host.url}/api/echo/42/more?a=1&b=two&a=3`, {
      method: 'POST',
      headers: { 'x-test': 'hello', 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      method: 'POST',
      params: { id: '42', rest: 'more' },
      query: { a: '1,3', b: 'two' },
      header: 'hello',
      contentType: 'application/json',
      functionName: 'echo',
    });
    expect(Buffer.from(body.bodyBase64, 'base64').toString()).toBe('{"x":1}');
    expect(body.url).toBe(`${host.url}/api/echo/42/more?a=1&b=two&a=3`);
  });

  it('leaves an optional parameter out when the segment is absent, and decodes escaped ones', async () => {
    const a = await json(await fetch(`${host.url}/api/echo/7`));
    expect(a.params).toEqual({ id: '7' });
    const b = await json(await fetch(`${host.url}/api/ECHO/a%20b/c%2Fd`));
    expect(b.params).toEqual({ id: 'a b', rest: 'c/d' });
  });

  it('applies constraints and prefers the most specific template', async () => {
    expect(await json(await fetch(`${host.url}/api/items/12`))).toEqual({ kind: 'int', n: '12' });
    expect(await json(await fetch(`${host.url}/api/items/abc`))).toEqual({ kind: 'alpha', name: 'abc' });
    expect(await json(await fetch(`${host.url}/api/items/special`))).toEqual({ kind: 'literal' });
    expect((await fetch(`${host.url}/api/items/abcdefg`)).status).toBe(404);
    expect((await fetch(`${host.url}/api/items/99999999999`)).status).toBe(404);
    const guid = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
    expect(await json(await fetch(`${host.url}/api/things/${guid}/x/y/z`))).toEqual({
      id: guid,
      path: 'x/y/z',
    });
    expect(await json(await fetch(`${host.url}/api/things/${guid}`))).toEqual({ id: guid, path: null });
    expect((await fetch(`${host.url}/api/things/not-a-guid/x`)).status).toBe(404);
    expect(await json(await fetch(`${host.url}/api/codes/ABC-12`))).toEqual({ code: 'ABC-12' });
    expect((await fetch(`${host.url}/api/codes/AB-12`)).status).toBe(404);
  });

  it('serves a function without a route at its name, for GET and POST only', async () => {
    expect(await (await fetch(`${host.url}/api/defaultRoute`)).text()).toBe('default route');
    expect((await fetch(`${host.url}/api/defaultRoute`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${host.url}/api/defaultRoute`, { method: 'PATCH' })).status).toBe(405);
  });

  it('hands malformed JSON to the handler, as Azure does, and lets it answer', async () => {
    const res = await fetch(`${host.url}/api/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"broken',
    });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: 'SyntaxError' });
    const ok = await fetch(`${host.url}/api/json`, { method: 'POST', body: '[1,2]' });
    expect(await json(ok)).toEqual({ parsed: [1, 2] });
  });

  it('round-trips text and binary bodies byte for byte', async () => {
    const text = await fetch(`${host.url}/api/text`, { method: 'POST', body: 'grüße' });
    expect(text.headers.get('content-type')).toBe('text/plain');
    expect(await text.text()).toBe('GRÜSSE');
    const bytes = Uint8Array.from([0, 255, 1, 254, 128]);
    const bin = await fetch(`${host.url}/api/binary`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect([...new Uint8Array(await bin.arrayBuffer())]).toEqual([128, 254, 1, 255, 0]);
  });

  it('writes status, headers and cookies from an HttpResponse', async () => {
    const res = await fetch(`${host.url}/api/custom`);
    expect(res.status).toBe(418);
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(await res.text()).toBe('short and stout');
    const cookies = res.headers.getSetCookie();
    expect(cookies).toContain('session=abc; Path=/; Secure; HttpOnly; SameSite=Strict');
    expect(cookies).toContain('theme=dark; Max-Age=60');
  });

  it('answers 204 when a handler returns nothing', async () => {
    const res = await fetch(`${host.url}/api/nothing`, { method: 'DELETE' });
    expect(res.status).toBe(204);
  });

  it('answers 404 and 405 as problem+json, with Allow on 405', async () => {
    const missing = await fetch(`${host.url}/api/no/such/route`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await json(missing)).toMatchObject({ status: 404, code: 'HOST.ROUTE_NOT_FOUND' });
    const outsidePrefix = await fetch(`${host.url}/echo/1`);
    expect(outsidePrefix.status).toBe(404);
    const wrong = await fetch(`${host.url}/api/echo/1`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST, PUT');
    expect(await json(wrong)).toMatchObject({ status: 405, code: 'HOST.METHOD_NOT_ALLOWED' });
  });

  it('refuses a body over TRUSTNET_MAX_BODY_BYTES with 413, declared or streamed', async () => {
    const big = await fetch(`${host.url}/api/text`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    expect(await json(big)).toMatchObject({ code: 'HOST.BODY_TOO_LARGE' });
    const chunked = await fetch(`${host.url}/api/text`, {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('y'.repeat(1000)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const fits = await fetch(`${host.url}/api/text`, { method: 'POST', body: 'z'.repeat(4096) });
    expect(fits.status).toBe(200);
  });

  it('turns a failing handler into 500 problem+json without the error text, and logs it', async () => {
    const res = await fetch(`${host.url}/api/boom`);
    expect(res.status).toBe(500);
    const body = await json(res);
    expect(body).toMatchObject({ code: 'HOST.FUNCTION_FAILED' });
    expect(JSON.stringify(body)).not.toContain('kaboom');
    expect(host.logs.records.some((r) => r.message.includes('kaboom'))).toBe(true);
  });

  it('runs appStart once and pre/post invocation hooks around every call', async () => {
    expect(hooks().appStart).toBe(1);
    await fetch(`${host.url}/api/boom`);
    expect(hooks().pre).toContain('boom');
    expect(hooks().post).toContainEqual({
      name: 'boom',
      error: 'kaboom with a detail the caller must not see',
    });
  });

  it('sends the host clock in the Date header', async () => {
    const res = await fetch(`${host.url}/api/echo/1`);
    const date = Date.parse(res.headers.get('date')!);
    expect(Math.abs(date - host.clock.now())).toBeLessThan(2000);
  });

  it('keeps authLevel in the route table and lists functions on the loopback admin API', async () => {
    const res = await fetch(`${host.url}/admin/host/functions`);
    expect(res.status).toBe(200);
    const { functions } = await json(res);
    expect(functions).toContainEqual({
      name: 'echo',
      trigger: 'httpTrigger',
      route: 'api/echo/{id}/{rest?}',
      methods: ['GET', 'POST', 'PUT'],
      authLevel: 'anonymous',
    });
  });

  it('answers 404 problem+json on /admin routes whose feature is off', async () => {
    const res = await fetch(`${host.url}/admin/host/clock`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await json(res)).detail).toMatch(/virtual clock is off/);
  });
});
