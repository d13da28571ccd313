import { inChunks, inParallel } from './parallel';

describe('inParallel', () => {
  it('does every item once, never more than the limit at a time', async () => {
    const done: number[] = [];
    let running = 0;
    let most = 0;
    await inParallel([...Array(20).keys()], 3, async (i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, i % 4));
      running--;
      done.push(i);
    });
    expect(done.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(most).toBe(3);
  });

  it('does nothing for no items, and fails when one item fails', async () => {
    await expect(inParallel([], 4, () => Promise.reject(new Error('never')))).resolves.toBeUndefined();
    await expect(
      inParallel([1, 2, 3], 2, async (i) => {
        if (i === 2) throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
  });
});

describe('inChunks', () => {
  it('slices in order, the last slice shorter, and nothing for no items', () => {
    expect(inChunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(inChunks([1, 2], 10)).toEqual([[1, 2]]);
    expect(inChunks([], 3)).toEqual([]);
  });
});
