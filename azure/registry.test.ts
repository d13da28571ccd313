import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { Registry } from './registry';
import * as transactions from './table-transaction';
import { claimsOf, type MembershipRequest } from '../core/membership';

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
  const reservations = () => (registry as unknown as { reservations: TableClient }).reservations;
  /** Storage calls that read claims, and transactions, while `body` runs. */
  async function counted(body: () => Promise<void>): Promise<{ reads: number; transactions: number }> {
    const reads = jest.spyOn(reservations(), 'listEntities');
    const writes = jest.spyOn(transactions, 'submitTransaction');
    try {
      await body();
      return { reads: reads.mock.calls.length, transactions: writes.mock.calls.length };
    } finally {
      reads.mockRestore();
      writes.mockRestore();
    }
  }

  it("reserves all of a request's claims or none, and names the first one another request holds", async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const claims = claimsFor();
    let first: Awaited<ReturnType<Registry['reserve']>> | undefined;
    expect(await counted(async () => void (first = await registry.reserve(claims, a)))).toEqual({
      reads: 0,
      transactions: 1,
    });
    expect(first).toEqual({
      tags: { id: expect.any(String), name: expect.any(String), key: expect.any(String) },
    });
    // Asking again (an idempotent resubmission) answers the same claims and ETags.
    expect(await registry.reserve(claims, a)).toEqual(first);
    // Another request wanting the same name (and its own id and key) gets none of them.
    const rival = claimsFor();
    rival[1] = claims[1]!;
    expect(await registry.reserve(rival, b)).toEqual({ tags: {}, taken: 'name' });
    expect((await registry.reserve([rival[0]!, rival[2]!], c)).taken).toBeUndefined();
    // Several taken: the first in the order given is named.
    expect((await registry.reserve([claims[2]!, claims[0]!], b)).taken).toBe('key');
  });

  it('releases in one transaction on the ETags reserve gave, and never a claim taken over', async () => {
    const [owner, other, third] = [randomUUID(), randomUUID(), randomUUID()];
    const claims = claimsFor();
    const { tags } = await registry.reserve(claims, owner);
    expect(await counted(() => registry.release(claims, owner, tags))).toEqual({ reads: 0, transactions: 1 });
    expect((await registry.reserve(claims, other)).taken).toBeUndefined();
    await registry.release(claims, other);

    // The name is released and taken over meanwhile: its old ETag no longer deletes it, the others go.
    const again = (await registry.reserve(claims, owner)).tags;
    await registry.release([claims[1]!], owner, again);
    expect((await registry.reserve([claims[1]!], other)).taken).toBeUndefined();
    expect(await counted(() => registry.release(claims, owner, again))).toEqual({
      reads: 1,
      transactions: 2,
    });
    expect((await registry.reserve([claims[0]!, claims[2]!], third)).taken).toBeUndefined();
    expect((await registry.reserve([claims[1]!], third)).taken).toBe('name');
    // Without ETags: read, then only the owner's deleted.
    await registry.release(claims, other);
    expect((await registry.reserve([claims[1]!], third)).taken).toBeUndefined();
    await registry.release([], owner);
  });

  it('moves claims kept a partition per kind into the one partition, keeping their owners', async () => {
    const [owner, other] = [randomUUID(), randomUUID()];
    const claims = claimsFor();
    // As the code before kept them: partition = kind, row key = the value in base64url.
    const legacy: Record<string, string> = {};
    for (const [kind, value] of claims) {
      const row = { partitionKey: kind, rowKey: Buffer.from(value).toString('base64url'), Owner: owner };
      legacy[kind] = String((await reservations().createEntity(row)).etag);
    }
    expect(await registry.moveLegacyClaims()).toBe(3);
    expect(await registry.moveLegacyClaims()).toBe(0);
    // Still the owner's: another request cannot take them; the owner's own request finds them its own.
    expect((await registry.reserve(claims, other)).taken).toBe('id');
    expect((await registry.reserve(claims, owner)).taken).toBeUndefined();
    // Released with the ETags of the old rows (kept on the request record): read, then freed.
    await registry.release(claims, owner, legacy);
    expect((await registry.reserve(claims, other)).taken).toBeUndefined();
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
});
