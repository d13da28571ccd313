import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { verifyJws } from '../../core/signed';
import type { Decision, Member, MembershipRequest, Proposal } from '../../core/membership';
import { nowMs } from '../../runtime/clock';
import { telemetry } from '../../runtime/telemetry';
import { NUDGE_EVENT } from '../../orchestrations/ballot';
import { badRequest, conflict, forbidden, json, notFound } from './http';
import { getAudit, getConsortium, getRegistry } from './services';
import { checkPayload, readJws } from './signed';
import { evaluate, type Policy } from '../../core/policy';
import { decisionsOn, recentStatuses, trackDecisions } from './tally';
import { BatchedReads, FreshReads } from '../../runtime/coalesce';
import { RecentMap } from '../../runtime/recent';
import type { Registry } from '../../azure/registry';

/**
 * The vote door, shared by membership requests and proposals: checks run in the contract's order
 * (415, 401, 404, 400, 403, 409); a vote row keyed by ballot and voter makes duplicates impossible even
 * under races, and is written in one transaction with the ballot's guard row, which closing the ballot
 * removes before the final count (Registry.openVoting / closeVoting), so no vote lands after it; the
 * orchestration is then nudged to re-count.
 *
 * Reads are shared by concurrent doors but always fresh (each door's read starts after it asked): the
 * voter's record, and the ballot's phase before the vote row is written. What a ballot never changes
 * once opened (its kind, subject, electorate, policy and deadline) is kept in memory.
 */

type Kind = 'request' | 'proposal';

/** The parts of a ballot that are fixed when it opens. */
interface BallotFacts {
  subject: string;
  eligible: readonly string[];
  eligibleSet: ReadonlySet<string>;
  policy: Policy;
  deadlineMs: number;
}

const MAX_FACTS = 1024;
/** Member ids as schemas/defs.schema.json defines them: any other `kid` names no member, unread. */
const MEMBER_ID = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

interface DoorState {
  /** Kept for the ballots voted on most recently; a dropped ballot's phase note goes with it. */
  facts: RecentMap<string, BallotFacts>;
  /** The newest phase read of each ballot whose facts are kept, and when (platform time) it started. */
  seen: Map<string, { phase: string | undefined; startedAt: number }>;
  ballots: FreshReads<string, MembershipRequest | Proposal | undefined>;
  phases: FreshReads<string, string | undefined>;
  members: BatchedReads<string, Member>;
  nudges: FreshReads<string, void>;
  /** The durable client (any invocation's serves) and voter the next nudge of each ballot names. */
  nudgers: Map<string, { client: DurableClient; voter: string }>;
}

const doors = new WeakMap<Registry, DoorState>();

function splitKey(key: string): [Kind, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i) as Kind, key.slice(i + 1)];
}

function doorOf(registry: Registry): DoorState {
  let d = doors.get(registry);
  if (!d) {
    const seen: DoorState['seen'] = new Map();
    const door: DoorState = {
      facts: new RecentMap(MAX_FACTS, (dropped) => seen.delete(dropped)),
      seen,
      ballots: new FreshReads((key) => {
        const [kind, id] = splitKey(key);
        return kind === 'request'
          ? registry.getRequest(id)
          : (registry.getProposal(id) as Promise<MembershipRequest | Proposal | undefined>);
      }),
      phases: new FreshReads(async (key) => {
        const startedAt = nowMs();
        const phase = await registry.ballotPhase(...splitKey(key));
        if (door.facts.has(key)) notePhase(door, key, phase, startedAt);
        return phase;
      }),
      members: new BatchedReads((ids) => registry.getMembers(ids)),
      nudgers: new Map(),
      nudges: new FreshReads(async (id) => {
        const n = door.nudgers.get(id);
        door.nudgers.delete(id);
        if (n) await n.client.raiseEvent(id, NUDGE_EVENT, { voter: n.voter });
      }),
    };
    doors.set(registry, (d = door));
    // A ballot this process created is known without reading it back: its facts, and its phase (voting).
    registry.onVotingOpened((b) => {
      const key = `${b.kind}:${b.id}`;
      remember(door, key, factsOf(b));
      notePhase(door, key, b.phase, nowMs());
    });
    trackDecisions(registry);
  }
  return d;
}

