import { AuditLog } from '../../azure/audit-log';
import { Registry } from '../../azure/registry';
import { table } from '../../azure/tables';
import { consortium, type ConsortiumConfig } from '../../runtime/consortium';
import { readSetting } from '../../runtime/settings';
import { seedFounders } from './seed';

/**
 * The app's adapters, created once per environment (storage account and task hub) and reused by every
 * invocation in the process.
 */
interface Services {
  registry: Promise<Registry>;
  audit: Promise<AuditLog>;
  seeded: Promise<unknown>;
}

const byEnvironment = new Map<string, Services>();

function services(): Services {
  const key = `${readSetting('AzureWebJobsStorage') ?? process.env['AzureWebJobsStorage__accountName']}|${readSetting('TRUSTNET_TASK_HUB')}|${readSetting('TRUSTNET_CONSORTIUM_FILE')}`;
  let s = byEnvironment.get(key);
  if (!s) {
    const registry = Registry.open();
    const audit = table('Audit').then((client) => new AuditLog(client));
    // Founders are seeded, and claims kept as the registry keeps them now, before the registry is first used.
    const seeded = Promise.all([registry, audit]).then(([r, a]) =>
      Promise.all([seedFounders(consortium(), r, a), r.moveLegacyClaims()]),
    );
    s = { registry, audit, seeded };
    byEnvironment.set(key, s);
    // A failure is not cached: the next call tries again.
    seeded.catch(() => byEnvironment.get(key) === s && byEnvironment.delete(key));
  }
  return s;
}

/** The registry, with the founders seeded. */
export async function getRegistry(): Promise<Registry> {
  const s = services();
  await s.seeded;
  return s.registry;
}

export function getAudit(): Promise<AuditLog> {
  return services().audit;
}

export function getConsortium(): ConsortiumConfig {
  return consortium();
}
