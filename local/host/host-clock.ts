import { installHostClock } from '../../runtime/clock';

/**
 * The host's notion of "now". The system clock, or a virtual one: real time plus an offset that only
 * grows, which the host moves forward on request; while the host fires due timers during such a move,
 * time stands at each timer's due instant.
 */
export class HostClock {
  #offsetMs = 0;
  #frozenAt: number | undefined;

  constructor(readonly virtual: boolean) {}

  now(): number {
    return this.#frozenAt ?? Date.now() + this.#offsetMs;
  }

  /** Holds time at `at` (never earlier than now) until `release`. Virtual clocks only. */
  freezeAt(at: number): void {
    this.#assertVirtual();
    this.#frozenAt = Math.max(at, this.now());
  }

  /** Lets time run again from `at` (never earlier than now). */
  releaseAt(at: number): void {
    this.#assertVirtual();
    const target = Math.max(at, this.now());
    this.#frozenAt = undefined;
    this.#offsetMs = target - Date.now();
  }

  /** Makes this clock the one the app reads (runtime/clock.ts). */
  install(): void {
    installHostClock({ now: () => this.now(), virtual: this.virtual });
  }

  uninstall(): void {
    installHostClock(undefined);
  }

  #assertVirtual(): void {
    if (!this.virtual)
      throw new Error('The system clock cannot be moved; start the host with a virtual clock.');
  }
}
