/**
 * A map that keeps at most `max` entries: those set or read (`get`) most recently. For the caches of
 * per-ballot facts on the vote path, where a dropped entry costs its next user a read, never a wrong
 * answer. `onDrop` hears of each entry dropped to make room.
 */
export class RecentMap<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(
    private readonly max: number,
    private readonly onDrop?: (key: K) => void,
  ) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`RecentMap keeps at least 1 entry, not ${max}.`);
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value, which becomes the most recent. */
  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key) as V;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** The value, leaving the order as it is. */
  peek(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** Sets the value as the most recent, dropping the least recent entry if the map is full. */
  set(key: K, value: V): this {
    this.#entries.delete(key);
    if (this.#entries.size >= this.max) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
      this.onDrop?.(oldest);
    }
    this.#entries.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }
}
