import { RecentMap } from './recent';

describe('RecentMap', () => {
  it('drops the entry least recently set or read, and says which', () => {
    const dropped: string[] = [];
    const m = new RecentMap<string, number>(2, (k) => dropped.push(k));
    m.set('a', 1).set('b', 2);
    expect(m.get('a')).toBe(1); // a is now the most recent
    m.set('c', 3);
    expect(dropped).toEqual(['b']);
    expect([m.has('a'), m.has('b'), m.has('c')]).toEqual([true, false, true]);
    expect(m.size).toBe(2);
  });

  it('peeks without changing the order, and a set of a kept key drops nothing', () => {
    const dropped: string[] = [];
    const m = new RecentMap<string, number>(2, (k) => dropped.push(k));
    m.set('a', 1).set('b', 2);
    expect(m.peek('a')).toBe(1);
    m.set('b', 20);
    expect(dropped).toEqual([]);
    m.set('c', 3);
    expect(dropped).toEqual(['a']);
    expect(m.get('b')).toBe(20);
  });

  it('keeps undefined values apart from missing ones, and forgets deleted keys', () => {
    const m = new RecentMap<string, string | undefined>(3);
    m.set('x', undefined);
    expect(m.has('x')).toBe(true);
    expect(m.get('x')).toBeUndefined();
    expect(m.delete('x')).toBe(true);
    expect(m.has('x')).toBe(false);
    expect(m.delete('x')).toBe(false);
  });

  it('refuses a size under one', () => {
    expect(() => new RecentMap(0)).toThrow(/at least 1 entry, not 0/);
    expect(() => new RecentMap(1.5)).toThrow(RangeError);
  });
});
