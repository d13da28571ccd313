import { app } from '@azure/functions';
import { consortium } from '../runtime/consortium';
import { startTelemetry } from '../runtime/telemetry';
import { getRegistry } from './edge/services';

/**
 * At start: read and check the consortium file (a bad one stops the app, naming each field), then seed
 * the founders. Storage trouble does not stop the app: seeding is retried on first use of the registry,
 * so /api/health can still report what is wrong.
 */
app.hook.appStart(async () => {
  startTelemetry();
  consortium();
  await getRegistry().catch(() => undefined);
});
