import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import {
  activeMemberIds,
  countVotes,
  PROPOSAL_TRANSITIONS,
  requestClaims,
  type Ballot,
  type Member,
  type MembershipRequest,
  type Outcome,
  type Phase,
  type Proposal,
} from '../core/membership';
import { evaluate, type Tally } from '../core/policy';
import { getAudit, getRegistry } from '../functions/edge/services';
import type { Registry, Tagged } from '../azure/registry';
import { nowMs } from '../runtime/clock';
import { startProvisioning } from './provision';
import { startRemoval } from './teardown';
import { notify } from './notify';
import { ballotDecided, ballotOpened, memberRef } from './notify-events';

/**
 * One ballot: a membership request or a proposal. Votes are recorded at the door (one row per voter);
 * the orchestration is nudged by a `nudge` event, re-counts through an activity (the vote rows stay the
 * one source of truth), decides as soon as the outcome is certain, and otherwise expires at the
 * deadline, a durable timer. Instance id = request or proposal id. Versioned: a change to the yield
 * sequence gets a new name, so ballots in flight (up to 90 days) finish on the code they started on.
 */
export const BALLOT_ORCHESTRATOR = 'ballotV2';
/** Ballots started before V2 finish on V1, which counts and closes in two activities. */
export const LEGACY_BALLOT_ORCHESTRATOR = 'ballotV1';
export const OPEN_BALLOT = 'ballotOpenV1';
/** Counts, and closes in the same activity once the outcome is certain (V2). */
export const DECIDE_BALLOT = 'ballotDecideV1';
export const TALLY_BALLOT = 'ballotTallyV1';
export const CLOSE_BALLOT = 'ballotCloseV1';
/** Raised by the vote door after a vote row is written, and when eligibility changes. */
export const NUDGE_EVENT = 'nudge';
/** Raised by a signed withdrawal. */
export const WITHDRAW_EVENT = 'withdraw';

export interface BallotRef {
  kind: 'request' | 'proposal';
  id: string;
}

export interface BallotState {
  phase: string;
  tally: Tally;
  deadline: string;
  outcome?: Outcome;
}

// ---------------------------------------------------------------- orchestrator

const retry = new df.RetryOptions(2000, 5);
retry.backoffCoefficient = 2;

/**
 * A ballot counts through `count` at each nudge. V2 counts with DECIDE_BALLOT, which also closes once the
 * outcome is certain: a decision costs one activity and one episode fewer than in V1 (TALLY_BALLOT, then
 * CLOSE_BALLOT), which matters when many small ballots decide at once. V1 runs unchanged for the ballots
 * that started on it.
 */
const ballot = (count: string, countCloses: boolean): OrchestrationHandler =>
  function* (context: OrchestrationContext) {
    const ref = context.df.getInput<BallotRef>();
    let state: BallotState = yield context.df.callActivityWithRetry(OPEN_BALLOT, retry, ref);
    const deadline = context.df.createTimer(new Date(state.deadline));
    let outcome = state.outcome;
    let closed: BallotState | undefined;
    while (!outcome) {
      context.df.setCustomStatus({ phase: 'voting', tally: state.tally, deadline: state.deadline });
      const nudge = context.df.waitForExternalEvent(NUDGE_EVENT);
      const withdraw = context.df.waitForExternalEvent(WITHDRAW_EVENT);
      const winner = yield context.df.Task.any([nudge, withdraw, deadline]);
      if (winner === deadline) outcome = 'expired';
      else if (winner === withdraw) outcome = 'withdrawn';
      else {
        state = yield context.df.callActivityWithRetry(count, retry, ref);
        outcome = state.outcome;
        if (outcome && countCloses) closed = state;
      }
    }
    if (!deadline.isCompleted) deadline.cancel();
    closed ??= (yield context.df.callActivityWithRetry(CLOSE_BALLOT, retry, {
      ...ref,
      outcome,
    })) as BallotState;
    context.df.setCustomStatus({ phase: closed.phase, tally: closed.tally, deadline: closed.deadline });
    return closed;
  };

// ---------------------------------------------------------------- activities

/** The ballot's record with its row's ETag, so that closing it can write it without reading it again. */
async function load(ref: BallotRef): Promise<Tagged<MembershipRequest | Proposal>> {
  const registry = await getRegistry();
  const found =
    ref.kind === 'request'
      ? await registry.getTaggedRequest(ref.id)
      : await registry.getTaggedProposal(ref.id);
  if (!found) throw new Error(`${ref.kind} ${ref.id} is not in the registry.`);
  return found;
}

