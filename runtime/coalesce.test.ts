import { afterPendingIo, BatchedReads, FreshReads, GroupCommit } from './coalesce';

describe('FreshReads', () => {
  it('gives callers during a read the next read, which starts after they asked', async () => {
    let version = 0;
    const started: number[] = [];
    let running!: () => void;
    const isRunning = new Promise<void>((r) => (running = r));
    const reads = new FreshReads<string, number>(async () => {
      started.push(version);
      const seen = version;
      running();
      await new Promise((r) => setTimeout(r, 20));
      return seen;
    });
    const first = reads.get('k');
    await isRunning;
    version = 1; // a write completes while the first read runs
    const late = [reads.get('k'), reads.get('k'), reads.get('k')];
    expect(await first).toBe(0);
    expect(await Promise.all(late)).toEqual([1, 1, 1]);
    expect(started).toEqual([0, 1]);
  });

  it('lets callers of the same turn share one read, started after all of them asked', async () => {
    let version = 0;
    let calls = 0;
    const reads = new FreshReads<string, number>(async () => {
      calls++;
      return version;
    });
    const a = reads.get('k');
    version = 1; // a write confirmed before the read started: every caller must see it
    const b = reads.get('k');
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    expect(calls).toBe(1);
  });

  it('starts afresh once idle, keeps keys apart, and passes failures to the callers that shared them', async () => {
    let calls = 0;
    const reads = new FreshReads<string, string>(async (k) => {
      calls++;
      if (k === 'bad') throw new Error('nope');
      return k;
    });
    expect(await reads.get('a')).toBe('a');
    expect(await reads.get('a')).toBe('a');
    expect(await Promise.all([reads.get('b'), reads.get('c')])).toEqual(['b', 'c']);
    await expect(reads.get('bad')).rejects.toThrow('nope');
    expect(await reads.get('bad').catch(() => 'failed again')).toBe('failed again');
    expect(calls).toBe(6);
  });
});

describe('BatchedReads', () => {
  it('reads the keys asked for in one turn together, and those asked during a read in the next', async () => {
    const batches: string[][] = [];
    const store = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const reads = new BatchedReads<string, number>(async (keys) => {
      batches.push([...keys]);
      if (batches.length === 1) await hold;
      return new Map(keys.filter((k) => store.has(k)).map((k) => [k, store.get(k)!]));
    });
    const first = [reads.get('a'), reads.get('b'), reads.get('a')];
    await afterPendingIo();
    await afterPendingIo();
    expect(batches).toEqual([['a', 'b']]);
    store.set('c', 30); // written while the first read runs
    const second = [reads.get('c'), reads.get('zz')];
    release();
    expect(await Promise.all(first)).toEqual([1, 2, 1]);
    expect(await Promise.all(second)).toEqual([30, undefined]);
    expect(batches).toEqual([
      ['a', 'b'],
      ['c', 'zz'],
    ]);
  });

  it('fails every caller of a failed read, and reads again for the next', async () => {
    let fail = true;
    const reads = new BatchedReads<string, string>(async (keys) => {
      if (fail) throw new Error('storage down');
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    });
    const failed = [reads.get('a'), reads.get('b')];
    await expect(Promise.all(failed)).rejects.toThrow('storage down');
    await expect(failed[1]).rejects.toThrow('storage down');
    fail = false;
    expect(await reads.get('a')).toBe('A');
  });
});

describe('GroupCommit', () => {
  it('writes what arrives together at once, what arrives during a write in the next, groups apart', async () => {
    const writes: [string, string[]][] = [];
    const commit = new GroupCommit<string, string>(
      async (group, items) => {
        writes.push([group, items]);
        await new Promise((r) => setTimeout(r, 10));
        return items.map((i) => `${group}:${i}`);
      },
      { max: 100, rowOf: (i) => i },
    );
    const first = [commit.add('p', 'a'), commit.add('p', 'b'), commit.add('q', 'c')];
    await new Promise((r) => setTimeout(r, 2));
    const during = [commit.add('p', 'd'), commit.add('p', 'e')];
    expect(await Promise.all([...first, ...during])).toEqual(['p:a', 'p:b', 'q:c', 'p:d', 'p:e']);
    expect(writes).toEqual([
      ['p', ['a', 'b']],
      ['q', ['c']],
      ['p', ['d', 'e']],
    ]);
  });

  it('puts each row once and at most max items in a write; the rest go next, in order', async () => {
    const writes: string[][] = [];
    const commit = new GroupCommit<{ row: string; n: number }, number>(
      async (_group, items) => {
        writes.push(items.map((i) => `${i.row}${i.n}`));
        return items.map((i) => i.n);
      },
      { max: 3, rowOf: (i) => i.row },
    );
    const items = [
      { row: 'a', n: 1 },
      { row: 'a', n: 2 },
      { row: 'b', n: 3 },
      { row: 'c', n: 4 },
      { row: 'd', n: 5 },
    ];
    expect(await Promise.all(items.map((i) => commit.add('g', i)))).toEqual([1, 2, 3, 4, 5]);
    expect(writes).toEqual([
      ['a1', 'b3', 'c4'],
      ['a2', 'd5'],
    ]);
  });

  it('fails one item on its own Error, every item of a write that throws, and goes on after', async () => {
    let fail = true;
    const commit = new GroupCommit<string, string>(
      async (_group, items) => {
        if (fail) {
          fail = false;
          throw new Error('storage down');
        }
        return items.map((i) => (i === 'bad' ? new Error(`refused ${i}`) : i));
      },
      { max: 10, rowOf: (i) => i },
    );
    const failed = await Promise.allSettled([commit.add('g', 'a'), commit.add('g', 'b')]);
    expect(failed.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual([
      'storage down',
      'storage down',
    ]);
    const next = await Promise.allSettled([commit.add('g', 'ok'), commit.add('g', 'bad')]);
    expect(next[0]).toEqual({ status: 'fulfilled', value: 'ok' });
    expect(next[1]).toMatchObject({ status: 'rejected', reason: new Error('refused bad') });
  });
});
