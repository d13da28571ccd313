/**
 * Copies of table rows that an emulator's store is the only writer of (a restarted emulator starts
 * without them and reads the table back): a row read once, or written, is served from here. Every write
 * still goes to the table first; a copy is kept only once it has landed.
 *
 * - A read in flight is shared by everyone asking for the same row, and a failed read is not kept.
 * - A write that fails, or that another write of the same row began after, leaves the row to the table:
 *   whether it landed, or which landed last, is unknown here.
 * - Past `max` rows the copies start over (the table still holds everything).
 */
export class KeptRows<V> {
  readonly #rows = new Map<string, Promise<V>>();
  /** Per row, writes begun (the newest one's number). */
  readonly #writes = new Map<string, number>();

  constructor(private readonly max: number) {}

  #keep(k: string, row: Promise<V>): void {
    if (this.#rows.size >= this.max) this.#rows.clear();
    this.#rows.set(k, row);
  }

  /** The kept copy of row `k`, or what `load` reads from the table (then kept). */
  read(k: string, load: () => Promise<V>): Promise<V> {
    let kept = this.#rows.get(k);
    if (!kept) {
      const read = load();
      this.#keep(k, read);
      read.catch(() => {
        if (this.#rows.get(k) === read) this.#rows.delete(k);
      });
      kept = read;
    }
    return kept;
  }

  /**
   * Runs `write` of the rows `keys`, then keeps for each row `i` what `copy(result, i)` gives: `{ row }`
   * (the row as it now stands in the table), or undefined to leave it to the table.
   */
  async write<R>(
    keys: readonly string[],
    write: () => Promise<R>,
    copy: (result: R, i: number) => { row: V } | undefined,
  ): Promise<R> {
    const began = keys.map((k) => {
      const n = (this.#writes.get(k) ?? 0) + 1;
      this.#writes.set(k, n);
      return n;
    });
    try {
      const result = await write();
      keys.forEach((k, i) => {
        const kept = this.#writes.get(k) === began[i] ? copy(result, i) : undefined;
        if (kept) this.#keep(k, Promise.resolve(kept.row));
        else this.#rows.delete(k);
      });
      return result;
    } catch (e) {
      for (const k of keys) this.#rows.delete(k);
      throw e;
    } finally {
      keys.forEach((k, i) => {
        if (this.#writes.get(k) === began[i]) this.#writes.delete(k);
      });
    }
  }
}
