import { RestError, type TableClient } from '@azure/data-tables';
import { packJson, unpackJson, wrapStorage } from './tables';

/**
 * Where each member's node lives and what the platform built for it: its consortium-wide slot (which
 * fixes its NSG rule priority on every other member), its Azure placement, the node certificate, and
 * the revoked certificates the CRL lists. Kept apart from the governance registry: this is
 * infrastructure state, written by provisioning and teardown only.
 */

export interface NodeCertificate {
  serial: string;
  thumbprint: string;
  subject: string;
  notAfter: string;
  generation: number;
  /** The audit entry (seq) of the decision the certificate was issued against. */
  decisionSeq: number;
}

export interface MemberPlacement {
  memberId: string;
  slot: number;
  subscriptionId: string;
  resourceGroup: string;
  region: string;
  addressSpace: string;
  vaultUri?: string;
  certificate?: NodeCertificate;
  /** Serials of certificates this member held before the current one (renewals). */
  previousSerials?: string[];
}

export interface RevokedCertificate {
  serial: string;
  memberId: string;
  revokedAt: string;
  reason: string;
}

const PLACEMENT = 'placement';
const REVOKED = 'revoked';
const COUNTER = 'counter';

function isStatus(e: unknown, ...codes: number[]): boolean {
  return e instanceof RestError && codes.includes(e.statusCode ?? 0);
}

export class Placements {
  constructor(private readonly table: () => Promise<TableClient>) {}

  async get(memberId: string): Promise<MemberPlacement | undefined> {
    const t = await this.table();
    try {
      const row = await t.getEntity<Record<string, unknown>>(PLACEMENT, memberId);
      return unpackJson<MemberPlacement>(row, 'Body');
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      wrapStorage('read placement', e);
    }
  }

  async all(): Promise<MemberPlacement[]> {
    const t = await this.table();
    const out: MemberPlacement[] = [];
    try {
      for await (const row of t.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${PLACEMENT}'` },
      })) {
        const p = unpackJson<MemberPlacement>(row, 'Body');
        if (p) out.push(p);
      }
    } catch (e) {
      wrapStorage('list placements', e);
    }
    return out;
  }

  /**
   * The member's placement, created with the next free slot if it has none. Safe under concurrent
   * callers: the slot counter advances by compare-and-swap, and a second creator finds the first's row.
   */
  async ensure(p: Omit<MemberPlacement, 'slot'> & { slot?: number }): Promise<MemberPlacement> {
    const existing = await this.get(p.memberId);
    if (existing) return existing;
    const slot = p.slot ?? (await this.nextSlot());
    const placement: MemberPlacement = { ...p, slot };
    const t = await this.table();
    try {
      await t.createEntity({ partitionKey: PLACEMENT, rowKey: p.memberId, ...packJson('Body', placement) });
      if (p.slot !== undefined) await this.raiseCounter(p.slot + 1);
      return placement;
    } catch (e) {
      if (isStatus(e, 409)) return (await this.get(p.memberId))!;
      wrapStorage('create placement', e);
    }
  }

  async update(memberId: string, change: (p: MemberPlacement) => MemberPlacement): Promise<MemberPlacement> {
    const t = await this.table();
    for (;;) {
      let row: Record<string, unknown> & { etag?: string };
      try {
        row = await t.getEntity<Record<string, unknown>>(PLACEMENT, memberId);
      } catch (e) {
        wrapStorage(`read placement of ${memberId}`, e);
      }
      const next = change(unpackJson<MemberPlacement>(row, 'Body')!);
      try {
        await t.updateEntity(
          { partitionKey: PLACEMENT, rowKey: memberId, ...packJson('Body', next) },
          'Replace',
          { etag: row.etag as string },
        );
        return next;
      } catch (e) {
        if (!isStatus(e, 412)) wrapStorage(`update placement of ${memberId}`, e);
      }
    }
  }

  private async counter(): Promise<{ next: number; etag?: string }> {
    const t = await this.table();
    try {
      const row = await t.getEntity<{ Next: number }>(COUNTER, 'slot');
      return { next: row.Next, etag: row.etag };
    } catch (e) {
      if (isStatus(e, 404)) return { next: 0 };
      wrapStorage('read slot counter', e);
    }
  }

  private async nextSlot(): Promise<number> {
    const t = await this.table();
    for (;;) {
      const { next, etag } = await this.counter();
      const entity = { partitionKey: COUNTER, rowKey: 'slot', Next: next + 1 };
      try {
        if (etag) await t.updateEntity(entity, 'Replace', { etag });
        else await t.createEntity(entity);
        return next;
      } catch (e) {
        if (!isStatus(e, 409, 412)) wrapStorage('advance slot counter', e);
      }
    }
  }

  /** Founders take fixed slots (their order in the config); later joiners must start above them. */
  private async raiseCounter(atLeast: number): Promise<void> {
    const t = await this.table();
    for (;;) {
      const { next, etag } = await this.counter();
      if (next >= atLeast) return;
      const entity = { partitionKey: COUNTER, rowKey: 'slot', Next: atLeast };
      try {
        if (etag) await t.updateEntity(entity, 'Replace', { etag });
        else await t.createEntity(entity);
        return;
      } catch (e) {
        if (!isStatus(e, 409, 412)) wrapStorage('raise slot counter', e);
      }
    }
  }

  async revoke(entry: RevokedCertificate): Promise<void> {
    const t = await this.table();
    try {
      await t.upsertEntity(
        { partitionKey: REVOKED, rowKey: entry.serial, ...packJson('Body', entry) },
        'Replace',
      );
    } catch (e) {
      wrapStorage('record revoked certificate', e);
    }
  }

  async revoked(): Promise<RevokedCertificate[]> {
    const t = await this.table();
    const out: RevokedCertificate[] = [];
    try {
      for await (const row of t.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${REVOKED}'` },
      })) {
        const r = unpackJson<RevokedCertificate>(row, 'Body');
        if (r) out.push(r);
      }
    } catch (e) {
      wrapStorage('list revoked certificates', e);
    }
    return out.sort((a, b) => a.revokedAt.localeCompare(b.revokedAt));
  }
}
