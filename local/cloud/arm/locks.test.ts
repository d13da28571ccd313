import { ScopedLocks } from './locks';

/** A promise and its resolver, to hold a lock open until the test lets go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('ScopedLocks', () => {
  it('lets shared holders of one name run together, and an exclusive one after them', async () => {
    const locks = new ScopedLocks();
    const order: string[] = [];
    const a = gate();
    const b = gate();
    const first = locks.run([['rg', 'shared']], async () => {
      order.push('a in');
      await a.opened;
      order.push('a out');
    });
    const second = locks.run([['rg', 'shared']], async () => {
      order.push('b in');
      await b.opened;
      order.push('b out');
    });
    const third = locks.run([['rg', 'exclusive']], async () => {
      order.push('x');
    });
    await tick();
    expect(order).toEqual(['a in', 'b in']);
    a.open();
    await first;
    await tick();
    expect(order).toEqual(['a in', 'b in', 'a out']);
    b.open();
    await Promise.all([second, third]);
    expect(order).toEqual(['a in', 'b in', 'a out', 'b out', 'x']);
    expect(locks.size).toBe(0);
  });

  it('serves first come first served: a shared holder arriving after a waiting exclusive one waits too', async () => {
    const locks = new ScopedLocks();
    const order: string[] = [];
    const a = gate();
    const first = locks.run([['rg', 'shared']], async () => {
      await a.opened;
      order.push('a');
    });
    const writer = locks.run([['rg', 'exclusive']], async () => {
      order.push('x');
    });
    const late = locks.run([['rg', 'shared']], async () => {
      order.push('late');
    });
    await tick();
    expect(order).toEqual([]);
    a.open();
    await Promise.all([first, writer, late]);
    expect(order).toEqual(['a', 'x', 'late']);
  });

  it('keeps one exclusive holder per name, releases on a throw, and never deadlocks on two names', async () => {
    const locks = new ScopedLocks();
    let inside = 0;
    let most = 0;
    const work = (holds: Array<[string, 'shared' | 'exclusive']>, fail = false) =>
      locks.run(holds, async () => {
        inside++;
        most = Math.max(most, inside);
        await tick();
        inside--;
        if (fail) throw new Error('refused');
      });
    const results = await Promise.allSettled([
      work([
        ['rg', 'shared'],
        ['rg|dep', 'exclusive'],
      ]),
      work(
        [
          ['rg|dep', 'exclusive'],
          ['rg', 'shared'],
        ],
        true,
      ),
      work([
        ['rg', 'shared'],
        ['rg|dep', 'exclusive'],
      ]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(most).toBe(1);
    expect(locks.size).toBe(0);
  });
});
