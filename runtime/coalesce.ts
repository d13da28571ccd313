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

/**
 * Group commit: items for one group (a table partition) that are added while a write of that group is in
 * flight go together in the next write, so a burst costs a few transactions instead of one each. A write
 * takes at most `max` items, each row (`rowOf`) once, since a transaction may touch a row only once; the
 * rest wait for the next. `write` answers for each item, in order: a value, or an Error for that item
 * alone. If it throws, every item of that write fails with the error.
 */
export class GroupCommit<T, R> {
  readonly #queues = new Map<string, { item: T; done: (r: R | Error) => void }[]>();
  readonly #flushing = new Set<string>();

  constructor(
    private readonly write: (group: string, items: T[]) => Promise<(R | Error)[]>,
    private readonly options: { max: number; rowOf: (item: T) => string },
  ) {}

  add(group: string, item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(group);
      if (!queue) this.#queues.set(group, (queue = []));
      queue.push({ item, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      if (!this.#flushing.has(group)) void this.#flush(group);
    });
  }

  async #flush(group: string): Promise<void> {
    this.#flushing.add(group);
    try {
      // Items that arrived together go in one write, not the first one alone.
      await afterPendingIo();
      for (;;) {
        const queue = this.#queues.get(group);
        if (!queue?.length) break;
        const batch: typeof queue = [];
        const rows = new Set<string>();
        for (let i = 0; i < queue.length && batch.length < this.options.max;) {
          const row = this.options.rowOf(queue[i]!.item);
          if (rows.has(row)) i++;
          else {
            rows.add(row);
            batch.push(...queue.splice(i, 1));
          }
        }
        let results: (R | Error)[];
        try {
          results = await this.write(
            group,
            batch.map((b) => b.item),
          );
        } catch (e) {
          results = batch.map(() => (e instanceof Error ? e : new Error(String(e))));
        }
        batch.forEach((b, i) => b.done(results[i] ?? new Error('The group write gave no answer.')));
      }
    } finally {
      this.#flushing.delete(group);
      if (!this.#queues.get(group)?.length) this.#queues.delete(group);
    }
  }
}
