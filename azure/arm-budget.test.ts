import { TableClient } from '@azure/data-tables';
import fc from 'fast-check';
import { ArmWriteBudget, refill, waitForToken, type WriteBudget } from './arm-budget';

const budget = { burst: 200, perSecond: 10 };

/**
 * A fresh table for a bucket, and app instances on it (`instance()`) that share one virtual clock: waiting
 * for a token moves the clock on instead of sleeping.
 */
async function virtualBucket(limits: WriteBudget) {
  const name = `armbudget${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const client = TableClient.fromConnectionString(process.env['AzureWebJobsStorage']!, name, {
    allowInsecureConnection: true,
  });
  await client.createTable();
  const clock = { now: 0 };
  const instance = () =>
    new ArmWriteBudget(
      async () => client,
      () => clock.now,
      limits,
      async (ms) => {
        clock.now += ms;
      },
    );
  return { client, clock, instance };
}

describe('the ARM write bucket', () => {
  it('starts full, refills at the rate, never beyond the burst', () => {
    expect(refill(undefined, 5, budget)).toEqual({ tokens: 200, atMs: 5 });
    expect(refill({ tokens: 0, atMs: 0 }, 1500, budget).tokens).toBeCloseTo(15);
    expect(refill({ tokens: 199, atMs: 0 }, 60_000, budget).tokens).toBe(200);
    expect(waitForToken({ tokens: 0.5, atMs: 0 }, budget)).toBe(50);
    expect(waitForToken({ tokens: 1, atMs: 0 }, budget)).toBe(0);
  });

  it('lets no window of any length see more than burst + rate × length writes', async () => {
    const small = { burst: 20, perSecond: 5 };
    const { client, clock, instance } = await virtualBucket(small);
    const writes: number[] = [];
    const bucket = instance();
    for (let i = 0; i < 60; i++) {
      await bucket.take('sub-1');
      writes.push(clock.now);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 20_000 }), (i, length) => {
        const start = writes[Math.min(i, writes.length - 1)]!;
        const inWindow = writes.filter((t) => t >= start && t <= start + length).length;
        expect(inWindow).toBeLessThanOrEqual(small.burst + Math.ceil((length / 1000) * small.perSecond) + 1);
      }),
    );
    // The first 20 go at once; the other 40 at 5 a second.
    expect(writes[19]).toBe(0);
    expect(writes[59]).toBeGreaterThanOrEqual(8000);
    await bucket.take('sub-2');
    expect(writes.length).toBe(60);
    await client.deleteTable();
  });

  it('serves takes that arrive together with one swap, and two instances never share out more than the bucket', async () => {
    const { client, clock, instance } = await virtualBucket({ burst: 30, perSecond: 10 });
    // Two app instances on one bucket: each swaps with ETags against the other.
    const a = instance();
    const b = instance();
    const swaps = jest.spyOn(client, 'updateEntity');
    const granted: number[] = [];
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a : b).take('sub-1').then(() => granted.push(clock.now)),
        ),
      );
    } finally {
      swaps.mockRestore();
    }
    expect(granted).toHaveLength(40);
    // The burst at once, the rest only as the bucket refills.
    expect(granted.filter((t) => t === 0).length).toBeLessThanOrEqual(30);
    expect(Math.max(...granted)).toBeGreaterThanOrEqual(900);
    // Forty takes, a handful of swaps (one per group and per lost race), not one or more each.
    expect(swaps.mock.calls.length).toBeLessThan(15);
    await client.deleteTable();
  });
});
