/**
 * Coalesced reads: callers that ask while a read is running share the NEXT read, which starts after
 * their call, so each gets data at least as fresh as its own request, and a burst of N callers costs
 * two reads instead of N.
 */
export class FreshReads<K, V> {
  readonly #state = new Map<K, { running?: Promise<V>; next?: Promise<V> }>();

  constructor(private readonly read: (key: K) => Promise<V>) {}

  get(key: K): Promise<V> {
    let s = this.#state.get(key);
    if (!s) this.#state.set(key, (s = {}));
    const slot = s;
    if (!slot.running) return this.#start(key, slot);
    slot.next ??= slot.running.then(
      () => this.#start(key, slot),
      () => this.#start(key, slot),
    );
    return slot.next;
  }

  #start(key: K, slot: { running?: Promise<V>; next?: Promise<V> }): Promise<V> {
    slot.next = undefined;
    const p = this.read(key);
    slot.running = p;
    const clear = () => {
      if (slot.running === p) {
        slot.running = undefined;
        if (!slot.next) this.#state.delete(key);
      }
    };
    p.then(clear, clear);
    return p;
  }
}
