import { MetricsClient } from '@azure/monitor-query-metrics';
import type { LoadSample } from '../core/schedule';
import type { ProfileName } from '../core/cost-profiles';
import { azureConnection } from './connection';
import { toAzureError } from './azure-error';

/**
 * A member's load, read from Azure Monitor's metrics batch API (`@azure/monitor-query-metrics`) where it
 * is free whatever the profile: the scale set's `Percentage CPU` and the load balancer's `ByteCount`
 * (platform metrics), plus, when the profile monitors, transactions per minute from Application Insights.
 *
 * The node emits TPM as an Application Insights custom metric named `TPM_METRIC` (namespace
 * `azure.applicationinsights`): one value per committed transaction (or a count per flush), so its
 * one-minute `total` is transactions per minute. Errors leave as AzureError.
 */

const MINUTE = 60_000;
export const CPU_METRIC = 'Percentage CPU';
export const BYTES_METRIC = 'ByteCount';
export const TPM_METRIC = 'trustnet.transactions';
export const SCALE_SET_NAMESPACE = 'Microsoft.Compute/virtualMachineScaleSets';
export const LOAD_BALANCER_NAMESPACE = 'Microsoft.Network/loadBalancers';
export const APP_INSIGHTS_NAMESPACE = 'azure.applicationinsights';

export interface MemberMetricResources {
  region: string;
  scaleSetId: string;
  loadBalancerId: string;
  /** Application Insights component; read only when `monitoring`. */
  appInsightsId?: string;
  monitoring: boolean;
  /** The profile that served each minute (cpu samples carry it; see core/schedule.ts). */
  profileAt: (atMs: number) => ProfileName;
}

export interface MemberLoad {
  /** One sample per minute that has any value, oldest first. */
  samples: LoadSample[];
  /** Bytes through the load balancer in the period (for the record). */
  bytes: number;
}

type Series = Map<number, number>;

export class Metrics {
  private readonly clients = new Map<string, MetricsClient>();

  private client(region: string): MetricsClient {
    let c = this.clients.get(region);
    if (!c) {
      const connection = azureConnection();
      c = new MetricsClient(`https://${region}.metrics.monitor.azure.com`, connection.credential, {
        ...(connection.httpClient ? { httpClient: connection.httpClient } : {}),
        retryOptions: connection.retryOptions,
      });
      this.clients.set(region, c);
    }
    return c;
  }

  /** One metric of one resource, per minute: `aggregation` of each minute from `fromMs` to `toMs`. */
  async series(
    region: string,
    resourceId: string,
    namespace: string,
    metric: string,
    aggregation: 'Average' | 'Total',
    fromMs: number,
    toMs: number,
  ): Promise<Series> {
    let results;
    try {
      results = await this.client(region).queryResources([resourceId], [metric], namespace, {
        startTime: new Date(fromMs),
        endTime: new Date(toMs),
        interval: 'PT1M',
        aggregation,
      });
    } catch (e) {
      throw toAzureError(`read ${metric} of ${resourceId}`, e);
    }
    const out: Series = new Map();
    for (const r of results) {
      for (const m of r.metrics) {
        for (const ts of m.timeseries ?? []) {
          for (const point of ts.data ?? []) {
            const v = aggregation === 'Average' ? point.average : point.total;
            if (typeof v === 'number' && Number.isFinite(v)) out.set(point.timeStamp.getTime(), v);
          }
        }
      }
    }
    return out;
  }

  /** The last `minutes` whole minutes of a member's load, ending at `nowMs`. */
  async memberLoad(r: MemberMetricResources, nowMs: number, minutes: number): Promise<MemberLoad> {
    const toMs = Math.floor(nowMs / MINUTE) * MINUTE;
    const fromMs = toMs - Math.max(1, minutes) * MINUTE;
    const [cpu, bytes, tpm] = await Promise.all([
      this.series(r.region, r.scaleSetId, SCALE_SET_NAMESPACE, CPU_METRIC, 'Average', fromMs, toMs),
      this.series(r.region, r.loadBalancerId, LOAD_BALANCER_NAMESPACE, BYTES_METRIC, 'Total', fromMs, toMs),
      r.monitoring && r.appInsightsId
        ? this.series(r.region, r.appInsightsId, APP_INSIGHTS_NAMESPACE, TPM_METRIC, 'Total', fromMs, toMs)
        : Promise.resolve<Series>(new Map()),
    ]);
    const times = [...new Set([...cpu.keys(), ...tpm.keys()])].sort((a, b) => a - b);
    const samples = times.map((atMs): LoadSample => {
      const s: LoadSample = { atMs, profile: r.profileAt(atMs) };
      const c = cpu.get(atMs);
      const t = tpm.get(atMs);
      if (c !== undefined) s.cpuPercent = c;
      if (t !== undefined) s.tpm = t;
      return s;
    });
    return { samples, bytes: [...bytes.values()].reduce((a, b) => a + b, 0) };
  }
}
