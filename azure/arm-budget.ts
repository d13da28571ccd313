import { RestError, type TableClient } from '@azure/data-tables';
import { afterPendingIo } from '../runtime/coalesce';
import { wrapStorage } from './tables';

/**
 * ARM allows each subscription a burst of writes that refills at a steady rate (200, then 10 a second);
 * past it every caller gets 429s. When a hundred members are peered at once, all our activities share
 * one bucket per subscription here, kept in Table storage with ETag compare-and-swap so every instance
 * of the app sees the same count, and each waits for its token instead of joining a 429 storm.
 */

export interface WriteBudget {
  burst: number;
  perSecond: number;
}

export const ARM_WRITE_BUDGET: WriteBudget = { burst: 200, perSecond: 10 };

export interface BucketState {
  tokens: number;
  atMs: number;
}

/** Pure: the bucket after refilling to `nowMs`, and the wait before one token is there. */
export function refill(state: BucketState | undefined, nowMs: number, budget: WriteBudget): BucketState {
  if (!state) return { tokens: budget.burst, atMs: nowMs };
  const elapsed = Math.max(0, nowMs - state.atMs) / 1000;
  return { tokens: Math.min(budget.burst, state.tokens + elapsed * budget.perSecond), atMs: nowMs };
}

export function waitForToken(state: BucketState, budget: WriteBudget): number {
  return state.tokens >= 1 ? 0 : Math.ceil(((1 - state.tokens) / budget.perSecond) * 1000);
}

/**
 * The shared bucket. Takes for one subscription that arrive together in this process are served by one
 * compare-and-swap for all of them: a hundred activities each swapping alone on the same row made every
 * write cost a dozen storage calls at 100 members (each lost race read and tried again).
 */
export class ArmWriteBudget {
  readonly #waiting = new Map<string, Array<{ resolve: () => void; reject: (e: unknown) => void }>>();

  constructor(
    private readonly table: () => Promise<TableClient>,
    private readonly now: () => number,
    private readonly budget: WriteBudget = ARM_WRITE_BUDGET,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Takes one write token for the subscription, waiting for it if the bucket is empty. */
  take(subscriptionId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.#waiting.get(subscriptionId);
      if (queue) queue.push({ resolve, reject });
      else {
        this.#waiting.set(subscriptionId, [{ resolve, reject }]);
        void this.#serve(subscriptionId);
      }
    });
  }

  /** Hands out tokens to this subscription's waiters, as many per swap as the bucket holds, until none wait. */
  async #serve(subscriptionId: string): Promise<void> {
    const queue = this.#waiting.get(subscriptionId)!;
    try {
      // Takes that arrive together share the first swap.
      await afterPendingIo();
      const table = await this.table();
      for (let conflicts = 0; queue.length > 0;) {
        let etag: string | undefined;
        let stored: BucketState | undefined;
        try {
          const row = await table.getEntity<{ Tokens: number; AtMs: number }>('budget', subscriptionId);
          etag = row.etag;
          stored = { tokens: row.Tokens, atMs: row.AtMs };
        } catch (e) {
          if (!(e instanceof RestError && e.statusCode === 404)) wrapStorage('read ARM write budget', e);
        }
        const state = refill(stored, this.now(), this.budget);
        const wait = waitForToken(state, this.budget);
        if (wait > 0) {
          await this.sleep(wait);
          continue;
        }
        const taken = Math.min(queue.length, Math.floor(state.tokens));
        const entity = {
          partitionKey: 'budget',
          rowKey: subscriptionId,
          Tokens: state.tokens - taken,
          AtMs: state.atMs,
        };
        try {
          if (etag) await table.updateEntity(entity, 'Replace', { etag });
          else await table.createEntity(entity);
        } catch (e) {
          const status = e instanceof RestError ? e.statusCode : undefined;
          // Another instance took tokens between our read and write: read again.
          if ((status === 412 || status === 409) && ++conflicts < 1000) continue;
          wrapStorage('take an ARM write token', e);
        }
        for (const w of queue.splice(0, taken)) w.resolve();
      }
    } catch (e) {
      for (const w of queue.splice(0)) w.reject(e);
    } finally {
      this.#waiting.delete(subscriptionId);
    }
  }
}
