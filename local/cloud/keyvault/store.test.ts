import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { StoreConflict, VaultStore, type Head, type SecretVersion } from './store';

/** The Key Vault emulator's state in Table storage (the run's Azurite), and the copy a store keeps of it. */
describe('VaultStore', () => {
  const name = `Vault${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const table = async () => {
    const t = TableClient.fromConnectionString(process.env['AzureWebJobsStorage']!, name, {
      allowInsecureConnection: true,
    });
    await t.createTable();
    return t;
  };
  const head = (latest: string): Head => ({ name: 'Pair-Key', latest });
  const version = (v: string, value: string): SecretVersion => ({
    version: v,
    value,
    attributes: { enabled: true, created: 1, updated: 1 },
  });

  it('serves what it committed without reading, with ETags that guard the next commit as the table’s do', async () => {
    const vault = randomUUID();
    const store = new VaultStore(table);
    await store.commit(vault, [
      { op: 'put-head', kind: 's', head: head('v1'), create: true },
      { op: 'put-version', kind: 's', name: 'Pair-Key', data: version('v1', 'first') },
    ]);
    const reads = jest.spyOn(TableClient.prototype, 'getEntity');
    let kept;
    try {
      kept = await store.head(vault, 's', 'pair-key');
      expect(kept).toMatchObject(head('v1'));
      expect(await store.version(vault, 's', 'pair-key', 'v1')).toEqual(version('v1', 'first'));
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
    // A store that starts afresh (a restarted emulator) reads the same rows and the same ETag.
    expect(await new VaultStore(table).head(vault, 's', 'pair-key')).toEqual(kept);

    // The kept ETag is the table's: a commit guarded by it lands, one guarded by the old one is refused.
    await store.commit(vault, [
      { op: 'put-head', kind: 's', head: head('v2'), etag: kept!.etag },
      { op: 'put-version', kind: 's', name: 'Pair-Key', data: version('v2', 'second') },
    ]);
    await expect(
      store.commit(vault, [{ op: 'put-head', kind: 's', head: head('v3'), etag: kept!.etag }]),
    ).rejects.toThrow(StoreConflict);
    // After a refusal the store asks the table, which still holds v2.
    const now = await store.head(vault, 's', 'pair-key');
    expect(now?.latest).toBe('v2');
    await store.commit(vault, [{ op: 'put-head', kind: 's', head: head('v3'), etag: now!.etag }]);
    expect((await new VaultStore(table).head(vault, 's', 'pair-key'))?.latest).toBe('v3');

    await store.commit(vault, [
      { op: 'delete-version', kind: 's', name: 'Pair-Key', version: 'v1' },
      { op: 'delete-head', kind: 's', name: 'Pair-Key' },
    ]);
    expect(await store.head(vault, 's', 'pair-key')).toBeUndefined();
    expect(await store.version(vault, 's', 'pair-key', 'v1')).toBeUndefined();
    expect(await new VaultStore(table).head(vault, 's', 'pair-key')).toBeUndefined();
  });

  it('keeps a missing row as missing until it commits one', async () => {
    const vault = randomUUID();
    const store = new VaultStore(table);
    expect(await store.head(vault, 'c', 'node')).toBeUndefined();
    await store.commit(vault, [
      { op: 'put-head', kind: 'c', head: { name: 'node', latest: 'a' }, create: true },
    ]);
    expect((await store.head(vault, 'c', 'node'))?.latest).toBe('a');
  });
});
