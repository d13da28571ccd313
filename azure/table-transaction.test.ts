import {
  RestError,
  TableClient,
  type TableTransactionResponse,
  type TransactionAction,
} from '@azure/data-tables';
import { createHttpHeaders, type PipelineRequest } from '@azure/core-rest-pipeline';
import { statusOf } from './tables';
import { entityJson, submitTransaction, writesOwnTransactions } from './table-transaction';

const connectionString = () => process.env['AzureWebJobsStorage']!;

function freshClient(): TableClient {
  // Fixed width: the two requests compared must have the same length (content-length).
  const name = `tx${Date.now()}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
  return TableClient.fromConnectionString(connectionString(), name, { allowInsecureConnection: true });
}

/** The $batch request a client sends for `actions`, caught before it leaves (answered with no parts). */
async function sentBody(
  send: (client: TableClient, actions: TransactionAction[]) => Promise<unknown>,
  actions: TransactionAction[],
): Promise<{ body: string; headers: Record<string, string> }> {
  let caught: PipelineRequest | undefined;
  const client = freshClient();
  // Both go through the client's pipeline; this policy answers in the service's place.
  client.pipeline.addPolicy(
    {
      name: 'catch',
      sendRequest: async (request) => {
        caught = request;
        return { request, status: 202, headers: createHttpHeaders(), bodyAsText: '' };
      },
    },
    { phase: 'Retry' },
  );
  await send(client, actions);
  const headers: Record<string, string> = {};
  for (const [k, v] of caught!.headers) headers[k] = v;
  // Boundaries, request ids, dates and signatures differ from one request to the next.
  const anon = (text: string) =>
    text.replace(/(batch|changeset)_[0-9a-f-]{36}/g, '$1_ID').replace(/\/tx\d+/g, '/TABLE');
  for (const k of ['x-ms-client-request-id', 'x-ms-date', 'authorization', 'user-agent']) delete headers[k];
  return { body: anon(String(caught!.body)), headers: JSON.parse(anon(JSON.stringify(headers))) };
}

describe('submitTransaction', () => {
  const pk = "p'q r/é#?%";
  const actions: TransactionAction[] = [
    [
      'create',
      { partitionKey: pk, rowKey: 'a', S: 'x', E: '', N: 3, D: 1.5, B: true, Z: null, T: new Date(0) },
    ],
    ['update', { partitionKey: pk, rowKey: "b'c", X: 'y' }, 'Merge', { etag: 'W/"datetime\'2026\'"' }],
    ['update', { partitionKey: pk, rowKey: 'c' }, 'Replace'],
    ['update', { partitionKey: pk, rowKey: 'c2' }],
    ['upsert', { partitionKey: pk, rowKey: 'd', U: undefined }, 'Merge'],
    ['upsert', { partitionKey: pk, rowKey: 'e' }, 'Replace'],
    ['delete', { partitionKey: pk, rowKey: 'f' }],
    ['create', { partitionKey: pk, rowKey: 'ü\u2028', Body0: '{"a":"ü\u2028\\""}' }],
  ];

  it('sends the request the SDK sends, byte for byte (ids aside)', async () => {
    const ours = await sentBody(submitTransaction, actions);
    const sdks = await sentBody((c, a) => c.submitTransaction(a), actions);
    expect(ours.body).toBe(sdks.body);
    expect(ours.headers).toEqual(sdks.headers);
  });

  it('leaves values it does not write itself to the SDK', () => {
    expect(entityJson({ partitionKey: 'p', rowKey: 'r', S: 's', N: 1 })).toBe(
      '{"PartitionKey":"p","RowKey":"r","S":"s","N":1}',
    );
    for (const odd of [BigInt(1), new Uint8Array([1]), { value: '1', type: 'Int64' }, [1]])
      expect(entityJson({ partitionKey: 'p', rowKey: 'r', odd })).toBeUndefined();
    expect(entityJson({ partitionKey: 'p', rowKey: 'r', etag: 'W/"x"' })).toBeUndefined();
  });

  it('writes what the SDK writes, and answers as it does: statuses, ETags that guard the next write', async () => {
    const client = freshClient();
    await client.createTable();
    const done = await submitTransaction(client, [
      ['create', { partitionKey: 'p', rowKey: 'guard' }],
      ['create', { partitionKey: 'p', rowKey: 'a', S: 'x', N: 3, D: 1.5, B: true, T: new Date(0) }],
    ]);
    expect(done.status).toBe(202);
    expect(done.subResponses.map((r) => r.status)).toEqual([204, 204]);
    const a = await client.getEntity<Record<string, unknown>>('p', 'a');
    expect(a).toMatchObject({ S: 'x', N: 3, D: 1.5, B: true, T: new Date(0) });
    // The ETag the transaction answers is the row's: a write made on it succeeds once, then is refused.
    const merged = await submitTransaction(client, [
      ['update', { partitionKey: 'p', rowKey: 'guard', Touched: 1 }, 'Merge'],
    ]);
    const tag = merged.subResponses[0]!.etag!;
    expect(tag).toBe((await client.getEntity('p', 'guard')).etag);
    await submitTransaction(client, [
      ['update', { partitionKey: 'p', rowKey: 'guard' }, 'Merge', { etag: tag }],
    ]);
    const stale = await submitTransaction(client, [
      ['update', { partitionKey: 'p', rowKey: 'guard' }, 'Merge', { etag: tag }],
    ]).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(RestError);
    expect(statusOf(stale)).toBe(412);
  });

  it('fails whole, with the status and service code the SDK gives', async () => {
    const client = freshClient();
    await client.createTable();
    await client.createEntity({ partitionKey: 'p', rowKey: 'taken' });
    const failing: TransactionAction[][] = [
      [
        ['create', { partitionKey: 'p', rowKey: 'new' }],
        ['create', { partitionKey: 'p', rowKey: 'taken' }],
      ],
      [['update', { partitionKey: 'p', rowKey: 'missing' }, 'Merge']],
      [
        [
          'update',
          { partitionKey: 'p', rowKey: 'taken' },
          'Replace',
          { etag: 'W/"datetime\'2000-01-01T00%3A00%3A00Z\'"' },
        ],
      ],
    ];
    for (const batch of failing) {
      const ours = (await submitTransaction(client, batch).catch((e: unknown) => e)) as RestError;
      const sdks = (await client.submitTransaction(batch).catch((e: unknown) => e)) as RestError;
      expect(ours).toBeInstanceOf(RestError);
      expect([ours.statusCode, ours.code, ours.message.split('\n')[0]]).toEqual([
        sdks.statusCode,
        sdks.code,
        sdks.message.split('\n')[0],
      ]);
    }
    // Nothing of the failed transactions was written.
    await expect(client.getEntity('p', 'new')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses plain HTTP as the SDK does, unless the client was made to allow it', async () => {
    const secure = TableClient.fromConnectionString(connectionString(), `tx${Date.now()}secure`);
    const batch: TransactionAction[] = [['create', { partitionKey: 'p', rowKey: 'r' }]];
    const ours = (await submitTransaction(secure, batch).catch((e: unknown) => e)) as Error;
    const sdks = (await secure.submitTransaction(batch).catch((e: unknown) => e)) as Error;
    expect(ours.message).toMatch(/allowInsecureConnection is false/);
    expect(ours.message).toBe(sdks.message);
  });

  it('deletes on an ETag, which the SDK cannot, failing whole when a row has changed', async () => {
    const client = freshClient();
    await client.createTable();
    const tags: string[] = [];
    for (const rowKey of ['a', 'b'])
      tags.push(String((await client.createEntity({ partitionKey: 'p', rowKey })).etag));
    await client.updateEntity({ partitionKey: 'p', rowKey: 'b', X: 'changed' }, 'Merge');
    const stale = await submitTransaction(client, [
      ['delete', { partitionKey: 'p', rowKey: 'a' }, { etag: tags[0]! }],
      ['delete', { partitionKey: 'p', rowKey: 'b' }, { etag: tags[1]! }],
    ]).catch((e: unknown) => e);
    expect(statusOf(stale)).toBe(412);
    await expect(client.getEntity('p', 'a')).resolves.toBeDefined();
    const fresh = String((await client.getEntity('p', 'b')).etag);
    const done = await submitTransaction(client, [
      ['delete', { partitionKey: 'p', rowKey: 'a' }, { etag: tags[0]! }],
      ['delete', { partitionKey: 'p', rowKey: 'b' }, { etag: fresh }],
    ]);
    expect(done.subResponses.map((r) => r.status)).toEqual([204, 204]);
    await expect(client.getEntity('p', 'a')).rejects.toMatchObject({ statusCode: 404 });
    // A client this does not write for (a SAS URL) would have the SDK delete whatever the ETag: refused.
    const sas = new TableClient(`${client.url}?sv=2019-02-02&sig=x`, client.tableName);
    expect(writesOwnTransactions(sas)).toBe(false);
    await expect(
      submitTransaction(sas, [['delete', { partitionKey: 'p', rowKey: 'a' }, { etag: tags[0]! }]]),
    ).rejects.toThrow(/SAS token/);
  });

  it('goes to the SDK for what it does not write itself, with the same result', async () => {
    const client = freshClient();
    await client.createTable();
    const done: TableTransactionResponse = await submitTransaction(client, [
      ['create', { partitionKey: 'p', rowKey: 'big', N: BigInt('9007199254740993') }],
    ]);
    expect(done.subResponses).toHaveLength(1);
    expect((await client.getEntity<{ N: bigint }>('p', 'big')).N).toBe(BigInt('9007199254740993'));
  });
});
