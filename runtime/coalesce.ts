/**
 * Resolves once the event loop has taken in the I/O that is ready (setImmediate runs after the poll
 * phase): requests that arrived together then share one storage call instead of the first going alone.
 * When the process is idle this costs no waiting.
 */
export function afterPendingIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Coalesced reads: callers that ask while a read is running share the NEXT read, which starts after
 * their call, so each gets data at least as fresh as its own request, and a burst of N callers costs
 * two reads instead of N. A read starts once the I/O already waiting has been taken in (afterPendingIo),
 * so callers woken by it join the same read.
 */
export class FreshReads<K, V> {
  readonly #state = new Map<K, { running?: Promise<V>; next?: Promise<V> }>();

  constructor(private readonly read: (key: K) => Promise<V>) {}

  get(key: K): Promise<V> {
    let s = this.#state.get(key);
    if (!s) this.#state.set(key, (s = {}));
    const slot = s;
    const start = () => this.#start(key, slot);
    slot.next ??= (slot.running ?? Promise.resolve()).then(afterPendingIo, afterPendingIo).then(start);
    return slot.next;
  }

  #start(key: K, slot: { running?: Promise<V>; next?: Promise<V> }): Promise<V> {
    slot.next = undefined;
    const p = Promise.resolve().then(() => this.read(key));
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

/**
 * Fresh reads of many keys at once: keys asked for while a read is running are read together by the
 * next one, which starts after they were asked for. So each caller gets data at least as fresh as its
 * call, and a burst of callers costs one read of all their keys instead of one read each.
 */
export class BatchedReads<K, V> {
  #running = false;
  #waiting = new Map<K, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]>();

  /** `read` answers for the keys it is given; a key it leaves out has no value (undefined). */
  constructor(private readonly read: (keys: K[]) => Promise<Map<K, V>>) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      let waiters = this.#waiting.get(key);
      if (!waiters) this.#waiting.set(key, (waiters = []));
      waiters.push({ resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      await afterPendingIo();
      while (this.#waiting.size) {
        const batch = this.#waiting;
        this.#waiting = new Map();
        try {
          const values = await this.read([...batch.keys()]);
          for (const [k, waiters] of batch) for (const w of waiters) w.resolve(values.get(k));
        } catch (e) {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(e);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