/**
 * Makes the vote door ready for the ballots about to be created here, so that their first votes need not
 * read them (see Registry.onVotingOpened). Called by the doors that create ballots, before they do.
 */
export function expectBallots(registry: Registry): void {
  doorOf(registry);
}

/** Keeps a phase read (or known) as of `startedAt`, unless a read that started later was kept already. */
function notePhase(door: DoorState, key: string, phase: string | undefined, startedAt: number): void {
  const last = door.seen.get(key);
  if (!last || last.startedAt < startedAt) door.seen.set(key, { phase, startedAt });
}

/** Keeps a ballot's facts unless some are kept already; answers the facts kept. */
function remember(door: DoorState, key: string, facts: BallotFacts): BallotFacts {
  const kept = door.facts.get(key);
  if (kept) return kept;
  door.facts.set(key, facts);
  return facts;
}

function factsOf(b: MembershipRequest | Proposal): BallotFacts {
  return {
    subject: b.kind === 'request' ? b.applicant.id : b.subject,
    eligible: b.eligible,
    eligibleSet: new Set(b.eligible),
    policy: b.policy,
    deadlineMs: Date.parse(b.deadline),
  };
}

/**
 * The ballot's fixed facts and its phase (undefined if there is no such ballot), for the check before the
 * vote row is written: the newest phase seen, however old; otherwise one read after the call. That check
 * only spares late votes a write: the ballot's guard row, written with the vote, is what refuses a vote
 * the ballot closed before (a ballot that has closed stays closed), and a refused write reads the phase
 * afresh, so the next late vote is refused unwritten. Re-reading a `voting` phase before each write cost
 * a read per vote when many ballots were open at once (each ballot's read went stale between its votes).
 */
async function readBallot(
  door: DoorState,
  kind: Kind,
  id: string,
): Promise<{ facts: BallotFacts; phase: string } | undefined> {
  const key = `${kind}:${id}`;
  const known = door.facts.get(key);
  if (known) {
    const seen = door.seen.get(key);
    if (seen?.phase !== undefined) return { facts: known, phase: seen.phase };
    const phase = await door.phases.get(key);
    return phase === undefined ? undefined : { facts: known, phase };
  }
  const startedAt = nowMs();
  const b = await door.ballots.get(key);
  if (!b) return undefined;
  const facts = remember(door, key, factsOf(b));
  notePhase(door, key, b.phase, startedAt);
  return { facts, phase: b.phase };
}

/**
 * Wakes the orchestration to re-count. Doors that ask at the same time share one nudge that is sent after
 * all of them asked (as FreshReads shares reads), so the tally it causes counts all their votes.
 */
function nudge(door: DoorState, id: string, client: DurableClient, voter: string): Promise<void> {
  door.nudgers.set(id, { client, voter });
  return door.nudges.get(id);
}

/** Fresh phase of a ballot whose facts are known. */
async function readPhase(door: DoorState, kind: Kind, id: string): Promise<string | undefined> {
  return door.phases.get(`${kind}:${id}`);
}

