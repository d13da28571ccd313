/**
 * Reader/writer locks by name, first come first served. ARM lets many deployments into one resource
 * group start side by side, while a change to the group itself (or to a resource directly) waits for
 * them: deployments hold their group `shared` (and their own name `exclusive`), other writes hold it
 * `exclusive`.
 */
type Mode = 'shared' | 'exclusive';

interface Lock {
  shared: number;
  exclusive: boolean;
  waiting: Array<{ mode: Mode; grant: () => void }>;
}

export class ScopedLocks {
  readonly #locks = new Map<string, Lock>();

  async run<T>(holds: ReadonlyArray<readonly [string, Mode]>, fn: () => Promise<T>): Promise<T> {
    // Taken in one global order (by name), so two callers can never wait on each other.
    const sorted = [...holds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const taken: Array<readonly [string, Mode]> = [];
    try {
      for (const h of sorted) {
        await this.#acquire(h[0], h[1]);
        taken.push(h);
      }
      return await fn();
    } finally {
      for (const [name, mode] of taken.reverse()) this.#release(name, mode);
    }
  }

  /** Names held or waited on now (tests use it to see nothing is left behind). */
  get size(): number {
    return this.#locks.size;
  }

  #acquire(name: string, mode: Mode): Promise<void> {
    let lock = this.#locks.get(name);
    if (!lock) this.#locks.set(name, (lock = { shared: 0, exclusive: false, waiting: [] }));
    if (lock.waiting.length === 0 && compatible(lock, mode)) {
      take(lock, mode);
      return Promise.resolve();
    }
    const l = lock;
    return new Promise((resolve) => l.waiting.push({ mode, grant: resolve }));
  }

  #release(name: string, mode: Mode): void {
    const lock = this.#locks.get(name)!;
    if (mode === 'shared') lock.shared--;
    else lock.exclusive = false;
    while (lock.waiting.length > 0 && compatible(lock, lock.waiting[0]!.mode)) {
      const next = lock.waiting.shift()!;
      take(lock, next.mode);
      next.grant();
    }
    if (lock.shared === 0 && !lock.exclusive && lock.waiting.length === 0) this.#locks.delete(name);
  }
}

function compatible(lock: Lock, mode: Mode): boolean {
  return mode === 'shared' ? !lock.exclusive : !lock.exclusive && lock.shared === 0;
}

function take(lock: Lock, mode: Mode): void {
  if (mode === 'shared') lock.shared++;
  else lock.exclusive = true;
}
