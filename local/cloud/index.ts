import type { TableClient } from '@azure/data-tables';
import { installLocalCloud } from '../../azure/connection';
import { ArmEmulator } from './arm';
import { CloudFaults, FaultSpecError, parseFaults } from './faults';
import { cloudHttpClient, LocalCloudCredential, type CloudRequest, type CloudResponse } from './http';
import { KeyVaultEmulator } from './keyvault';
import { EmailEmulator, Outbox } from './email';
import { MetricsEmulator, MetricsFeedError, type MetricFeed } from './metrics';

/**
 * The local cloud: Resource Manager and Key Vault emulators behind one SDK `httpClient`, their state in
 * Azurite tables (a restart keeps it), faults that tests and people inject per operation, and the admin
 * routes `npm start` serves at /admin/cloud/*.
 */

export interface LocalCloudOptions {
  tables: (suffix: string) => Promise<TableClient>;
  now: () => number;
  latencyFactor: number;
}

export interface AdminAnswer {
  status: number;
  body?: unknown;
}

export class LocalCloud {
  readonly faults = new CloudFaults();
  readonly arm: ArmEmulator;
  readonly vault: KeyVaultEmulator;
  /** Every email the emulated Communication Services sent and every Teams card the platform posted. */
  readonly outbox: Outbox;
  readonly email: EmailEmulator;
  /** Azure Monitor metrics, fed by settable synthetic series (POST /admin/cloud/metrics). */
  readonly metrics: MetricsEmulator;

  constructor(options: LocalCloudOptions) {
    this.outbox = new Outbox({ table: () => options.tables('CloudOutbox'), now: options.now });
    this.email = new EmailEmulator({
      faults: this.faults,
      outbox: this.outbox,
      now: options.now,
      latencyFactor: options.latencyFactor,
    });
    this.metrics = new MetricsEmulator({ faults: this.faults, now: options.now });
    this.arm = new ArmEmulator({
      tables: options.tables,
      faults: this.faults,
      now: options.now,
      latencyFactor: options.latencyFactor,
    });
    this.vault = new KeyVaultEmulator({
      tables: options.tables,
      faults: this.faults,
      now: options.now,
      latencyFactor: options.latencyFactor,
    });
  }

  /** Every SDK request lands here; the host name says which service it was for. */
  readonly handle = (request: CloudRequest): Promise<CloudResponse> => {
    const host = request.url.hostname.toLowerCase();
    if (host === 'management.azure.com') return this.arm.handle(request);
    if (host.endsWith('.vault.azure.net')) return this.vault.handle(request);
    if (host.endsWith('.communication.azure.com')) return this.email.handle(request);
    if (host.endsWith('.metrics.monitor.azure.com')) return this.metrics.handle(request);
    return Promise.resolve({
      status: 404,
      body: { error: { code: 'NotEmulated', message: `The local cloud does not emulate ${host}.` } },
    });
  };

  /** Points the app's Azure adapters at this cloud (they read it from a process-wide handle). */
  install(): void {
    installLocalCloud({
      httpClient: cloudHttpClient(this.handle),
      credential: new LocalCloudCredential(),
      recordCard: (card) => this.outbox.recordCard(card).then(() => undefined),
    });
  }

  uninstall(): void {
    installLocalCloud(undefined);
  }

  /**
   * GET /admin/cloud/resources, GET|POST|DELETE /admin/cloud/faults, POST /admin/cloud/resource-groups,
   * GET /admin/cloud/outbox, POST /admin/cloud/metrics.
   */
  async admin(method: string, path: string, body: string): Promise<AdminAnswer | undefined> {
    if (path === '/admin/cloud/outbox' && method === 'GET') {
      return { status: 200, body: { items: await this.outbox.list() } };
    }
    if (path === '/admin/cloud/metrics' && method === 'POST') {
      // A test or a person sets load: { resourceId | memberId, metric, value | series: [{from, value}] }.
      try {
        const feeds = JSON.parse(body || 'null') as MetricFeed | MetricFeed[];
        for (const feed of Array.isArray(feeds) ? feeds : [feeds]) this.metrics.set(feed);
      } catch (e) {
        const detail =
          e instanceof MetricsFeedError
            ? e.message
            : 'Send {"resourceId" or "memberId", "metric", "value" or "series"}.';
        return {
          status: 400,
          body: { code: 'METRICS.FEED_INVALID', title: 'Bad Request', status: 400, detail },
        };
      }
      return { status: 204 };
    }
    if (path === '/admin/cloud/resources' && method === 'GET') {
      const [arm, vaults] = await Promise.all([this.arm.snapshot(), this.vault.snapshot()]);
      return { status: 200, body: { ...arm, vaults } };
    }
    if (path === '/admin/cloud/faults') {
      if (method === 'GET') return { status: 200, body: { faults: this.faults.list() } };
      if (method === 'DELETE') {
        this.faults.clear();
        return { status: 204 };
      }
      if (method === 'POST') {
        try {
          this.faults.add(parseFaults(JSON.parse(body || 'null')));
        } catch (e) {
          const detail = e instanceof FaultSpecError ? e.message : 'Send a JSON fault or list of faults.';
          return { status: 400, body: { code: 'FAULT.INVALID', title: 'Bad Request', status: 400, detail } };
        }
        return { status: 200, body: { faults: this.faults.list() } };
      }
      return {
        status: 405,
        body: { code: 'HOST.METHOD_NOT_ALLOWED', title: 'Method Not Allowed', status: 405 },
      };
    }
    if (path === '/admin/cloud/resource-groups' && method === 'POST') {
      // What a bank does in its own subscription before it applies: create the group and delegate it.
      let input: {
        subscriptionId?: unknown;
        resourceGroup?: unknown;
        location?: unknown;
        delegated?: unknown;
      };
      try {
        input = JSON.parse(body || 'null') as typeof input;
      } catch {
        input = {};
      }
      const { subscriptionId, resourceGroup, location } = input ?? {};
      if (
        typeof subscriptionId !== 'string' ||
        typeof resourceGroup !== 'string' ||
        typeof location !== 'string'
      )
        return {
          status: 400,
          body: {
            code: 'CLOUD.BAD_REQUEST',
            title: 'Bad Request',
            status: 400,
            detail: 'Send {"subscriptionId", "resourceGroup", "location", "delegated"?: boolean}.',
          },
        };
      await this.arm.prepareResourceGroup({
        subscriptionId,
        resourceGroup,
        location,
        delegated: input.delegated !== false,
      });
      return {
        status: 201,
        body: { subscriptionId, resourceGroup, location, delegated: input.delegated !== false },
      };
    }
    return undefined;
  }
}
