import { installLocalCloud } from './connection';
import { AzureError } from './azure-error';
import { Metrics, type MemberMetricResources } from './metrics';
import { CloudFaults } from '../local/cloud/faults';
import { cloudHttpClient, LocalCloudCredential } from '../local/cloud/http';
import { MetricsEmulator } from '../local/cloud/metrics';

/** The metrics adapter through the real @azure/monitor-query-metrics client against the local emulator. */
describe('Metrics adapter', () => {
  const MINUTE = 60_000;
  const t0 = Date.parse('2026-03-02T10:00:00Z');
  let now = t0;
  const faults = new CloudFaults();
  const emulator = new MetricsEmulator({ faults, now: () => now });
  const sub = '11111111-2222-4333-8444-555555555555';
  const rg = `/subscriptions/${sub}/resourceGroups/rg-bank-m`;
  const resources = (monitoring: boolean): MemberMetricResources => ({
    region: 'uksouth',
    scaleSetId: `${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-bank-m`,
    loadBalancerId: `${rg}/providers/Microsoft.Network/loadBalancers/lb-bank-m`,
    appInsightsId: `${rg}/providers/Microsoft.Insights/components/appi-bank-m`,
    monitoring,
    profileAt: (atMs) => (atMs < t0 + 5 * MINUTE ? 'Small' : 'Medium'),
  });

  beforeAll(() =>
    installLocalCloud({
      httpClient: cloudHttpClient(emulator.handle),
      credential: new LocalCloudCredential(),
    }),
  );
  afterAll(() => installLocalCloud(undefined));
  beforeEach(() => {
    emulator.clear();
    faults.clear();
  });

  it('reads one sample per whole past minute: cpu always, tpm only when the profile monitors', async () => {
    now = t0 + 10 * MINUTE + 30_000;
    emulator.set({
      memberId: 'bank-m',
      metric: 'cpu',
      series: [
        { from: t0, value: 20 },
        { from: new Date(t0 + 7 * MINUTE).toISOString(), value: 90 },
      ],
    });
    emulator.set({ memberId: 'bank-m', metric: 'tpm', value: 1234 });
    const metrics = new Metrics();
    const quiet = await metrics.memberLoad(resources(false), now, 10);
    expect(quiet.samples.map((s) => s.atMs)).toEqual(Array.from({ length: 10 }, (_, i) => t0 + i * MINUTE));
    expect(quiet.samples.map((s) => s.cpuPercent)).toEqual([20, 20, 20, 20, 20, 20, 20, 90, 90, 90]);
    expect(quiet.samples.every((s) => s.tpm === undefined)).toBe(true);
    expect(quiet.samples[0]!.profile).toBe('Small');
    expect(quiet.samples[9]!.profile).toBe('Medium');
    // The load balancer's default flat load, ten minutes of it.
    expect(quiet.bytes).toBe(10 * 1_000_000);

    const monitored = await metrics.memberLoad(resources(true), now, 3);
    expect(monitored.samples).toHaveLength(3);
    expect(monitored.samples.every((s) => s.tpm === 1234)).toBe(true);
  });

  it('answers a flat low load for a resource nobody set', async () => {
    now = t0 + 3 * MINUTE;
    const load = await new Metrics().memberLoad(resources(true), now, 2);
    expect(load.samples.map((s) => [s.cpuPercent, s.tpm])).toEqual([
      [5, 10],
      [5, 10],
    ]);
  });

  it('turns a service error into an AzureError', async () => {
    now = t0 + 3 * MINUTE;
    faults.add([
      { operation: 'metrics:getBatch:*', kind: 'error', status: 403, code: 'AuthorizationFailed', count: 0 },
    ]);
    await expect(new Metrics().memberLoad(resources(false), now, 2)).rejects.toBeInstanceOf(AzureError);
  });
});