/**
 * Counts the votes of those still eligible: eligible when the ballot opened and ACTIVE now. It reads only
 * each vote's decision and each member's status, not their bodies (a signed vote, a member's keys and
 * contacts), which made the count cost as much as reading the whole consortium.
 */
export async function currentTally(
  b: Ballot,
  /** Ids of the ACTIVE members as the deciding count read them; read afresh when not given. */
  activeIds?: ReadonlySet<string>,
  /** The ballot's vote rows, read afresh by the caller; read here when not given. */
  rows?: Promise<Awaited<ReturnType<Registry['decisionsSince']>>>,
): Promise<{
  tally: Tally;
  outcome?: 'approved' | 'rejected';
  eligibleNow: string[];
  active: ReadonlySet<string>;
}> {
  const registry = await getRegistry();
  const [decisions, statuses] = await Promise.all([
    rows ?? registry.decisionsSince(b.id),
    activeIds ? undefined : registry.memberStatusesSince(),
  ]);
  // Vote rows written before the Decision column existed carry the decision only in their body.
  const votes = decisions.every((d) => d.decision === 'approve' || d.decision === 'reject')
    ? decisions
    : await registry.votesOn(b.id);
  const active = activeIds ?? activeMemberIds(statuses!);
  const eligibleNow = b.eligible.filter((id) => active.has(id));
  const { approve, reject } = countVotes(votes, eligibleNow);
  const result = evaluate(b.policy, eligibleNow.length, approve, reject);
  return { tally: result.tally, outcome: result.outcome, eligibleNow, active };
}

function stateOf(b: MembershipRequest | Proposal, tally: Tally, outcome?: Outcome): BallotState {
  return { phase: b.phase, tally, deadline: b.deadline, outcome };
}

export async function openBallot(ref: BallotRef, context?: InvocationContext): Promise<BallotState> {
  const b = (await load(ref)).value;
  const registry = await getRegistry();
  const record = b as (MembershipRequest | Proposal) & { audited?: boolean };
  if (!record.audited) {
    const audit = await getAudit();
    const at = () => new Date(nowMs());
    if (b.kind === 'request') {
      await audit.append(
        {
          kind: 'request.received',
          subject: b.id,
          actor: `applicant:${b.applicant.id}`,
          jws: b.jws,
          data: { requestId: b.id, applicantId: b.applicant.id, keyThumbprint: b.keyThumbprint },
        },
        at,
      );
      await registry.updateRequest(b.id, (r) => ({ ...r, audited: true }) as MembershipRequest);
    } else {
      await audit.append(
        {
          kind: 'proposal.opened',
          subject: b.id,
          actor: b.proposer,
          jws: b.jws,
          data: { proposalId: b.id, action: b.action, subject: b.subject },
        },
        at,
      );
      await registry.updateProposal(b.id, (p) => ({ ...p, audited: true }) as Proposal);
    }
  }
  const { tally, outcome } = await currentTally(b);
  // Voters hear of it at once (an activity re-run asks again; the event id makes that a no-op).
  if (context && b.phase === 'voting') {
    const subject = b.kind === 'proposal' ? await registry.getMember(b.subject) : undefined;
    await notify(df.getClient(context), await ballotOpened(b, tally, subject), context);
  }
  return stateOf(b, tally, b.phase === 'voting' ? outcome : (b.outcome ?? outcome));
}

export async function tallyBallot(ref: BallotRef): Promise<BallotState> {
  const b = (await load(ref)).value;
  const { tally, outcome } = await currentTally(b);
  return stateOf(b, tally, outcome);
}

/** Counts; once the outcome is certain, closes the ballot (see closeBallot) and returns it closed. */
export async function decideBallot(ref: BallotRef, context: InvocationContext): Promise<BallotState> {
  // The members whole, not only their statuses: a count that decides goes on to tell them (the plan of
  // who hears of it reads them), and this is nearly always called to decide (a door saw the outcome).
  // The record, the members and the vote rows at once: a decision then waits on one round trip, not two.
  const registry = await getRegistry();
  const rows = registry.decisionsSince(ref.id);
  rows.catch(() => undefined); // awaited below, once the record is in; a failure surfaces there
  const [loaded, members] = await Promise.all([load(ref), registry.allMembers()]);
  const active = activeMemberIds(members);
  const { tally, outcome } = await currentTally(loaded.value, active, rows);
  if (!outcome) return stateOf(loaded.value, tally);
  return closeBallot({ ...ref, outcome }, context, { loaded, active, tally, members });
}

