import { armError, type CloudRequest, type CloudResponse } from '../http';
import { faultResponse, type CloudFaults } from '../faults';

/**
 * Azure Monitor's metrics batch API (`POST https://<region>.metrics.monitor.azure.com/subscriptions/<s>/
 * metrics:getBatch?starttime&endtime&interval&metricnamespace&metricnames&aggregation`, body
 * `{ resourceids }`), as `@azure/monitor-query-metrics` calls it, fed by synthetic series: each resource
 * (or each member, matched by the `-<memberId>` its resource names end with) has a value per metric,
 * constant or stepping at given times; unset metrics read a flat low load. One-minute grain only, and
 * only whole minutes already past are answered (as Azure, which has no value for the running minute).
 */

const MINUTE = 60_000;

/** Aliases a test may use for the metrics the platform reads. */
const ALIASES: Record<string, string> = {
  cpu: 'percentage cpu',
  bytes: 'bytecount',
  tpm: 'trustnet.transactions',
};

/** A flat low load: what an idle node shows. */
const DEFAULTS: Record<string, number> = {
  'percentage cpu': 5,
  bytecount: 1_000_000,
  'trustnet.transactions': 10,
};

export interface MetricStep {
  /** From this time (UTC ms or ISO) on, until the next step. */
  from: number | string;
  value: number;
}

export interface MetricFeed {
  resourceId?: string;
  memberId?: string;
  metric: string;
  value?: number;
  series?: MetricStep[];
}

export class MetricsFeedError extends Error {
  readonly code = 'METRICS.FEED_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'MetricsFeedError';
  }
}

function metricKey(name: string): string {
  const n = name.trim().toLowerCase();
  return ALIASES[n] ?? n;
}

function timeOf(v: number | string): number {
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) throw new MetricsFeedError(`step time ${String(v)} is not a time`);
  return ms;
}

export class MetricsEmulator {
  /** target ("res:<id lower>" or "member:<id>") → metric → steps sorted by time. */
  private readonly feeds = new Map<string, Map<string, { fromMs: number; value: number }[]>>();

  constructor(private readonly options: { faults: CloudFaults; now: () => number }) {}

  /** Sets a resource's or member's series for one metric, replacing what was there. */
  set(feed: MetricFeed): void {
    if (!feed || typeof feed !== 'object') throw new MetricsFeedError('Send a JSON object.');
    const target =
      typeof feed.resourceId === 'string'
        ? `res:${feed.resourceId.toLowerCase()}`
        : typeof feed.memberId === 'string'
          ? `member:${feed.memberId}`
          : undefined;
    if (!target) throw new MetricsFeedError('Name a resourceId or a memberId.');
    if (typeof feed.metric !== 'string' || !feed.metric) throw new MetricsFeedError('Name a metric.');
    let steps: { fromMs: number; value: number }[];
    if (typeof feed.value === 'number' && Number.isFinite(feed.value))
      steps = [{ fromMs: 0, value: feed.value }];
    else if (Array.isArray(feed.series)) {
      steps = feed.series.map((s) => {
        if (typeof s?.value !== 'number' || !Number.isFinite(s.value))
          throw new MetricsFeedError('Each step needs a numeric value.');
        return { fromMs: timeOf(s.from), value: s.value };
      });
      steps.sort((a, b) => a.fromMs - b.fromMs);
    } else throw new MetricsFeedError('Send a numeric value or a series of {from, value} steps.');
    let byMetric = this.feeds.get(target);
    if (!byMetric) this.feeds.set(target, (byMetric = new Map()));
    byMetric.set(metricKey(feed.metric), steps);
  }

  clear(): void {
    this.feeds.clear();
  }

  /** The value of a metric for a resource at a time. */
  valueAt(resourceId: string, metric: string, atMs: number): number {
    const key = metricKey(metric);
    const name = resourceId.split('/').pop() ?? '';
    const member = /^[a-z]+-(.+)$/i.exec(name)?.[1];
    const steps =
      this.feeds.get(`res:${resourceId.toLowerCase()}`)?.get(key) ??
      (member ? this.feeds.get(`member:${member}`)?.get(key) : undefined);
    let value = DEFAULTS[key] ?? 0;
    for (const s of steps ?? []) if (s.fromMs <= atMs) value = s.value;
    return value;
  }

  readonly handle = (req: CloudRequest): Promise<CloudResponse> => Promise.resolve(this.answer(req));

  private answer(req: CloudRequest): CloudResponse {
    const m = /^\/subscriptions\/([^/]+)\/metrics:getBatch$/i.exec(req.url.pathname);
    if (!m || req.method !== 'POST')
      return armError(404, 'NotFound', `The local metrics service has no ${req.method} ${req.url.pathname}.`);
    const fault = this.options.faults.take(`metrics:getBatch:${m[1]}`);
    if (fault) return faultResponse(fault, req);
    const q = req.url.searchParams;
    const interval = q.get('interval') ?? 'PT1M';
    if (interval.toUpperCase() !== 'PT1M')
      return armError(400, 'BadRequest', `The local metrics service serves PT1M only, not ${interval}.`);
    const namespace = q.get('metricnamespace') ?? '';
    const names = (q.get('metricnames') ?? '').split(',').filter(Boolean);
    const aggregation = (q.get('aggregation') ?? 'Average').toLowerCase();
    const now = this.options.now();
    const endMs = Math.min(Date.parse(q.get('endtime') ?? '') || now, now);
    const startMs = Date.parse(q.get('starttime') ?? '') || endMs - 60 * MINUTE;
    const ids = (req.json as { resourceids?: unknown })?.resourceids;
    if (!Array.isArray(ids) || ids.length === 0 || !names.length)
      return armError(400, 'BadRequest', 'Send {"resourceids": [...]} and metricnames.');
    const minutes: number[] = [];
    for (let t = Math.ceil(startMs / MINUTE) * MINUTE; t + MINUTE <= endMs; t += MINUTE) minutes.push(t);
    const values = ids.map((id) => {
      const resourceId = String(id);
      return {
        starttime: new Date(startMs).toISOString(),
        endtime: new Date(endMs).toISOString(),
        interval: 'PT1M',
        namespace,
        resourceregion: req.url.hostname.split('.')[0],
        resourceid: resourceId,
        value: names.map((name) => ({
          id: `${resourceId}/providers/Microsoft.Insights/metrics/${name}`,
          type: 'Microsoft.Insights/metrics',
          name: { value: name, localizedValue: name },
          displayDescription: '',
          unit: name.toLowerCase() === 'percentage cpu' ? 'Percent' : 'Count',
          timeseries: [
            {
              metadatavalues: [],
              data: minutes.map((t) => ({
                timeStamp: new Date(t).toISOString(),
                [aggregation === 'total' ? 'total' : 'average']: this.valueAt(resourceId, name, t),
              })),
            },
          ],
          errorCode: 'Success',
        })),
      };
    });
    return { status: 200, body: { values } };
  }
}
