import type { Registry } from '../../azure/registry';
import type { Decision, Member } from '../../core/membership';

/**
 * Caches that keep the vote door's work independent of the consortium's size: the decisions on each
 * open ballot, refreshed with only the rows written since the last look (vote rows are never changed,
 * and removed only once a ballot has closed), and the member list for a second at a time. The
 * orchestration's own tally reads everything afresh; these only serve answers and the decision to nudge.
 */
const OVERLAP_MS = 5000;
const MEMBERS_TTL_MS = 1000;

const decisions = new Map<
  string,
  { byVoter: Map<string, Decision>; watermark?: Date; refreshing?: Promise<void> }
>();

export async function decisionsOn(registry: Registry, subjectId: string): Promise<Map<string, Decision>> {
  let entry = decisions.get(subjectId);
  if (!entry) decisions.set(subjectId, (entry = { byVoter: new Map() }));
  const e = entry;
  // One refresh at a time per ballot; callers that arrive meanwhile share the next one.
  const run = async () => {
    const since = e.watermark ? new Date(e.watermark.getTime() - OVERLAP_MS) : undefined;
    const rows = await registry.decisionsSince(subjectId, since);
    for (const r of rows) {
      e.byVoter.set(r.voter, r.decision);
      const t = new Date(r.timestamp);
      if (!Number.isNaN(t.getTime()) && (!e.watermark || t > e.watermark)) e.watermark = t;
    }
  };
  const previous = e.refreshing ?? Promise.resolve();
  const mine = previous.then(run, run);
  e.refreshing = mine.finally(() => {
    if (e.refreshing === mine) e.refreshing = undefined;
  });
  await mine;
  return e.byVoter;
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