const PHASE_OF: Record<Outcome, Phase> = {
  approved: 'approved',
  rejected: 'rejected',
  expired: 'expired',
  withdrawn: 'withdrawn',
};

export async function closeBallot(
  input: BallotRef & { outcome: Outcome },
  context: InvocationContext,
  /** What the deciding count had just read: the ballot's record, the members, who was ACTIVE, its tally. */
  known?: {
    loaded: Tagged<MembershipRequest | Proposal>;
    active: ReadonlySet<string>;
    tally: Tally;
    members?: readonly Member[];
  },
): Promise<BallotState> {
  const registry = await getRegistry();
  const audit = await getAudit();
  const at = () => new Date(nowMs());
  const loaded = known?.loaded ?? (await load(input));
  const b = loaded.value as (MembershipRequest | Proposal) & { decisionAudited?: boolean };
  // No vote is written after this (the door writes each with the ballot's guard row, removed here), so
  // the count below is final: every vote the door accepted is in it. By the policies' monotonicity the
  // votes accepted since the deciding one cannot change a decided outcome. Eligibility is the deciding
  // count's. When that count already held a vote from every eligible voter, no other can come (one row
  // per voter), so it is the final count and is not read again, and the close need not come before the
  // decision's audit entry: the two go at once.
  const everyoneVoted = known && known.tally.approve + known.tally.reject === known.tally.eligible;
  const votingClosed = registry.closeVoting(b.id);
  if (!everyoneVoted) await votingClosed;
  else votingClosed.catch(() => undefined); // awaited with the audit entry below
  const { tally } = everyoneVoted ? known : await currentTally(b, known?.active);
  const decidedAt = new Date(nowMs()).toISOString();
  const decided = (outcome: Outcome | undefined, t: Tally | undefined): Parameters<typeof audit.append>[0] =>
    b.kind === 'request'
      ? {
          kind: 'request.decided',
          subject: b.id,
          actor: 'platform',
          data: { requestId: b.id, outcome, tally: t },
        }
      : {
          kind: 'proposal.decided',
          subject: b.id,
          actor: 'platform',
          data: { proposalId: b.id, outcome, tally: t },
        };
  // The decision is audited before the record says it, and the record then says both at once: a re-run
  // finds it audited, or finds the phase still open and audits once (as it would the effect below).
  await Promise.all([
    votingClosed,
    b.phase === 'voting' && !b.decisionAudited ? audit.append(decided(input.outcome, tally), at) : undefined,
  ]);
  /** The record closed on `phase`, its decision audited with it; nothing to write if it closed before. */
  const closing =
    <T extends MembershipRequest | Proposal>(phase: T['phase']) =>
    (x: T): T | undefined =>
      x.phase !== 'voting'
        ? undefined
        : ({ ...x, phase, outcome: input.outcome, decidedAt, tally, decisionAudited: true } as T);
  let closed: MembershipRequest | Proposal | undefined;
  if (b.kind === 'request') {
    closed = await registry.updateRequest(
      b.id,
      closing<MembershipRequest>(PHASE_OF[input.outcome]),
      loaded as Tagged<MembershipRequest>,
      // A request that is not approved frees its id, name and key, in the same write.
      (r) => (r.outcome === 'approved' ? [] : requestClaims(r)),
    );
  } else {
    // The proposal's effect lands before its phase changes, so whoever sees "approved" sees the effect;
    // the record then says both at once, in one write on the ETag the count read. A re-run before that
    // write applies the effect again, which changes nothing the second time.
    const p = b as Proposal;
    if (p.phase === 'voting' && !b.decisionAudited && input.outcome === 'approved')
      await applyProposal({ ...p, outcome: input.outcome, tally }, context);
    closed = await registry.updateProposal(
      b.id,
      closing<Proposal>(
        input.outcome === 'withdrawn' ? 'rejected' : (PHASE_OF[input.outcome] as Proposal['phase']),
      ),
      loaded as Tagged<Proposal>,
    );
  }
  if (!closed) throw new Error(`${input.kind} ${input.id} vanished while closing.`);
  const record = closed as (MembershipRequest | Proposal) & { decisionAudited?: boolean };
  // Closed before decisions were audited with it: audited now, with what the record says.
  if (!record.decisionAudited) {
    await audit.append(decided(record.outcome, record.tally), at);
    if (b.kind === 'request')
      await registry.updateRequest(b.id, (r) => ({ ...r, decisionAudited: true }) as MembershipRequest);
    else await registry.updateProposal(b.id, (x) => ({ ...x, decisionAudited: true }) as Proposal);
  }
  const subject = b.kind === 'proposal' ? await registry.getMember(b.subject) : undefined;
  await notify(
    df.getClient(context),
    ballotDecided(record, record.outcome ?? input.outcome, record.tally ?? tally, subject),
    context,
    // A request's close changes no member, so the count's read serves the plan; a proposal's may have.
    b.kind === 'request' ? known?.members : undefined,
  );
  // Approval means nothing until the bank's node runs: onboarding starts here (orchestrations/provision.ts).
  if (b.kind === 'request' && record.outcome === 'approved')
    await startProvisioning(df.getClient(context), b.id);
  return stateOf(record, record.tally ?? tally, record.outcome);
}

