import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { ArmStore } from './store';
import type { StoredResource } from './resources';

/** The emulator's state in Table storage (the run's Azurite). */
describe('ArmStore', () => {
  const prefix = `Store${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const tables = async (suffix: string) => {
    const t = TableClient.fromConnectionString(process.env['AzureWebJobsStorage']!, `${prefix}${suffix}`, {
      allowInsecureConnection: true,
    });
    await t.createTable();
    return t;
  };
  const sub = randomUUID();
  const resource = (rg: string, type: string, name: string): StoredResource => ({
    id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/${type}/${name}`,
    type,
    name,
    subscriptionId: sub,
    resourceGroup: rg,
    properties: {},
    visibleAt: 0,
    readyAt: 0,
    etagSeq: 0,
  });
  const names = (rs: StoredResource[]) => rs.map((r) => r.name).sort();

  it("keeps a subscription's connections exact after reading them once, without reading again", async () => {
    const store = new ArmStore(tables);
    await store.putResource(resource('rg-a', 'Microsoft.Network/connections', 'cn-1'));
    await store.putResource(resource('rg-a', 'Microsoft.Network/virtualNetworkGateways', 'gw'));
    expect(names(await store.connectionsIn(sub))).toEqual(['cn-1']);

    const list = jest.spyOn(store, 'listResources');
    try {
      await store.putResource(resource('rg-b', 'Microsoft.Network/connections', 'cn-2'));
      await store.putResource({ ...resource('rg-a', 'Microsoft.Network/connections', 'cn-1'), readyAt: 5 });
      expect(names(await store.connectionsIn(sub))).toEqual(['cn-1', 'cn-2']);
      expect((await store.connectionsIn(sub)).find((r) => r.name === 'cn-1')?.readyAt).toBe(5);
      await store.removeResource(resource('rg-a', 'Microsoft.Network/connections', 'cn-1'));
      expect(names(await store.connectionsIn(sub))).toEqual(['cn-2']);
      expect(list).not.toHaveBeenCalled();
    } finally {
      list.mockRestore();
    }
    // What the table holds agrees: another store (a restarted emulator) reads the same.
    expect(names(await new ArmStore(tables).connectionsIn(sub))).toEqual(['cn-2']);
  });

  it("reads every subscription's connections with one query, and keeps each subscription's apart", async () => {
    const store = new ArmStore(tables);
    const subs = [randomUUID(), randomUUID(), randomUUID()];
    const cn = (subscriptionId: string, name: string): StoredResource => ({
      ...resource('rg', 'Microsoft.Network/connections', name),
      id: `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.Network/connections/${name}`,
      subscriptionId,
    });
    await store.putResource(cn(subs[0]!, 'cn-a'));
    await store.putResource(cn(subs[1]!, 'cn-b'));
    const list = jest.spyOn(store, 'listResources');
    try {
      expect(names(await store.connectionsIn(subs[0]!))).toEqual(['cn-a']);
      expect(names(await store.connectionsIn(subs[1]!))).toEqual(['cn-b']);
      expect(await store.connectionsIn(subs[2]!)).toEqual([]);
      // A subscription with none yet gets the next one written there.
      await store.putResource(cn(subs[2]!, 'cn-c'));
      expect(names(await store.connectionsIn(subs[2]!))).toEqual(['cn-c']);
      expect(names(await store.connections())).toEqual(expect.arrayContaining(['cn-a', 'cn-b', 'cn-c']));
      expect(list).toHaveBeenCalledTimes(1);
    } finally {
      list.mockRestore();
    }
  });

  it('applies writes made while the first read runs, in order', async () => {
    const store = new ArmStore(tables);
    const other = randomUUID();
    const cn = (name: string): StoredResource => ({
      ...resource('rg', 'Microsoft.Network/connections', name),
      id: `/subscriptions/${other}/resourceGroups/rg/providers/Microsoft.Network/connections/${name}`,
      subscriptionId: other,
    });
    await store.putResource(cn('cn-1'));
    const reading = store.connectionsIn(other);
    await Promise.all([store.putResource(cn('cn-2')), store.removeResource(cn('cn-1'))]);
    await reading;
    expect(names(await store.connectionsIn(other))).toEqual(['cn-2']);
  });

  it('serves rows it wrote or read from its copy, the table agreeing, and a write in flight wins', async () => {
    const store = new ArmStore(tables);
    const group = {
      subscriptionId: sub,
      name: 'rg-copy',
      location: 'uksouth',
      delegated: true,
      createdAt: 1,
    };
    await store.putGroup(group);
    const reads = jest.spyOn(TableClient.prototype, 'getEntity');
    try {
      expect(await store.getGroup(sub, 'rg-copy')).toEqual(group);
      // A copy, not the stored object: changing what was returned changes nothing kept.
      (await store.getGroup(sub, 'rg-copy'))!.delegated = false;
      expect((await store.getGroup(sub, 'rg-copy'))!.delegated).toBe(true);
      expect(reads).not.toHaveBeenCalled();
      // A read that began before a write ends after it: the write is what is kept.
      const fresh = new ArmStore(tables);
      const before = fresh.getGroup(sub, 'rg-copy');
      await fresh.putGroup({ ...group, location: 'westeurope' });
      await before;
      expect((await fresh.getGroup(sub, 'rg-copy'))?.location).toBe('westeurope');
      await fresh.removeGroup(sub, 'rg-copy');
      expect(await fresh.getGroup(sub, 'rg-copy')).toBeUndefined();
    } finally {
      reads.mockRestore();
    }
    // The table holds the same: a store that starts afresh reads nothing there.
    expect(await new ArmStore(tables).getGroup(sub, 'rg-copy')).toBeUndefined();
  });
});
