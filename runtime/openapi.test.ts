import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { json, REPO_ROOT, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';
import { OPERATIONS, openApiDocument } from './openapi';

/** Routes the app registers, as `method path` with `/api` in front, read from the running host. */
async function appRoutes(): Promise<Set<string>> {
  const host = await startTrustNet((await testConsortium()).file);
  try {
    const listed = (await json(await fetch(`${host.url}/admin/host/functions`))) as Json;
    const out = new Set<string>();
    for (const f of listed.functions ?? listed) {
      if (!f.route) continue;
      for (const m of f.methods ?? ['GET'])
        out.add(`${String(m).toLowerCase()} /${String(f.route).replace(/^\//, '')}`);
    }
    return out;
  } finally {
    await host.stop();
  }
}

describe('OpenAPI description', () => {
  it('documents every route the app serves, and no route it does not', async () => {
    const served = await appRoutes();
    const documented = new Set(OPERATIONS.map((o) => `${o.method} ${o.path}`));
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    expect(served.size).toBeGreaterThan(15);
  });

  it('documents every problem code the HTTP handlers raise', () => {
    const sources: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
          sources.push(readFileSync(p, 'utf8'));
      }
    };
    walk(join(REPO_ROOT, 'functions'));
    const raised = new Set<string>();
    for (const text of sources)
      for (const m of text.matchAll(
        /(?:badRequest|notFound|forbidden|conflict|tooMany)\(\s*'([A-Z]+\.[A-Z_]+)'/g,
      ))
        raised.add(m[1]!);
    expect(raised.size).toBeGreaterThan(10);
    const doc = JSON.stringify(openApiDocument());
    expect([...raised].filter((code) => !doc.includes(`"${code}"`))).toEqual([]);
  });

  it('is OpenAPI 3.1 whose schemas compile, with a problem response on every operation', () => {
    const doc = openApiDocument() as Json;
    expect(doc.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>))
      if (name !== 'Problem') ajv.addSchema(schema);
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>))
      if (name !== 'Problem') expect(() => ajv.getSchema(schema.$id)).not.toThrow();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>))
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        expect([path, method, Object.keys(op.responses).some((s) => Number(s) >= 400)]).toEqual([
          path,
          method,
          true,
        ]);
        for (const p of op.parameters.filter((x: Json) => x.in === 'path'))
          expect(path).toContain(`{${p.name}}`);
        if (op.requestBody)
          expect(op.requestBody.content['application/jose']['x-jws-payload'].$ref).toMatch(
            /^#\/components\/schemas\//,
          );
      }
  });

  it('is served at /api/openapi.json', async () => {
    const host = await startTrustNet((await testConsortium()).file);
    try {
      const res = await fetch(`${host.url}/api/openapi.json`);
      expect(res.status).toBe(200);
      expect((await json(res)).paths['/api/membership-requests/{id}/votes'].post.operationId).toBe(
        'membershipRequestVote',
      );
    } finally {
      await host.stop();
    }
  });
});
