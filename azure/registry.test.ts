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

  const ownerOf = async (kind: 'id' | 'name' | 'key', value: string, owner: string) =>
    (await registry.reserve(kind, value, owner)).owner;

  it('releases only the claims its owner still holds', async () => {
    const owner = randomUUID();
    const other = randomUUID();
    const tag = randomUUID().slice(0, 8);
    const claims = claimsOf(`bank-${tag}`, `O=Bank ${tag}, L=Paris, C=FR`, `key-${tag}`);
    for (const [kind, value] of claims) expect(await ownerOf(kind, value, owner)).toBe(owner);
    // The name is taken over meanwhile (released, then claimed by another request).
    await registry.release([claims[1]!], owner);
    expect(await ownerOf('name', claims[1]![1], other)).toBe(other);
    await registry.release(claims, owner);
    // Free again: id and key; the name stays with its new owner.
    const third = randomUUID();
    expect(await ownerOf('id', claims[0]![1], third)).toBe(third);
    expect(await ownerOf('key', claims[2]![1], third)).toBe(third);
    expect(await ownerOf('name', claims[1]![1], third)).toBe(other);
    await registry.release([], owner);
  });

  it('releases claims on the ETags reserve gave, without reading them, and never one taken over', async () => {
    const owner = randomUUID();
    const other = randomUUID();
    const tag = randomUUID().slice(0, 8);
    const claims = claimsOf(`bank-${tag}`, `O=Bank ${tag}, L=Paris, C=FR`, `key-${tag}`);
    const tags: Partial<Record<'id' | 'name' | 'key', string>> = {};
    for (const [kind, value] of claims) {
      const r = await registry.reserve(kind, value, owner);
      expect(r.owner).toBe(owner);
      expect(r.etag).toEqual(expect.any(String));
      tags[kind] = r.etag;
    }
    // Asking again (an idempotent resubmission) answers the same claim and ETag; another owner gets none.
    expect(await registry.reserve('id', claims[0]![1], owner)).toEqual({ owner, etag: tags.id });
    expect(await registry.reserve('id', claims[0]![1], other)).toEqual({ owner });
    // The name is released and taken over meanwhile: its old ETag no longer deletes it.
    await registry.release([claims[1]!], owner, tags);
    expect(await ownerOf('name', claims[1]![1], other)).toBe(other);
    const reads = jest.spyOn(
      (registry as unknown as { reservations: TableClient }).reservations,
      'listEntities',
    );
    try {
      await registry.release(claims, owner, tags);
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
    const third = randomUUID();
    expect(await ownerOf('id', claims[0]![1], third)).toBe(third);
    expect(await ownerOf('key', claims[2]![1], third)).toBe(third);
    expect(await ownerOf('name', claims[1]![1], third)).toBe(other);
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
