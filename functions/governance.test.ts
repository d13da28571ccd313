import { randomUUID } from 'node:crypto';
import { json, type Json } from '../test/http';
import { joseRequest, newBank, sign, startTrustNet, testConsortium, type TestBank } from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

describe('membership governance end to end (three founders, majority)', () => {
  let host: Host;
  let banks: Record<string, TestBank>;
  let name: string;
  const now = () => host.now();

  beforeAll(async () => {
    const c = await testConsortium();
    banks = c.banks;
    name = c.config.name;
    host = await startTrustNet(c);
  });
  afterAll(() => host.stop());

  const vote = (
    id: string,
    voter: string,
    decision: 'approve' | 'reject',
    on: 'membership-requests' | 'proposals' = 'membership-requests',
  ) => host.vote(id, voter, { decision, reason: `${voter} says ${decision}` }, on);

  it('lists the founders as ACTIVE members with their public keys', async () => {
    const { items, continuation } = await json(await fetch(`${host.url}/api/members`));
    expect(items.map((m: Json) => [m.id, m.status])).toEqual([
      ['bank-a', 'ACTIVE'],
      ['bank-b', 'ACTIVE'],
      ['bank-c', 'ACTIVE'],
    ]);
    expect(items[0].governanceKey).toEqual(banks['bank-a']!.publicJwk);
    expect(continuation).toBeNull();
    expect((await json(await fetch(`${host.url}/api/members/bank-b`))).legalName).toBe(
      'O=Founder B, L=London, C=GB',
    );
    expect((await fetch(`${host.url}/api/members/bank-z`)).status).toBe(404);
  });

  it('approves a fourth bank once two of three approve, as soon as it is certain', async () => {
    const { res, payload } = await host.apply();
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(body).toEqual({
      id: payload.requestId,
      statusUrl: `${host.url}/api/membership-requests/${payload.requestId}`,
    });
    expect(res.headers.get('location')).toBe(body.statusUrl);
    const first = await vote(payload.requestId, 'bank-a', 'approve');
    expect(first.status).toBe(202);
    expect((await json(first)).tally).toEqual({ approve: 1, reject: 0, eligible: 3, required: 2 });
    expect((await vote(payload.requestId, 'bank-b', 'approve')).status).toBe(202);
    const done = await host.settled(payload.requestId);
    expect(done).toMatchObject({
      outcome: 'approved',
      tally: { approve: 2, reject: 0, eligible: 3, required: 2 },
    });
    // Onboarding starts at once (functions/provisioning.test.ts follows it); this applicant never
    // prepared a resource group, so it may already have moved on.
    expect(['approved', 'provisioning', 'failed']).toContain(done.phase);
    expect(done.votes.map((v: Json) => [v.voter, v.decision])).toEqual([
      ['bank-a', 'approve'],
      ['bank-b', 'approve'],
    ]);
    // Decided: a late vote is refused.
    const late = await vote(payload.requestId, 'bank-c', 'approve');
    expect(late.status).toBe(409);
    expect((await json(late)).code).toBe('VOTE.CLOSED');
    const listed = await json(await fetch(`${host.url}/api/membership-requests?phase=approved`));
    expect(listed.items.map((r: Json) => r.id)).toContain(payload.requestId);
  });

  it('rejects once approval can no longer be reached', async () => {
    const { payload } = await host.apply({
      id: 'bank-e',
      legalName: 'O=Bank E, L=Rome, C=IT',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-e',
        region: 'uksouth',
        addressSpace: '10.50.0.0/16',
      },
    });
    await vote(payload.requestId, 'bank-a', 'reject');
    await vote(payload.requestId, 'bank-b', 'reject');
    const done = await host.settled(payload.requestId);
    expect(done).toMatchObject({
      phase: 'rejected',
      tally: { approve: 0, reject: 2, eligible: 3, required: 2 },
    });
  });

  it('expires with no decision by the deadline (virtual clock)', async () => {
    const { payload } = await host.apply({
      id: 'bank-f',
      legalName: 'O=Bank F, L=Oslo, C=NO',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-f',
        region: 'uksouth',
        addressSpace: '10.60.0.0/16',
      },
    });
    await vote(payload.requestId, 'bank-a', 'approve');
    await new Promise((r) => setTimeout(r, 200));
    await fetch(`${host.url}/admin/host/clock`, { method: 'POST', body: '{"advance":"P8D"}' });
    const done = await host.settled(payload.requestId);
    expect(done).toMatchObject({ phase: 'expired', tally: { approve: 1 } });
  });

  it('lets the applicant withdraw with its own key, and nobody else', async () => {
    const { payload, key } = await host.apply({
      id: 'bank-g',
      legalName: 'O=Bank G, L=Vienna, C=AT',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-g',
        region: 'uksouth',
        addressSpace: '10.70.0.0/16',
      },
    });
    const action = {
      consortium: name,
      action: 'withdraw',
      subject: payload.requestId,
      actor: 'bank-g',
      issuedAt: now().toISOString(),
    };
    const stranger = await newBank('stranger');
    const refused = await joseRequest(
      `${host.url}/api/membership-requests/${payload.requestId}/withdraw`,
      await sign(action, stranger.privateKey, { jwk: stranger.publicJwk }),
    );
    expect(refused.status).toBe(403);
    const res = await joseRequest(
      `${host.url}/api/membership-requests/${payload.requestId}/withdraw`,
      await sign(action, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);
    expect((await host.settled(payload.requestId)).phase).toBe('withdrawn');
  });

  it('treats an identical resubmission as the same request, and a changed one as a conflict', async () => {
    const key = await newBank('h');
    const applicant = {
      id: 'bank-h',
      legalName: 'O=Bank H, L=Dublin, C=IE',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-h',
        region: 'uksouth',
        addressSpace: '10.80.0.0/16',
      },
    };
    const { res, payload, jws } = await host.apply(applicant, {}, key);
    expect(res.status).toBe(202);
    const again = await joseRequest(`${host.url}/api/membership-requests`, jws);
    expect(again.status).toBe(202);
    expect((await json(again)).id).toBe(payload.requestId);
    const changed = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign({ ...payload, applicant: { ...payload.applicant, profile: 'Large' } }, key.privateKey, {
        jwk: key.publicJwk,
      }),
    );
    expect(changed.status).toBe(409);
    expect((await json(changed)).code).toBe('REQUEST.CONFLICT');
    // One open request per key.
    const second = await host.apply(
      {
        id: 'bank-h2',
        legalName: 'O=Bank H Two, L=Cork, C=IE',
        azure: { ...applicant.azure, addressSpace: '10.81.0.0/16' },
      },
      {},
      key,
    );
    expect(second.res.status).toBe(429);
    expect((await json(second.res)).code).toBe('REQUEST.LIMIT');
  });

  it('suspends a member by proposal; the suspended member cannot vote, and the subject does not vote', async () => {
    const res = await host.signedAction('/api/members/bank-c/proposals', {
      action: 'suspend',
      subject: 'bank-c',
      reason: 'unpaid fees',
    });
    expect(res.status).toBe(202);
    const { id, statusUrl } = await json(res);
    expect(statusUrl).toBe(`${host.url}/api/proposals/${id}`);
    const self = await vote(id, 'bank-c', 'reject', 'proposals');
    expect(self.status).toBe(403);
    expect((await json(self)).code).toBe('VOTER.IS_SUBJECT');
    await vote(id, 'bank-a', 'approve', 'proposals');
    await vote(id, 'bank-b', 'approve', 'proposals');
    expect(await host.settled(id, 'proposals')).toMatchObject({
      phase: 'approved',
      tally: { approve: 2, eligible: 2, required: 2 },
    });
    expect((await json(await fetch(`${host.url}/api/members/bank-c`))).status).toBe('SUSPENDED');

    const { payload } = await host.apply({
      id: 'bank-i',
      legalName: 'O=Bank I, L=Lisbon, C=PT',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-i',
        region: 'uksouth',
        addressSpace: '10.90.0.0/16',
      },
    });
    const refused = await vote(payload.requestId, 'bank-c', 'approve');
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe('VOTER.NOT_ACTIVE');
    // bank-c no longer counts: 2 eligible, majority 2.
    const ok = await vote(payload.requestId, 'bank-a', 'approve');
    expect((await json(ok)).tally).toEqual({ approve: 1, reject: 0, eligible: 2, required: 2 });
  });

  it('rotates a key: the old key no longer signs, the new one does', async () => {
    const next = await newBank('bank-b');
    const res = await host.signedAction(
      '/api/members/bank-b/keys',
      { action: 'rotate-key', subject: 'bank-b', newKey: next.publicJwk },
      'bank-b',
    );
    expect(res.status).toBe(200);
    const { payload } = await host.apply({
      id: 'bank-j',
      legalName: 'O=Bank J, L=Athens, C=GR',
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-j',
        region: 'uksouth',
        addressSpace: '10.100.0.0/16',
      },
    });
    const old = await vote(payload.requestId, 'bank-b', 'approve');
    expect(old.status).toBe(401);
    expect((await json(old)).code).toBe('JWS.SIGNATURE');
    const old2 = banks['bank-b']!;
    banks['bank-b'] = next;
    try {
      expect((await vote(payload.requestId, 'bank-b', 'approve')).status).toBe(202);
    } finally {
      banks['bank-b'] = old2;
      banks['bank-b-new'] = next;
    }
  });

  it('keeps an audit log that verifies, and names the first tampered entry', async () => {
    const page = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const kinds = page.items.map((e: Json) => e.kind);
    expect(kinds.slice(0, 3)).toEqual(['member.seeded', 'member.seeded', 'member.seeded']);
    for (const k of [
      'request.received',
      'vote.accepted',
      'request.decided',
      'request.withdrawn',
      'proposal.opened',
      'proposal.decided',
      'member.status-changed',
      'member.key-replaced',
    ]) {
      expect(kinds).toContain(k);
    }
    const { verifyChain } = await import('../core/audit');
    expect(await verifyChain(page.items)).toMatchObject({ ok: true, entries: page.items.length });
    const tampered = page.items.map((e: Json) => ({ ...e }));
    const victim = tampered.findIndex((e: Json) => e.kind === 'vote.accepted');
    tampered[victim].data = { ...tampered[victim].data, decision: 'reject' };
    const result = await verifyChain(tampered);
    expect(result.ok).toBe(false);
    expect(result.firstBroken?.seq).toBe(tampered[victim].seq);
  });
});
