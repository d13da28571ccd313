import { FreshReads } from './coalesce';

describe('FreshReads', () => {
  it('gives callers during a read the next read, which starts after they asked', async () => {
    let version = 0;
    const started: number[] = [];
    const reads = new FreshReads<string, number>(async () => {
      started.push(version);
      const seen = version;
      await new Promise((r) => setTimeout(r, 20));
      return seen;
    });
    const first = reads.get('k');
    version = 1; // a write completes while the first read runs
    const late = [reads.get('k'), reads.get('k'), reads.get('k')];
    expect(await first).toBe(0);
    expect(await Promise.all(late)).toEqual([1, 1, 1]);
    expect(started).toEqual([0, 1]);
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
    expect(calls).toBe(5);
  });
});
