import { sdkPollMs } from './provisioning-services';

describe('sdkPollMs: how often an SDK polls an operation it waits out within one activity', () => {
  it("is the SDK's own 2 s at the platform's default 30 s interval, and never slower", () => {
    expect(sdkPollMs(30_000)).toBe(2000);
    expect(sdkPollMs(600_000)).toBe(2000);
  });

  it('shrinks with a shorter interval, as a local cloud scales every duration, down to 10 ms', () => {
    expect(sdkPollMs(600)).toBe(40);
    expect(sdkPollMs(1000)).toBe(67);
    expect(sdkPollMs(15_000)).toBe(1000);
    expect(sdkPollMs(1)).toBe(10);
  });
});
