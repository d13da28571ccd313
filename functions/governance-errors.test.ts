import { randomUUID } from 'node:crypto';
import { CompactSign } from 'jose';
import { json, type Json } from '../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
  type TestBank,
} from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

/** Every error code of the governance contract, and the order in which checks answer. */
describe('governance errors: codes and check order', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  let openId: string;
  const now = () => new Date(host.clock.now());

  beforeAll(async () => {
    const c = await testConsortium();
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c);
    const { payload, res } = await host.apply({}, {}, await newBank('open'));
    expect(res.status).toBe(202);
    openId = payload.requestId;
  });
  afterAll(async () => {
    delete process.env['TRUSTNET_MAX_OPEN_REQUESTS'];
    await host.stop();
  });

  async function problem(res: Response, status: number, code: string): Promise<Json> {
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await json(res);
    expect({ status: res.status, code: body.code }).toEqual({ status, code });
    expect(body.detail).toBeTruthy();
    return body;
  }

  const votePayload = (voter: string, extra: Record<string, unknown> = {}) => ({
    consortium: name,
    requestId: openId,
    voter,
    decision: 'approve',
    reason: 'fine',
    issuedAt: now().toISOString(),
    ...extra,
  });
  const voteUrl = (id = openId) => `${host.url}/api/membership-requests/${id}/votes`;

  const request = async (applicant: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) =>
    (await host.apply(applicant, overrides, await newBank('x'))).res;
  const azure = (addressSpace: string) => ({
    tenantId: randomUUID(),
    subscriptionId: randomUUID(),
    resourceGroup: 'rg-x',
    region: 'uksouth',
    addressSpace,
  });

  it('415 for a body that is not application/jose (before anything else)', async () => {
    const res = await fetch(voteUrl('nope'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    await problem(res, 415, 'MEDIA.UNSUPPORTED');
  });

  it('401 JWS.INVALID for malformed JWS, a wrong algorithm or a missing key reference', async () => {
    await problem(await joseRequest(voteUrl(), 'not.a-jws'), 401, 'JWS.INVALID');
    const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'bank-a' })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`;
    await problem(await joseRequest(voteUrl(), hs), 401, 'JWS.INVALID');
    const noKid = await new CompactSign(new TextEncoder().encode(JSON.stringify(votePayload('bank-a'))))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(banks['bank-a']!.privateKey);
    await problem(await joseRequest(voteUrl(), noKid), 401, 'JWS.INVALID');
    const noJwk = await sign(applicantPayload(name, now()), banks['bank-a']!.privateKey, { kid: 'bank-a' });
    await problem(await joseRequest(`${host.url}/api/membership-requests`, noJwk), 401, 'JWS.INVALID');
  });

  it('401 JWS.SIGNATURE for a vote signed with another key, even on an unknown request (401 before 404)', async () => {
    const stranger = await newBank('s');
    await problem(
      await joseRequest(
        voteUrl(randomUUID()),
        await sign(votePayload('bank-a'), stranger.privateKey, { kid: 'bank-a' }),
      ),
      401,
      'JWS.SIGNATURE',
    );
    const good = await sign(votePayload('bank-a'), banks['bank-a']!.privateKey, { kid: 'bank-a' });
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(votePayload('bank-a', { decision: 'reject' }))).toString('base64url')}.${s}`;
    await problem(await joseRequest(voteUrl(), forged), 401, 'JWS.SIGNATURE');
  });

  it('404 for unknown requests, proposals and members, before schema checks', async () => {
    const bad = await sign({ nonsense: true }, banks['bank-a']!.privateKey, { kid: 'bank-a' });
    await problem(await joseRequest(voteUrl(randomUUID()), bad), 404, 'REQUEST.NOT_FOUND');
    await problem(
      await joseRequest(`${host.url}/api/proposals/${randomUUID()}/votes`, bad),
      404,
      'PROPOSAL.NOT_FOUND',
    );
    await problem(
      await joseRequest(`${host.url}/api/members/bank-zz/proposals`, bad),
      404,
      'MEMBER.NOT_FOUND',
    );
    await problem(
      await fetch(`${host.url}/api/membership-requests/${randomUUID()}`),
      404,
      'REQUEST.NOT_FOUND',
    );
  });

  it('400 SCHEMA.INVALID lists every failing field by JSON pointer', async () => {
    const body = await problem(
      await joseRequest(
        voteUrl(),
        await sign(
          { consortium: name, requestId: 'x', voter: 'bank-a', decision: 'maybe', extra: 1 },
          banks['bank-a']!.privateKey,
          { kid: 'bank-a' },
        ),
      ),
      400,
      'SCHEMA.INVALID',
    );
    const pointers = body.errors.map((e: Json) => e.pointer).sort();
    expect(pointers).toEqual(['/decision', '/extra', '/issuedAt', '/reason', '/requestId']);
    const req = await problem(
      await request({ legalName: 'Bank without attributes', contacts: { email: ['not-an-email'] } }),
      400,
      'SCHEMA.INVALID',
    );
    expect(req.errors.map((e: Json) => e.pointer)).toEqual(
      expect.arrayContaining(['/applicant/contacts/email/0']),
    );
    const name2 = await problem(
      await request({ legalName: 'O=Bank X, C=FR, ST=Somewhere' }),
      400,
      'SCHEMA.INVALID',
    );
    expect(name2.errors).toEqual([{ pointer: '/applicant/legalName', detail: expect.stringMatching(/L/) }]);
    const cidr = await problem(await request({ azure: azure('10.200.0.1/16') }), 400, 'SCHEMA.INVALID');
    expect(cidr.errors[0].pointer).toBe('/applicant/azure/addressSpace');
  });

  it('400 CONSORTIUM.MISMATCH, CLOCK.SKEW and PAYLOAD.MISMATCH', async () => {
    const key = banks['bank-a']!.privateKey;
    await problem(
      await joseRequest(
        voteUrl(),
        await sign(votePayload('bank-a', { consortium: 'Other Consortium' }), key, { kid: 'bank-a' }),
      ),
      400,
      'CONSORTIUM.MISMATCH',
    );
    const skewed = new Date(host.clock.now() - 10 * 60 * 1000).toISOString();
    const skew = await problem(
      await joseRequest(
        voteUrl(),
        await sign(votePayload('bank-a', { issuedAt: skewed }), key, { kid: 'bank-a' }),
      ),
      400,
      'CLOCK.SKEW',
    );
    expect(skew.detail).toMatch(/600 s behind/);
    await problem(
      await joseRequest(
        voteUrl(),
        await sign(votePayload('bank-a', { requestId: randomUUID() }), key, { kid: 'bank-a' }),
      ),
      400,
      'PAYLOAD.MISMATCH',
    );
    await problem(
      await joseRequest(voteUrl(), await sign(votePayload('bank-b'), key, { kid: 'bank-a' })),
      400,
      'PAYLOAD.MISMATCH',
    );
  });

  it('403 VOTER.NOT_MEMBER for a signer who is not a member (after the 400 checks)', async () => {
    const outsider = await newBank('bank-x');
    await problem(
      await joseRequest(voteUrl(), await sign(votePayload('bank-x'), outsider.privateKey, { kid: 'bank-x' })),
      403,
      'VOTER.NOT_MEMBER',
    );
    await problem(
      await joseRequest(
        voteUrl(),
        await sign(votePayload('bank-x', { consortium: 'Nope' }), outsider.privateKey, { kid: 'bank-x' }),
      ),
      400,
      'CONSORTIUM.MISMATCH',
    );
  });

  it('409 VOTE.DUPLICATE for a second vote, exactly once under a race', async () => {
    const jwsA = await sign(votePayload('bank-c'), banks['bank-c']!.privateKey, { kid: 'bank-c' });
    const jwsB = await sign(votePayload('bank-c', { decision: 'reject' }), banks['bank-c']!.privateKey, {
      kid: 'bank-c',
    });
    const results = await Promise.all([jwsA, jwsB, jwsA, jwsB].map((j) => joseRequest(voteUrl(), j)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409))
      expect((await json(r)).code).toBe('VOTE.DUPLICATE');
    const view = await json(await fetch(`${host.url}/api/membership-requests/${openId}`));
    expect(view.votes.filter((v: Json) => v.voter === 'bank-c')).toHaveLength(1);
  });

  it('409 ID.TAKEN, NAME.TAKEN and ADDRESS.OVERLAP against members and applicants', async () => {
    await problem(
      await request({
        id: 'bank-a',
        legalName: 'O=Other Bank, L=Madrid, C=ES',
        azure: azure('10.210.0.0/16'),
      }),
      409,
      'ID.TAKEN',
    );
    await problem(
      await request({
        id: 'bank-q',
        legalName: 'o=founder   a, L=london, C=GB',
        azure: azure('10.211.0.0/16'),
      }),
      409,
      'NAME.TAKEN',
    );
    await problem(
      await request({ id: 'bank-r', legalName: 'O=Bank R, L=Riga, C=LV', azure: azure('10.1.0.0/16') }),
      409,
      'ADDRESS.OVERLAP',
    );
    // The open request (bank-d, 10.40.0.0/16) holds its id, name and range too.
    await problem(
      await request({ id: 'bank-d', legalName: 'O=Bank D2, L=Riga, C=LV', azure: azure('10.212.0.0/16') }),
      409,
      'ID.TAKEN',
    );
    await problem(
      await request({ id: 'bank-s', legalName: 'O=Bank S, L=Riga, C=LV', azure: azure('10.40.128.0/17') }),
      409,
      'ADDRESS.OVERLAP',
    );
  });

  it('409 NAME.TAKEN for all but one of the applicants racing for one name, and nothing kept of theirs', async () => {
    const racers = await Promise.all(
      ['bank-u', 'bank-v', 'bank-w'].map(async (id, i) =>
        host.apply(
          { id, legalName: 'O=Bank Race, L=Riga, C=LV', azure: azure(`10.${214 + i}.0.0/16`) },
          {},
          await newBank(id),
        ),
      ),
    );
    const answers = await Promise.all(
      racers.map(async (r) => ({ status: r.res.status, body: await json(r.res) })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body.code).toBe('NAME.TAKEN');
    // The losers' requests were not created: neither the records nor their claims on their ids, which
    // another name may now take.
    const losers = racers.filter((_, i) => answers[i]!.status === 409);
    for (const r of losers)
      expect((await fetch(`${host.url}/api/membership-requests/${r.payload.requestId}`)).status).toBe(404);
    const again = await request({
      id: losers[0]!.payload.applicant.id,
      legalName: 'O=Bank Race Two, L=Riga, C=LV',
      azure: azure('10.217.0.0/16'),
    });
    expect(again.status).toBe(202);
  });

  it('429 REQUEST.LIMIT when the consortium has too many open requests', async () => {
    process.env['TRUSTNET_MAX_OPEN_REQUESTS'] = '1';
    const body = await problem(
      await request({ id: 'bank-t', legalName: 'O=Bank T, L=Riga, C=LV', azure: azure('10.213.0.0/16') }),
      429,
      'REQUEST.LIMIT',
    );
    expect(body.detail).toMatch(/TRUSTNET_MAX_OPEN_REQUESTS/);
  });
});