/** Carries out an approved proposal on its subject, audits it, and nudges ballots whose electorate changed. */
async function applyProposal(p: Proposal, context: InvocationContext): Promise<void> {
  const registry = await getRegistry();
  const audit = await getAudit();
  const at = () => new Date(nowMs());
  const member = await registry.getMember(p.subject);
  if (!member) return;
  if (p.action === 'replace-key' && p.newKey) {
    const { keyThumbprint } = await import('../core/signed');
    const thumb = await keyThumbprint(p.newKey);
    if (member.keyThumbprint === thumb) return;
    await registry.replaceMemberKey(member.id, p.newKey, thumb);
    await audit.append(
      {
        kind: 'member.key-replaced',
        subject: member.id,
        actor: 'platform',
        data: { memberId: member.id, newKey: p.newKey, cause: `proposal ${p.id}` },
      },
      at,
    );
    return;
  }
  const move = PROPOSAL_TRANSITIONS[p.action];
  if (!move.to || member.status === move.to || !move.from.includes(member.status)) return;
  const from = member.status;
  await registry.setMemberStatus(member.id, move.from, move.to);
  await audit.append(
    {
      kind: 'member.status-changed',
      subject: member.id,
      actor: 'platform',
      data: { memberId: member.id, from, to: move.to, cause: `proposal ${p.id}` },
    },
    at,
  );
  const client = df.getClient(context);
  if (move.to === 'SUSPENDED' || move.to === 'REMOVED')
    await notify(
      client,
      {
        kind: move.to === 'SUSPENDED' ? 'member.suspended' : 'member.removed',
        at: new Date(nowMs()).toISOString(),
        member: memberRef(member),
        proposalId: p.id,
        reason: p.reason,
      },
      context,
    );
  // A removed member's node, connections and certificate go: the same teardown as an abandoned onboarding.
  if (p.action === 'remove') await startRemoval(client, member, p.id);
  // Eligibility changed: every open ballot re-counts.
  const open = [
    ...(await registry.openRequests()).filter((r) => r.phase === 'voting'),
    ...(await registry.openProposals()),
  ];
  await Promise.all(
    open.map((o) =>
      client.raiseEvent(o.id, NUDGE_EVENT, { reason: `${member.id} is ${move.to}` }).catch(() => undefined),
    ),
  );
}

df.app.orchestration(BALLOT_ORCHESTRATOR, ballot(DECIDE_BALLOT, true));
df.app.orchestration(LEGACY_BALLOT_ORCHESTRATOR, ballot(TALLY_BALLOT, false));
df.app.activity(OPEN_BALLOT, {
  extraInputs: [df.input.durableClient()],
  handler: (input: BallotRef, context: InvocationContext) => openBallot(input, context),
});
df.app.activity(DECIDE_BALLOT, {
  extraInputs: [df.input.durableClient()],
  handler: (input: BallotRef, context: InvocationContext) => decideBallot(input, context),
});
df.app.activity(TALLY_BALLOT, { handler: (input: BallotRef) => tallyBallot(input) });
df.app.activity(CLOSE_BALLOT, {
  extraInputs: [df.input.durableClient()],
  handler: (input: BallotRef & { outcome: Outcome }, context: InvocationContext) =>
    closeBallot(input, context),
});
