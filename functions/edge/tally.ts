import type { Registry } from '../../azure/registry';
import type { Decision, Member } from '../../core/membership';
import { FreshReads } from '../../runtime/coalesce';

/**
 * Caches that keep the vote door's work independent of the consortium's size: the decisions on each
 * open ballot, refreshed with only the rows written since the last look (vote rows are never changed,
 * and removed only once a ballot has closed), and the member list for a second at a time. The
 * orchestration's own tally reads everything afresh; these only serve answers and the decision to nudge.
 */
const OVERLAP_MS = 5000;
const MEMBERS_TTL_MS = 1000;

const decisions = new Map<string, { byVoter: Map<string, Decision>; watermark?: Date }>();

async function refresh(registry: Registry, subjectId: string): Promise<Map<string, Decision>> {
  let e = decisions.get(subjectId);
  if (!e) decisions.set(subjectId, (e = { byVoter: new Map() }));
  const since = e.watermark ? new Date(e.watermark.getTime() - OVERLAP_MS) : undefined;
  const rows = await registry.decisionsSince(subjectId, since);
  for (const r of rows) {
    e.byVoter.set(r.voter, r.decision);
    const t = new Date(r.timestamp);
    if (!Number.isNaN(t.getTime()) && (!e.watermark || t > e.watermark)) e.watermark = t;
  }
  return e.byVoter;
}

const reads = new WeakMap<Registry, FreshReads<string, Map<string, Decision>>>();

/** The decisions on a ballot, read after the call (so a door sees its own vote and all before it). */
export function decisionsOn(registry: Registry, subjectId: string): Promise<Map<string, Decision>> {
  let r = reads.get(registry);
  if (!r) reads.set(registry, (r = new FreshReads((id) => refresh(registry, id))));
  return r.get(subjectId);
}

export function forgetBallot(subjectId: string): void {
  decisions.delete(subjectId);
}

let members: { at: number; list: Promise<Member[]> } | undefined;

export function recentMembers(registry: Registry): Promise<Member[]> {
  const now = performance.now();
  if (!members || now - members.at > MEMBERS_TTL_MS) {
    const list = registry.allMembers();
    members = { at: now, list };
    list.catch(() => (members = undefined));
  }
  return members.list;
}
