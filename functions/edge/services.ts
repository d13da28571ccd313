import { AuditLog } from '../../azure/audit-log';
import { Registry } from '../../azure/registry';
import { table } from '../../azure/tables';
import { consortium, type ConsortiumConfig } from '../../runtime/consortium';
import { seedFounders } from './seed';

/** The app's adapters, created once per process from its settings. */
let registry: Promise<Registry> | undefined;
let audit: Promise<AuditLog> | undefined;

let seeded: Promise<unknown> | undefined;

/** The registry, with the founders seeded (once per process; retried after a failure). */
export function getRegistry(): Promise<Registry> {
  registry ??= Registry.open().catch((e: unknown) => {
    registry = undefined;
    throw e;
  });
  seeded ??= registry
    .then(async (r) => seedFounders(consortium(), r, await getAudit()))
    .catch((e: unknown) => {
      seeded = undefined;
      throw e;
    });
  return seeded.then(() => registry!);
}

export function getAudit(): Promise<AuditLog> {
  audit ??= table('Audit')
    .then((client) => new AuditLog(client))
    .catch((e: unknown) => {
      audit = undefined;
      throw e;
    });
  return audit;
}

export function getConsortium(): ConsortiumConfig {
  return consortium();
}
