import { metrics, type Counter, type Histogram } from '@opentelemetry/api';
import { readSetting } from './settings';

/**
 * Telemetry: OpenTelemetry metrics the platform records, exported to Application Insights through the
 * Azure Monitor distro when APPLICATIONINSIGHTS_CONNECTION_STRING is set (in Azure, with the app's
 * managed identity: the template turns local auth off). Without it the instruments are the API's
 * no-ops, so recording costs nothing locally. Structured log lines (`logEvent`) carry the invocation id
 * and, from orchestrations, the instance id; orchestrators log only when not replaying.
 */

let started = false;

/** Starts the Azure Monitor exporter once, if configured. Never throws: telemetry must not stop the app. */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): boolean {
  if (started) return true;
  const connectionString = readSetting('APPLICATIONINSIGHTS_CONNECTION_STRING', env);
  if (!connectionString) return false;
  try {
    // Loaded only when used: the distro is large and patches modules as it loads.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { useAzureMonitor } =
      require('@azure/monitor-opentelemetry') as typeof import('@azure/monitor-opentelemetry');
    const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
    /* eslint-enable @typescript-eslint/no-require-imports */
    useAzureMonitor({
      azureMonitorExporterOptions: {
        connectionString,
        // Entra ID auth (the template disables the ingestion key): the app's user-assigned identity.
        credential: new DefaultAzureCredential(),
      },
    });
    started = true;
  } catch (e) {
    console.warn(`Telemetry could not start: ${(e as Error)?.message ?? e}`);
  }
  return started;
}

interface Instruments {
  requests: Counter;
  votes: Counter;
  onboarding: Histogram;
  scaling: Counter;
  notificationFailures: Counter;
}

let instruments: Instruments | undefined;

/** Instruments are made on first use, after startTelemetry has installed a provider (or not). */
function meter(): Instruments {
  if (instruments) return instruments;
  const m = metrics.getMeter('trustnet');
  instruments = {
    requests: m.createCounter('trustnet.http.requests', {
      description: 'HTTP requests answered, by function and status class.',
    }),
    votes: m.createCounter('trustnet.votes', { description: 'Votes at the door, by result.' }),
    onboarding: m.createHistogram('trustnet.onboarding.duration', {
      description: 'From approval to an ACTIVE member.',
      unit: 's',
    }),
    scaling: m.createCounter('trustnet.scaling.changes', { description: 'Scale set profile changes.' }),
    notificationFailures: m.createCounter('trustnet.notifications.failures', {
      description: 'Notification deliveries that failed for good, by channel and code.',
    }),
  };
  return instruments;
}

/** For tests that install their own meter provider: instruments are made again from it. */
export function resetTelemetryForTests(): void {
  instruments = undefined;
}

export const telemetry = {
  request(functionName: string, status: number): void {
    meter().requests.add(1, { function: functionName, status: `${Math.floor(status / 100)}xx` });
  },
  vote(result: 'accepted' | string): void {
    meter().votes.add(1, { result });
  },
  onboarded(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) meter().onboarding.record(seconds);
  },
  scaled(from: string, to: string): void {
    meter().scaling.add(1, { from, to });
  },
  notificationFailed(channel: string, code: string): void {
    meter().notificationFailures.add(1, { channel, code });
  },
};

/** A structured log line: one JSON object, with what makes it findable. Never put a secret in fields. */
export function logEvent(
  context: { log(...args: unknown[]): void; invocationId?: string },
  event: string,
  fields: Record<string, unknown> = {},
): void {
  context.log(JSON.stringify({ event, invocationId: context.invocationId, ...fields }));
}
