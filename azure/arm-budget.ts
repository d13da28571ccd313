import { RestError, type TableClient } from '@azure/data-tables';
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

export class ArmWriteBudget {
  constructor(
    private readonly table: () => Promise<TableClient>,
    private readonly now: () => number,
    private readonly budget: WriteBudget = ARM_WRITE_BUDGET,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Takes one write token for the subscription, waiting for it if the bucket is empty. */
  async take(subscriptionId: string): Promise<void> {
    const table = await this.table();
    for (let attempt = 0; ; attempt++) {
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
      const entity = {
        partitionKey: 'budget',
        rowKey: subscriptionId,
        Tokens: state.tokens - 1,
        AtMs: state.atMs,
      };
      try {
        if (etag) await table.updateEntity(entity, 'Replace', { etag });
        else await table.createEntity(entity);
        return;
      } catch (e) {
        const status = e instanceof RestError ? e.statusCode : undefined;
        // Someone else took a token between our read and write: read again.
        if ((status === 412 || status === 409) && attempt < 1000) continue;
        wrapStorage('take an ARM write token', e);
      }
    }
  }
}
