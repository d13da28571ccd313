import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { json } from '../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
} from '../test/trustnet';
import { logEvent, resetTelemetryForTests, startTelemetry, telemetry } from './telemetry';

/** Sums a counter's points whose attributes include `match`. */
async function count(reader: PeriodicExportingMetricReader, name: string, match: Record<string, string>) {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics)
      if (metric.descriptor.name === name)
        for (const p of metric.dataPoints)
          if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) total += Number(p.value);
  return total;
}

describe('telemetry', () => {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  beforeAll(() => {
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    resetTelemetryForTests();
  });
  afterAll(() => metrics.disable());

  it('stays off without an Application Insights connection string', () => {
    expect(startTelemetry({})).toBe(false);
  });

  it('counts requests by function and status, and votes, from the running app', async () => {
    const c = await testConsortium();
    const host = await startTrustNet(c.file);
    try {
      expect((await fetch(`${host.url}/api/members`)).status).toBe(200);
      expect((await fetch(`${host.url}/api/members/nobody`)).status).toBe(404);
      const key = await newBank('applicant');
      const payload = applicantPayload(c.config.name, new Date(host.clock.now()));
      await joseRequest(
        `${host.url}/api/membership-requests`,
        await sign(payload, key.privateKey, { jwk: key.publicJwk }),
      );
      const vote = await joseRequest(
        `${host.url}/api/membership-requests/${payload.requestId}/votes`,
        await sign(
          {
            consortium: c.config.name,
            requestId: payload.requestId,
            voter: 'bank-a',
            decision: 'reject',
            reason: 'no',
            issuedAt: new Date(host.clock.now()).toISOString(),
          },
          c.banks['bank-a']!.privateKey,
          { kid: 'bank-a' },
        ),
      );
      expect((await json(vote)).tally.reject).toBe(1);
    } finally {
      await host.stop();
    }
    expect(await count(reader, 'trustnet.http.requests', { function: 'memberList', status: '2xx' })).toBe(1);
    expect(await count(reader, 'trustnet.http.requests', { function: 'memberGet', status: '4xx' })).toBe(1);
    expect(await count(reader, 'trustnet.votes', { result: 'reject' })).toBe(1);
    // A refusal is one structured line with the invocation id and the code, never the request.
    const problem = host.logs.records
      .map((r) => r.message)
      .find((m) => m.includes('"http.problem"') && m.includes('MEMBER.NOT_FOUND'));
    expect(JSON.parse(problem!)).toMatchObject({
      event: 'http.problem',
      function: 'memberGet',
      status: 404,
      code: 'MEMBER.NOT_FOUND',
      invocationId: expect.any(String),
    });
  });

  it('records onboarding durations, scaling changes and notification failures', async () => {
    telemetry.onboarded(2700);
    telemetry.onboarded(Number.NaN);
    telemetry.scaled('Small', 'Large');
    telemetry.notificationFailed('teams', 'CHANNEL.DEAD');
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const onboarding = all.find((m) => m.descriptor.name === 'trustnet.onboarding.duration')!;
    expect((onboarding.dataPoints[0]!.value as { count: number; sum: number }).count).toBe(1);
    expect(await count(reader, 'trustnet.scaling.changes', { from: 'Small', to: 'Large' })).toBe(1);
    expect(
      await count(reader, 'trustnet.notifications.failures', { channel: 'teams', code: 'CHANNEL.DEAD' }),
    ).toBe(1);
  });

  it('writes structured log lines with the invocation id', () => {
    const lines: string[] = [];
    logEvent({ log: (l: unknown) => lines.push(String(l)), invocationId: 'inv-1' }, 'member.active', {
      memberId: 'bank-d',
    });
    expect(JSON.parse(lines[0]!)).toEqual({
      event: 'member.active',
      invocationId: 'inv-1',
      memberId: 'bank-d',
    });
  });
});
