import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { probeStorage, storageTarget } from '../azure/storage';
import { clockKind, now, onLocalHost } from '../runtime/clock';
import { ConfigError } from '../runtime/settings';
import { problemResponse } from '../runtime/problem';
import { appVersion } from '../runtime/version';

/**
 * GET /api/health: the version and the backends in use, with a live check of storage. 200 when storage
 * answers, 503 when it does not, so a load balancer or `azd` smoke test can rely on the status alone.
 */
export async function health(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  let target;
  try {
    target = storageTarget();
  } catch (e) {
    if (e instanceof ConfigError) {
      context.error(e.message);
      return problemResponse({
        status: 503,
        code: e.code,
        title: 'Storage is not configured',
        detail: e.message,
      });
    }
    throw e;
  }
  const storage = await probeStorage(target.client);
  const healthy = storage.reachable;
  return {
    status: healthy ? 200 : 503,
    jsonBody: {
      status: healthy ? 'ok' : 'degraded',
      version: appVersion,
      time: now().toISOString(),
      backends: {
        host: onLocalHost() ? 'trustnet-local-host' : 'azure-functions',
        clock: clockKind(),
        storage: { kind: target.kind, endpoint: target.tableEndpoint, ...storage },
      },
    },
  };
}

app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: health });
