import { RestError, TableClient } from '@azure/data-tables';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { verifyChain, type AuditDraft, type AuditEntry } from '../core/audit';
import { AuditError, AuditLog, decodeContinuation, encodeContinuation, rowKeyOf } from './audit-log';

const connectionString = () => process.env['AzureWebJobsStorage']!;

function freshClient(): TableClient {
  const name = `audit${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  return TableClient.fromConnectionString(connectionString(), name, { allowInsecureConnection: true });
}

let tick = 0;
const clock = () => new Date(Date.UTC(2025, 0, 1) + tick++ * 1000);

function note(i: number): Omit<AuditDraft, 'at'> {
  return {
    kind: 'member.status-changed',
    subject: `bank-${i}`,
    actor: 'platform',
    data: { memberId: `bank-${i}`, from: 'active', to: 'suspended', cause: `test ${i}` },
  };
}

async function listAll(log: AuditLog): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<AuditLog['list']>> = await log.list({ continuation, limit: 20 });
    out.push(...page.items);
    continuation = page.continuation;
  } while (continuation);
  return out;
}

/** The client with some of its calls replaced. */
function intercept(
  client: TableClient,
  overrides: Partial<Record<'createEntity' | 'updateEntity' | 'submitTransaction' | 'listEntities', unknown>>,
) {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as keyof typeof overrides];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('AuditLog', () => {
  it('starts empty, creating its table on first use', async () => {
    const log = new AuditLog(freshClient());
    await expect(log.head()).resolves.toBeUndefined();
    await expect(log.list({})).resolves.toEqual({ items: [], continuation: null });
  });

  it('appends a chain that reads back equal and verifies', async () => {
    const log = new AuditLog(freshClient());
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const appended: AuditEntry[] = [];
    appended.push(
      await log.append(
        {
          kind: 'member.seeded',
          subject: 'bank-a',
          actor: 'config',
          data: { memberId: 'bank-a', legalName: 'Bank A', governanceKey: jwk },
        },
        clock,
      ),
    );
    const vote = await new CompactSign(
      new TextEncoder().encode(JSON.stringify({ requestId: 'r-1', voter: 'bank-a', decision: 'approve' })),
    )
      .setProtectedHeader({ alg: 'ES256', kid: 'bank-a' })
      .sign(privateKey);
    appended.push(
      await log.append(
        {
          kind: 'vote.accepted',
          subject: 'r-1',
          actor: 'bank-a',
          jws: vote,
          data: { subjectId: 'r-1', voter: 'bank-a', decision: 'approve' },
        },
        clock,
      ),
    );
    expect(appended.map((e) => e.seq)).toEqual([0, 1]);
    expect(appended[1]!.prev).toBe(appended[0]!.hash);
    const { items, continuation } = await log.list({});
    expect(continuation).toBeNull();
    expect(items).toEqual(appended);
    await expect(log.head()).resolves.toEqual(appended[1]);
    await expect(verifyChain(items)).resolves.toEqual({ ok: true, entries: 2 });
  });

  it('splits data and jws longer than a table property can hold', async () => {
    const client = freshClient();
    const log = new AuditLog(client);
    const long = 'x'.repeat(29_999) + '😀'.repeat(10_000) + 'é'.repeat(1000);
    const entry = await log.append(
      {
        kind: 'request.decided',
        subject: 'r-1',
        actor: 'platform',
        jws: 'a.b.c'.repeat(20_000),
        data: { long },
      },
      clock,
    );
    const row = await client.getEntity<Record<string, unknown>>('entry', rowKeyOf(0));
    expect(row['DataParts']).toBe(6);
    expect(row['JwsParts']).toBe(4);
    expect((row['Data0'] as string).length).toBeLessThanOrEqual(30_000);
    // Non-ASCII is stored escaped, so no table service can split a multi-byte character.
    expect(row['Data1']).toMatch(/^[\x20-\x7e]*$/);
    const [stored] = (await log.list({})).items;
    expect(stored).toEqual(entry);
    expect(stored!.data['long']).toBe(long);
    // The hash still matches; only the stand-in jws is not a real one.
    await expect(verifyChain([stored!])).resolves.toMatchObject({
      firstBroken: { seq: 0, reason: 'jws is not a compact JWS' },
    });
  });

  it('refuses an entry larger than a table row can hold', async () => {
    const log = new AuditLog(freshClient());
    const draft = { ...note(0), data: { big: 'x'.repeat(500_000) } };
    await expect(log.append(draft, clock)).rejects.toMatchObject({ code: 'AUDIT.TOO_LARGE' });
    await expect(log.head()).resolves.toBeUndefined();
  });

  it('pages in seq order with opaque continuations, and starts after a given seq', async () => {
    const log = new AuditLog(freshClient());
    for (let i = 0; i < 7; i++) await log.append(note(i), clock);
    const first = await log.list({ limit: 3 });
    expect(first.items.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(first.continuation).toBe(encodeContinuation(3));
    const second = await log.list({ limit: 3, continuation: first.continuation });
    expect(second.items.map((e) => e.seq)).toEqual([3, 4, 5]);
    const third = await log.list({ limit: 3, continuation: second.continuation });
    expect(third).toEqual({ items: [expect.objectContaining({ seq: 6 })], continuation: null });
    expect((await log.list({ after: 4 })).items.map((e) => e.seq)).toEqual([5, 6]);
    expect((await log.list({ after: 6 })).items).toEqual([]);
    expect((await log.list({ limit: 7 })).continuation).toBeNull();
    await expect(log.list({ continuation: 'bm90LWEtbnVtYmVy' })).rejects.toMatchObject({
      code: 'AUDIT.BAD_PAGE',
    });
    await expect(log.list({ after: 1.5 })).rejects.toMatchObject({ code: 'AUDIT.BAD_PAGE' });
    expect(decodeContinuation(encodeContinuation(123))).toBe(123);
  });

  it('keeps one chain under 50 concurrent appends', async () => {
    const log = new AuditLog(freshClient());
    const appended = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(note(i), clock)));
    expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const listed = await listAll(log);
    expect(listed.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(new Set(listed.map((e) => e.subject)).size).toBe(50);
    await expect(verifyChain(listed)).resolves.toEqual({ ok: true, entries: 50 });
    await expect(log.head()).resolves.toEqual(listed[49]);
  }, 60_000);

  it('keeps one chain when several processes (clients) append at once', async () => {
    const name = freshClient().tableName;
    const client = () =>
      TableClient.fromConnectionString(connectionString(), name, { allowInsecureConnection: true });
    const logs = Array.from({ length: 5 }, () => new AuditLog(client()));
    await Promise.all(
      logs.flatMap((log, w) => Array.from({ length: 6 }, (_, i) => log.append(note(w * 10 + i), clock))),
    );
    const listed = await listAll(logs[0]!);
    expect(listed).toHaveLength(30);
    await expect(verifyChain(listed)).resolves.toEqual({ ok: true, entries: 30 });
  }, 60_000);

  it('goes on past a writer that stopped between its entry and the head', async () => {
    const client = freshClient();
    const log = new AuditLog(client);
    await log.append(note(0), clock);
    const crashing = new AuditLog(
      intercept(client, {
        updateEntity: () => Promise.reject(new Error('process killed')),
      }),
    );
    await expect(crashing.append(note(1), clock)).rejects.toMatchObject({ code: 'AUDIT.STORAGE' });
    const third = await log.append(note(2), clock);
    expect(third.seq).toBe(2);
    const listed = await listAll(log);
    expect(listed.map((e) => e.subject)).toEqual(['bank-0', 'bank-1', 'bank-2']);
    await expect(verifyChain(listed)).resolves.toMatchObject({ ok: true, entries: 3 });
  });

  it('does not append twice when a create that succeeded is retried and meets its own row', async () => {
    const client = freshClient();
    const createEntity = client.createEntity.bind(client);
    const log = new AuditLog(
      intercept(client, {
        // The row is written, but the answer is lost and the SDK's retry finds the row there.
        createEntity: async (row: { partitionKey: string }) => {
          await createEntity(row as never);
          if (row.partitionKey === 'entry') throw new RestError('EntityAlreadyExists', { statusCode: 409 });
        },
      }),
    );
    const first = await log.append(note(0), clock);
    const second = await log.append(note(1), clock);
    expect([first.seq, second.seq]).toEqual([0, 1]);
    const listed = await listAll(log);
    expect(listed.map((e) => e.subject)).toEqual(['bank-0', 'bank-1']);
    await expect(log.head()).resolves.toEqual(second);
  });

  it('writes appends made in one turn of the event loop in one transaction, and moves the head once after', async () => {
    const client = freshClient();
    const calls = { creates: 0, transactions: 0, headWrites: 0 };
    const createEntity = client.createEntity.bind(client);
    const updateEntity = client.updateEntity.bind(client);
    // Transactions are counted as they leave, however they are built.
    client.pipeline.addPolicy({
      name: 'countTransactions',
      sendRequest: (request, next) => {
        if (new URL(request.url).pathname.endsWith('/$batch')) calls.transactions++;
        return next(request);
      },
    });
    const log = new AuditLog(
      intercept(client, {
        createEntity: (row: { partitionKey: string }) => {
          if (row.partitionKey === 'entry') calls.creates++;
          else calls.headWrites++;
          return createEntity(row as never);
        },
        updateEntity: (...args: never[]) => (
          calls.headWrites++,
          (updateEntity as (...a: never[]) => unknown)(...args)
        ),
      }),
    );
    const appended = await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(note(i), clock)));
    expect(appended.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(calls).toEqual({ creates: 0, transactions: 1, headWrites: 1 });
    await expect(log.head()).resolves.toEqual(appended[9]);
    // Later groups reuse the head's ETag from this process's own move: one write each, no read.
    await log.append(note(10), clock);
    await log.append(note(11), clock);
    // The head row follows after `headDelayMs` (100 by default).
    for (let i = 0; i < 100 && (await client.getEntity<{ Seq: number }>('head', 'head')).Seq !== 11; i++)
      await new Promise((r) => setTimeout(r, 10));
    const head = await client.getEntity<{ Seq: number }>('head', 'head');
    expect(head.Seq).toBe(11);
    expect(calls.headWrites).toBeLessThanOrEqual(3);
  });

  it('lets the head lag behind its own entries, and a writer elsewhere catches up over them in one round', async () => {
    const client = freshClient();
    // This process moves its head only after a long delay: it stays at the first entry.
    const lagging = new AuditLog(client, { headDelayMs: 60_000 });
    for (let i = 0; i < 12; i++) await lagging.append(note(i), clock);
    expect((await client.getEntity<{ Seq: number }>('head', 'head')).Seq).toBe(0);
    const calls = { creates: 0, lists: 0 };
    const createEntity = client.createEntity.bind(client);
    const listEntities = client.listEntities.bind(client);
    const other = new AuditLog(
      intercept(client, {
        createEntity: (row: { partitionKey: string }) => {
          if (row.partitionKey === 'entry') calls.creates++;
          return createEntity(row as never);
        },
        listEntities: (...args: never[]) => (
          calls.lists++,
          (listEntities as (...a: never[]) => unknown)(...args)
        ),
      }),
    );
    const entry = await other.append(note(12), clock);
    expect(entry.seq).toBe(12);
    // One create meets row 1, one listing finds the newest row (11), the next create lands after it.
    expect(calls).toEqual({ creates: 2, lists: 1 });
    expect((await client.getEntity<{ Seq: number }>('head', 'head')).Seq).toBe(12);
    const listed = await listAll(other);
    expect(listed).toHaveLength(13);
    await expect(verifyChain(listed)).resolves.toEqual({ ok: true, entries: 13 });
  });

  it('finds the newest entry even when the head row lags behind', async () => {
    const client = freshClient();
    const noHeadMoves = intercept(client, {
      updateEntity: () => Promise.reject(new RestError('precondition failed', { statusCode: 412 })),
    });
    const log = new AuditLog(noHeadMoves);
    await log.append(note(0), clock);
    await log.append(note(1), clock); // writes row 1, but the head stays at 0
    await expect(log.head()).resolves.toMatchObject({ seq: 1, subject: 'bank-1' });
  });

  it('gives up with AUDIT.CONTENDED when every attempt finds its seq taken', async () => {
    const client = freshClient();
    const rival = new AuditLog(client);
    const createEntity = client.createEntity.bind(client);
    const unlucky = new AuditLog(
      intercept(client, {
        // A rival append always lands just before this writer's entry row.
        createEntity: async (row: { partitionKey: string }) => {
          if (row.partitionKey === 'entry') await rival.append(note(99), clock);
          return createEntity(row as never);
        },
      }),
      { maxAttempts: 3 },
    );
    const failure = await unlucky.append(note(1), clock).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AuditError);
    expect(failure).toMatchObject({ code: 'AUDIT.CONTENDED' });
    const listed = await listAll(rival);
    expect(listed).toHaveLength(3);
    await expect(verifyChain(listed)).resolves.toMatchObject({ ok: true });
  });

  it('reports storage failures with the status code and without the connection string', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const cs = connectionString().replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`);
    expect(cs).toContain(wrongKey);
    const log = new AuditLog(
      TableClient.fromConnectionString(cs, freshClient().tableName, { allowInsecureConnection: true }),
    );
    const failure = (await log.append(note(0), clock).catch((e: unknown) => e)) as AuditError;
    expect(failure).toBeInstanceOf(AuditError);
    expect(failure.code).toBe('AUDIT.STORAGE');
    expect(failure.statusCode).toBe(403);
    expect(failure.message).toMatch(/HTTP 403/);
    expect(failure.message).not.toContain(wrongKey);
    expect(failure.message).not.toMatch(/AccountKey|AccountName|devstoreaccount1|127\.0\.0\.1/);
  });

  it('reports an unreachable service as AUDIT.STORAGE', async () => {
    const cs = connectionString().replace(
      /TableEndpoint=[^;]+/,
      'TableEndpoint=http://127.0.0.1:1/devstoreaccount1',
    );
    const log = new AuditLog(
      TableClient.fromConnectionString(cs, freshClient().tableName, {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      }),
    );
    const failure = (await log.list({}).catch((e: unknown) => e)) as AuditError;
    expect(failure).toMatchObject({ code: 'AUDIT.STORAGE' });
    expect(failure.message).not.toMatch(/AccountKey/);
  });
});
