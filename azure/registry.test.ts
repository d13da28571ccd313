import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { Registry } from './registry';
import * as transactions from './table-transaction';
import { claimsOf, type Member, type MembershipRequest } from '../core/membership';

/** Registry writes against the run's Azurite: claims, updates from a record already read, closing votes. */
describe('registry', () => {
  const env = { ...process.env, TRUSTNET_TASK_HUB: `Reg${randomUUID().replace(/-/g, '').slice(0, 12)}` };
  let registry: Registry;

  beforeAll(async () => {
    registry = await Registry.open(env);
  });

  const request = (id = randomUUID()): MembershipRequest => ({
    kind: 'request',
    id,
    applicant: {
      id: `bank-${id.slice(0, 8)}`,
      legalName: 'O=Bank Z, L=Paris, C=FR',
      contacts: { email: ['ops@bank-z.example'] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: 'rg-z',
        region: 'westeurope',
        addressSpace: '10.9.0.0/16',
      },
      profile: 'Small',
    },
    applicantKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    keyThumbprint: `thumb-${id}`,
    fingerprint: 'f',
    phase: 'voting',
    policy: { kind: 'majority' },
    eligible: ['bank-a', 'bank-b'],
    openedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 86_400_000).toISOString(),
    steps: [],
    jws: 'x.y.z',
  });

  const claimsFor = (tag = randomUUID().slice(0, 8)) =>
    claimsOf(`bank-${tag}`, `O=Bank ${tag}, L=Paris, C=FR`, `key-${tag}`);
  const tables = () => registry as unknown as { requests: TableClient; reservations: TableClient };
  /** Reads (point reads and queries) and transactions on the requests' table while `body` runs. */
  async function counted(body: () => Promise<unknown>): Promise<{ reads: number; transactions: number }> {
    const gets = jest.spyOn(tables().requests, 'getEntity');
    const queries = jest.spyOn(tables().requests, 'listEntities');
    const writes = jest.spyOn(transactions, 'submitTransaction');
    try {
      await body();
      return {
        reads: gets.mock.calls.length + queries.mock.calls.length,
        transactions: writes.mock.calls.length,
      };
    } finally {
      gets.mockRestore();
      queries.mockRestore();
      writes.mockRestore();
    }
  }
  const reject = (r: MembershipRequest): MembershipRequest => ({
    ...r,
    phase: 'rejected',
    outcome: 'rejected',
  });

  it('creates a request and its claims all or none, and names the first claim another request holds', async () => {
    const claims = claimsFor();
    const first = request();
    // One transaction for the request and its claims, one opening its vote (another table).
    expect(await counted(() => registry.createRequest(first, claims))).toEqual({ reads: 0, transactions: 2 });
    // Again (an idempotent resubmission): the stored request.
    const again = await registry.createRequest({ ...first, fingerprint: 'other' }, claims);
    expect(again).toMatchObject({ created: false, request: { fingerprint: first.fingerprint } });
    expect(again.taken).toBeUndefined();
    // Another request wanting the same name (and its own id and key) is not created, nor are its claims.
    const rival = claimsFor();
    rival[1] = claims[1]!;
    const second = request();
    expect(await registry.createRequest(second, rival)).toMatchObject({ created: false, taken: 'name' });
    expect(await registry.getRequest(second.id)).toBeUndefined();
    expect((await registry.createRequest(request(), [rival[0]!, rival[2]!])).created).toBe(true);
    // Several taken: the first in the order given is named.
    expect((await registry.createRequest(request(), [claims[2]!, claims[0]!])).taken).toBe('key');
    // Claims are no requests: not listed, not found.
    const listed = (await registry.listRequests({ limit: 1000 })).items;
    expect(listed.every((r) => r && typeof r.id === 'string')).toBe(true);
    expect((await registry.openRequests()).every((r) => r && typeof r.id === 'string')).toBe(true);
    expect(
      await registry.getRequest(`~claim:id:${Buffer.from(claims[0]![1]).toString('base64url')}`),
    ).toBeUndefined();
  });

  it('frees claims in the write that closes the request, and writes it when a claim is gone already', async () => {
    const claims = claimsFor();
    const r = request();
    await registry.createRequest(r, claims);
    const known = await registry.getTaggedRequest(r.id);
    expect(await counted(() => registry.updateRequest(r.id, reject, known, () => claims))).toEqual({
      reads: 0,
      transactions: 1,
    });
    expect((await registry.getRequest(r.id))?.phase).toBe('rejected');
    expect((await registry.createRequest(request(), claims)).created).toBe(true);

    // One of its claims is gone (freed by hand): the request is written, and the others are freed.
    const other = claimsFor();
    const s = request();
    await registry.createRequest(s, other);
    await tables().requests.deleteEntity(
      'request',
      `~claim:name:${Buffer.from(other[1]![1]).toString('base64url')}`,
    );
    await registry.updateRequest(s.id, reject, undefined, () => other);
    expect((await registry.getRequest(s.id))?.phase).toBe('rejected');
    expect((await registry.createRequest(request(), other)).created).toBe(true);
  });

  it('releases only the claims its owner still holds', async () => {
    const [owner, other, third] = [request(), request(), request()];
    const claims = claimsFor();
    await registry.createRequest(owner, claims);
    // The name is released and taken over meanwhile.
    await registry.release([claims[1]!], owner.id);
    expect((await registry.createRequest(other, [claims[1]!])).created).toBe(true);
    // A point read of each claim, then one transaction for those still the owner's.
    expect(await counted(() => registry.release(claims, owner.id))).toEqual({ reads: 3, transactions: 1 });
    expect(await registry.createRequest(third, claims)).toMatchObject({ created: false, taken: 'name' });
    expect((await registry.createRequest(third, [claims[0]!, claims[2]!])).created).toBe(true);
    await registry.release([], owner.id);
  });

  it('moves the claims the Reservations table kept beside the requests, keeping their owners', async () => {
    const owner = request();
    const claims = claimsFor();
    const b64 = (v: string) => Buffer.from(v).toString('base64url');
    // As the code before kept them: a partition per kind, or one `claims` partition.
    const [id, name, key] = claims;
    await tables().reservations.createEntity({ partitionKey: 'id', rowKey: b64(id![1]), Owner: owner.id });
    await tables().reservations.createEntity({
      partitionKey: 'name',
      rowKey: b64(name![1]),
      Owner: owner.id,
    });
    await tables().reservations.createEntity({
      partitionKey: 'claims',
      rowKey: `key:${b64(key![1])}`,
      Owner: owner.id,
    });
    // A rejected request whose claims a stopped host left behind (decision and release were two writes).
    const leaked = { ...request(), phase: 'rejected' as const };
    await registry.createRequest(leaked);
    const left = claimsFor();
    for (const [kind, value] of left)
      await tables().reservations.createEntity({ partitionKey: kind, rowKey: b64(value), Owner: leaked.id });
    expect(await registry.moveLegacyClaims()).toBe(3);
    expect(await registry.moveLegacyClaims()).toBe(0);
    expect((await registry.createRequest(request(), left)).created).toBe(true);
    // Still the owner's: another request cannot take them; the owner's own request finds them its own.
    expect((await registry.createRequest(request(), claims)).taken).toBe('id');
    expect((await registry.createRequest(owner, claims)).created).toBe(true);
    await registry.updateRequest(owner.id, reject, undefined, () => claims);
    expect((await registry.createRequest(request(), claims)).created).toBe(true);
  });

  it('updates from the record as read, and reads again when it has changed since', async () => {
    const { request: r } = await registry.createRequest({ ...request(), phase: 'approved' });
    const read = await registry.getTaggedRequest(r.id);
    expect(read?.value).toEqual(r);
    // Written meanwhile by someone else: the update must not overwrite it.
    await registry.updateRequest(r.id, (x) => ({ ...x, steps: [{ name: 'access', state: 'running' }] }));
    const changed = await registry.updateRequest(r.id, (x) => ({ ...x, phase: 'provisioning' }), read);
    expect(changed).toMatchObject({ phase: 'provisioning', steps: [{ name: 'access' }] });
    // Unchanged since it was read: written on that read, and a change that declines writes nothing.
    const again = await registry.getTaggedRequest(r.id);
    const requests = (registry as unknown as { requests: TableClient }).requests;
    const reads = jest.spyOn(requests, 'getEntity');
    try {
      expect(await registry.updateRequest(r.id, () => undefined, again)).toEqual(changed);
      expect(await registry.updateRequest(r.id, (x) => ({ ...x, phase: 'active' }), again)).toMatchObject({
        phase: 'active',
      });
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
    expect((await registry.getRequest(r.id))?.phase).toBe('active');
    expect(await registry.getTaggedRequest(randomUUID())).toBeUndefined();
  });

  it('closes an open ballot in one transaction', async () => {
    const ballot = randomUUID();
    expect(await registry.openVoting(ballot)).toBe(true);
    const spy = jest.spyOn(transactions, 'submitTransaction');
    try {
      await registry.closeVoting(ballot);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
    expect(await registry.openVoting(ballot)).toBe(false);
  });
  it('shares a read of every member among callers at the same time, each read after its call', async () => {
    const member = (id: string): Member => ({
      id,
      legalName: `O=${id}, L=London, C=GB`,
      status: 'ACTIVE',
      governanceKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
      keyThumbprint: `thumb-${id}`,
      contacts: { email: [`ops@${id}.example`] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: `rg-${id}`,
        region: 'uksouth',
        addressSpace: '10.1.0.0/16',
      },
      profile: 'Small',
      joinedAt: new Date().toISOString(),
      founder: true,
    });
    await registry.addMember(member('bank-one'));
    const members = (registry as unknown as { members: TableClient }).members;
    const scans = jest.spyOn(members, 'listEntities');
    try {
      const all = await Promise.all(Array.from({ length: 12 }, () => registry.allMembers()));
      expect(scans.mock.calls.length).toBeLessThanOrEqual(2);
      for (const ms of all) expect(ms.map((m) => m.id)).toContain('bank-one');
      // Each caller's own array: one caller's changes are not another's.
      all[0]!.length = 0;
      expect(all[1]!.length).toBeGreaterThan(0);
      // A member added after a read started is in the read of a later call.
      const running = registry.allMembers();
      await registry.addMember(member('bank-two'));
      const after = await registry.allMembers();
      expect(after.map((m) => m.id)).toEqual(expect.arrayContaining(['bank-one', 'bank-two']));
      await running;
    } finally {
      scans.mockRestore();
    }
  });
});
