import http from 'node:http';
import { TableClient } from '@azure/data-tables';
import { json, type Json } from '../../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
  type TestBank,
  until,
} from '../../test/trustnet';

/**
 * The vote door under a burst: every vote of a unanimous ballot at once. The shared, batched reads must
 * leave each answer exact (the door that records the last vote counts them all), wake the orchestration,
 * and refuse what comes after the decision as closed, also from a member who already voted.
 */
describe('vote door under concurrent votes', () => {
  const founders = Array.from({ length: 12 }, (_, i) => `bank-${String.fromCharCode(97 + i)}`);
  let host: Awaited<ReturnType<typeof startTrustNet>>;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => new Date(host.clock.now());

  beforeAll(async () => {
    const c = await testConsortium({ policy: { kind: 'unanimous' } }, founders);
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c.file);
  });
  afterAll(() => host.stop());

  async function vote(id: string, voter: string, decision: 'approve' | 'reject' = 'approve') {
    const payload = {
      consortium: name,
      requestId: id,
      voter,
      decision,
      reason: `${voter} approves`,
      issuedAt: now().toISOString(),
    };
    return joseRequest(
      `${host.url}/api/membership-requests/${id}/votes`,
      await sign(payload, banks[voter]!.privateKey, { kid: voter }),
    );
  }

  async function decided(id: string): Promise<Json> {
    for (let i = 0; i < 400; i++) {
      const body = await json(await fetch(`${host.url}/api/membership-requests/${id}`));
      if (body.phase !== 'voting') return body;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${id} still voting`);
  }

  async function apply(applicantId: string, addressSpace: string): Promise<string> {
    const applicant = await newBank('applicant');
    const payload = applicantPayload(
      name,
      now(),
      {},
      {
        id: applicantId,
        legalName: `O=${applicantId}, L=Oslo, C=NO`,
        azure: { ...applicantPayload(name, now()).applicant.azure, addressSpace },
      },
    );
    const created = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, applicant.privateKey, { jwk: applicant.publicJwk }),
    );
    expect(created.status).toBe(202);
    return payload.requestId;
  }

  it('answers every vote of a burst with an exact tally, decides once, then refuses late and repeat votes', async () => {
    const id = await apply('bank-z', '10.80.0.0/16');

    // A repeat vote while voting is a duplicate, and is not counted twice.
    expect((await vote(id, 'bank-a')).status).toBe(202);
    const again = await vote(id, 'bank-a');
    expect(again.status).toBe(409);
    expect((await json(again)).code).toBe('VOTE.DUPLICATE');

    const answers = await Promise.all(founders.slice(1).map((v) => vote(id, v)));
    const tallies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: await json(r) })));
    expect(tallies.every((t) => t.status === 202)).toBe(true);
    const approvals = tallies.map((t) => t.body.tally.approve as number);
    // Each door counts at least its own vote and the first; the last one recorded counts all twelve.
    expect(Math.min(...approvals)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...approvals)).toBe(12);
    expect(tallies.every((t) => t.body.tally.eligible === 12 && t.body.tally.required === 12)).toBe(true);

    const done = await decided(id);
    expect(done).toMatchObject({ outcome: 'approved', tally: { approve: 12, reject: 0, eligible: 12 } });
    expect(done.votes).toHaveLength(12);

    // After the decision: a repeat vote and a second repeat at once are closed, not duplicates.
    const late = await Promise.all([vote(id, 'bank-b'), vote(id, 'bank-c')]);
    for (const r of late) {
      expect(r.status).toBe(409);
      expect((await json(r)).code).toBe('VOTE.CLOSED');
    }
    const after = await json(await fetch(`${host.url}/api/membership-requests/${id}`));
    expect(after.votes).toHaveLength(12);
  });

  it('reads back neither a ballot it created nor its votes, while no other process votes on it', async () => {
    const id = await apply('bank-w', '10.83.0.0/16');
    // The ballot's orchestration reads the request as it opens: counted from when it has.
    await until(
      'the ballot to open',
      () => host.durable.getState(id),
      (s) => Boolean(s?.state.customStatus),
    );
    const storage = new URL(/TableEndpoint=([^;]+)/.exec(process.env['AzureWebJobsStorage']!)![1]!).port;
    const reads: string[] = [];
    const request = http.request;
    const spy = jest.spyOn(http, 'request').mockImplementation(function (this: unknown, ...args: unknown[]) {
      const o = args[0] as { port?: string | number; method?: string; path?: string };
      if (String(o.port) === storage && (o.method ?? 'GET') === 'GET') reads.push(String(o.path));
      return (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    });
    try {
      for (const voter of ['bank-a', 'bank-b']) expect((await vote(id, voter)).status).toBe(202);
    } finally {
      spy.mockRestore();
    }
    // The door read its voters (members), not the request nor the votes on it (other ballots' work, such
    // as the first test's provisioning, may read theirs meanwhile).
    expect(reads.filter((path) => /Requests|Votes/.test(path) && path.includes(id))).toEqual([]);
    expect(reads.length).toBeGreaterThan(0);
  });

  it('takes votes on a ballot opened without guard rows (by the code before them), and none after it closed', async () => {
    const id = await apply('bank-x', '10.82.0.0/16');
    // As a ballot opened before guard rows existed: its vote partition holds none.
    const votes = TableClient.fromConnectionString(
      process.env['AzureWebJobsStorage']!,
      `${process.env['TRUSTNET_TASK_HUB']}Votes`,
      { allowInsecureConnection: true },
    );
    for (const rowKey of ['~opened', '~open']) await votes.deleteEntity(id, rowKey);
    expect((await vote(id, 'bank-a')).status).toBe(202);
    // Unanimous: one rejection decides.
    expect((await vote(id, 'bank-b', 'reject')).status).toBe(202);
    expect(await decided(id)).toMatchObject({ outcome: 'rejected', tally: { approve: 1, reject: 1 } });
    const late = await vote(id, 'bank-c');
    expect(late.status).toBe(409);
    expect((await json(late)).code).toBe('VOTE.CLOSED');
    // Closing left the ballot unable to open again.
    await expect(votes.getEntity(id, '~opened')).resolves.toBeDefined();
    await expect(votes.getEntity(id, '~open')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses as closed a late vote that a recent phase let through to the write, and keeps no row of it', async () => {
    const id = await apply('bank-y', '10.81.0.0/16');
    expect((await vote(id, 'bank-a')).status).toBe(202);
    // Unanimous: one rejection decides.
    expect((await vote(id, 'bank-b', 'reject')).status).toBe(202);
    expect(await decided(id)).toMatchObject({ outcome: 'rejected', tally: { approve: 1, reject: 1 } });
    // The door saw the ballot voting and does not read its phase again before a write: both late votes
    // reach the write, where the ballot's guard row is gone, so the write refuses both, bank-a's repeat as
    // closed too (closed comes before duplicate).
    for (const late of await Promise.all([vote(id, 'bank-a'), vote(id, 'bank-c')])) {
      expect(late.status).toBe(409);
      // The refused write read the phase afresh, to name it.
      expect(await json(late)).toMatchObject({
        code: 'VOTE.CLOSED',
        detail: expect.stringContaining('(rejected)'),
      });
    }
    const after = await json(await fetch(`${host.url}/api/membership-requests/${id}`));
    expect(after.votes.map((v: Json) => v.voter)).toEqual(['bank-a', 'bank-b']);
  });
});
