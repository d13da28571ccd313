import { afterPendingIo, BatchedReads, FreshReads } from './coalesce';

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
