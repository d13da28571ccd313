import type { Registry } from '../../azure/registry';
import type { Decision, MemberStatus } from '../../core/membership';
import { FreshReads } from '../../runtime/coalesce';
import { RecentMap } from '../../runtime/recent';

/**
 * Caches that keep the vote door's work independent of the consortium's size. The orchestration's own
 * tally reads everything afresh; these only serve the door's answers and its decision to nudge.
 *
 * - Decisions on each open ballot: the votes this process records, as storage confirms them
 *   (Registry.onVoteRecorded), plus the rows other processes wrote, read by a door after its own write
 *   and only since the last look (vote rows are never changed nor removed). So of two concurrent doors,
 *   the one whose write was confirmed second counts both. The read is skipped while no other writer has
 *   voted: each of this process's writes since the last read was a sequel of the one before (no other
 *   writer's vote between them), so the last read plus this process's own votes is every vote. A ballot
 *   this process opened starts known, with no votes (Registry.onVotingOpened): its first read is skipped
 *   too while no other writer has voted.
 * - Member statuses, refreshed at most once a second with only the rows written since the last look.
 *
 * `OVERLAP_MS` re-reads rows whose storage timestamp is a little older than the newest one seen, in case
 * a write became visible after a later one.
 */
const OVERLAP_MS = 5000;
const MEMBERS_TTL_MS = 1000;
/** Ballots whose decisions are kept; the oldest looked-at goes first. */
const MAX_BALLOTS = 256;

interface BallotDecisions {
  byVoter: Map<string, Decision>;
  /** Newest storage timestamp among other processes' rows, once a full read has been done. */
  watermark?: Date;
  read: boolean;
  /**
   * Whether a door must read before it counts: until the first read, and after a write of this process
   * that was not a sequel (another writer may have voted). Cleared when a read starts: the read sees
   * every row written before it.
   */
  stale: boolean;
  /** The read under way, if any: it counts for a door whose write was confirmed before it started. */
  reading?: Promise<Map<string, Decision>>;
}

interface RegistryState {
  ballots: RecentMap<string, BallotDecisions>;
  reads: FreshReads<string, Map<string, Decision>>;
  statuses: Map<string, MemberStatus>;
  statusWatermark?: Date;
  statusRead?: { at: number; done: Promise<Map<string, MemberStatus>> };
}

const states = new WeakMap<Registry, RegistryState>();

/** The ballot's entry, made the most recently used (the least recently used is dropped when full). */
function ballotOf(s: RegistryState, subjectId: string): BallotDecisions {
  let e = s.ballots.get(subjectId);
  if (!e) s.ballots.set(subjectId, (e = { byVoter: new Map(), read: false, stale: true }));
  return e;
}

function later(a: Date | undefined, timestamp: string): Date | undefined {
  const t = new Date(timestamp);
  return !Number.isNaN(t.getTime()) && (!a || t > a) ? t : a;
}

function stateOf(registry: Registry): RegistryState {
  const s = states.get(registry);
  if (s) return s;
  const state: RegistryState = {
    ballots: new RecentMap(MAX_BALLOTS),
    statuses: new Map(),
    reads: new FreshReads((subjectId) => {
      const e = ballotOf(state, subjectId);
      e.stale = false;
      const reading = (async () => {
        // The first look reads every row (this process's too: it may have restarted); later ones only
        // other processes' rows, since the last look.
        const since = e.watermark ? new Date(e.watermark.getTime() - OVERLAP_MS) : undefined;
        const rows = await registry.decisionsSince(subjectId, since, e.read);
        for (const r of rows) {
          e.byVoter.set(r.voter, r.decision);
          e.watermark = later(e.watermark, r.timestamp);
        }
        e.read = true;
        return e.byVoter;
      })();
      e.reading = reading;
      const done = () => {
        if (e.reading === reading) e.reading = undefined;
      };
      reading.then(done, () => {
        // Not read after all: the next door reads.
        e.stale = true;
        done();
      });
      return reading;
    }),
  };
  // A ballot this process opened has no votes yet, and its first vote here is a sequel of the opening
  // unless another writer voted first: known in full, unread, until then.
  registry.onVotingOpened((b) => {
    const e = ballotOf(state, b.id);
    if (!e.read && !e.reading) {
      e.read = true;
      e.stale = false;
    }
  });
  registry.onVoteRecorded((v, sequel) => {
    const e = state.ballots.peek(v.subjectId);
    if (!e) return;
    e.byVoter.set(v.voter, v.decision);
    if (!sequel) e.stale = true;
  });
  states.set(registry, state);
  return state;
}

/**
 * The decisions on a ballot, as of after the call: every vote this process recorded before it and every
 * row other processes had written before this process's latest vote on it was recorded (read afresh
 * unless no other writer has voted since the last read).
 */
export function decisionsOn(registry: Registry, subjectId: string): Promise<Map<string, Decision>> {
  const s = stateOf(registry);
  // Known from now on, so this process's votes recorded while the first read runs are kept too.
  const e = ballotOf(s, subjectId);
  if (e.stale) return s.reads.get(subjectId);
  return e.reading ?? Promise.resolve(e.byVoter);
}

/**
 * Starts keeping the decisions on ballots: from now on, those this process opens are known without a read
 * (see Registry.onVotingOpened). Called before a ballot is created; idempotent.
 */
export function trackDecisions(registry: Registry): void {
  stateOf(registry);
}

/** Every member's status, at most a second old. */
export function recentStatuses(registry: Registry): Promise<Map<string, MemberStatus>> {
  const s = stateOf(registry);
  const now = performance.now();
  if (!s.statusRead || now - s.statusRead.at > MEMBERS_TTL_MS) {
    const since = s.statusWatermark ? new Date(s.statusWatermark.getTime() - OVERLAP_MS) : undefined;
    const done = registry.memberStatusesSince(since).then((rows) => {
      for (const r of rows) {
        s.statuses.set(r.id, r.status);
        s.statusWatermark = later(s.statusWatermark, r.timestamp);
      }
      return s.statuses;
    });
    s.statusRead = { at: now, done };
    done.catch(() => {
      if (s.statusRead?.done === done) s.statusRead = undefined;
    });
  }
  return s.statusRead.done;
}