export async function castVote(
  kind: Kind,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const parsed = await readJws(request, 'kid');
  const registry = await getRegistry();
  const door = doorOf(registry);
  const id = request.params['id'] ?? '';
  // Both reads at once: the answers are used in the contract's order below.
  const kid = parsed.kid!;
  const [voter, ballot] = await Promise.all([
    MEMBER_ID.test(kid) ? door.members.get(kid) : undefined,
    readBallot(door, kind, id),
  ]);
  if (voter) await verifyJws(parsed, voter.governanceKey);
  if (!ballot)
    throw notFound(
      kind === 'request' ? 'REQUEST.NOT_FOUND' : 'PROPOSAL.NOT_FOUND',
      `No ${kind === 'request' ? 'membership request' : 'proposal'} ${id}.`,
    );
  const { facts } = ballot;

  const payload = parsed.payload;
  checkPayload('vote', payload, getConsortium().name);
  if (payload['requestId'] !== id)
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `The vote names ${String(payload['requestId'])} but was sent to ${id}.`,
    );
  if (payload['voter'] !== parsed.kid)
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `The vote's voter (${String(payload['voter'])}) is not the signer named by kid (${parsed.kid}).`,
    );

  if (!voter) throw forbidden('VOTER.NOT_MEMBER', `${parsed.kid} is not a member of this consortium.`);
  if (voter.status !== 'ACTIVE')
    throw forbidden('VOTER.NOT_ACTIVE', `${voter.id} is ${voter.status} and cannot vote.`);
  if (voter.id === facts.subject)
    throw forbidden('VOTER.IS_SUBJECT', `${voter.id} is the subject of this ${kind} and cannot vote on it.`);
  if (!facts.eligibleSet.has(voter.id))
    throw forbidden('VOTER.NOT_ACTIVE', `${voter.id} was not an active member when this ${kind} opened.`);

  if (ballot.phase !== 'voting' || nowMs() >= facts.deadlineMs)
    throw conflict(
      'VOTE.CLOSED',
      `Voting on ${id} is closed (${ballot.phase === 'voting' ? 'the deadline has passed' : ballot.phase}).`,
    );

  const at = new Date(nowMs()).toISOString();
  const decision = payload['decision'] as Decision;
  const reason = String(payload['reason']);
  const vote = { subjectId: id, voter: voter.id, decision, reason, at, jws: parsed.jws };
  let written = await registry.addVote(vote);
  // A refused write reads the phase afresh: it names the phase in the answer, and is kept for the next
  // late vote, which is then refused before its write.
  const phase = written === 'closed' ? await readPhase(door, kind, id) : undefined;
  if (written === 'closed' && phase === 'voting') {
    // No guard row although the ballot is voting: a ballot opened before guard rows existed. Open it now
    // (a no-op if it was opened or closed before: then the retry below is refused) and write again.
    await registry.openVoting(id);
    written = await registry.addVote(vote);
  }
  // The guard row was gone when the row was to be written: the ballot closed before this vote.
  if (written === 'closed')
    throw conflict(
      'VOTE.CLOSED',
      `Voting on ${id} is closed${phase && phase !== 'voting' ? ` (${phase})` : ''}.`,
    );
  if (written === 'duplicate') throw conflict('VOTE.DUPLICATE', `${voter.id} has already voted on ${id}.`);
  // The door's own count (below) is read after the write: of concurrent doors, the one whose vote was
  // recorded last sees every vote.
  const [byVoter, statuses] = await Promise.all([decisionsOn(registry, id), recentStatuses(registry)]);
  const audit = await getAudit();
  await audit.append(
    {
      kind: 'vote.accepted',
      subject: id,
      actor: voter.id,
      jws: parsed.jws,
      data: { subjectId: id, voter: voter.id, decision },
    },
    () => new Date(nowMs()),
  );

  // The door's own count answers the voter and decides whether the orchestration needs waking: once
  // the outcome is certain. Of concurrent doors, the one whose vote was recorded last sees every vote.
  let eligible = 0;
  let approve = 0;
  let reject = 0;
  for (const v of facts.eligible) {
    if (statuses.get(v) !== 'ACTIVE' && v !== voter.id) continue;
    eligible++;
    const d = byVoter.get(v);
    if (d === 'approve') approve++;
    else if (d === 'reject') reject++;
  }
  const { tally, outcome } = evaluate(facts.policy, eligible, approve, reject);
  telemetry.vote(decision);
  if (outcome) await nudge(door, id, df.getClient(context), voter.id);
  return json(202, { id, voter: voter.id, decision, tally });
}
