import { activeMemberIds } from '../../core/membership';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { verifyJws } from '../../core/signed';
import type { Decision, Member, MembershipRequest, Proposal } from '../../core/membership';
import { nowMs } from '../../runtime/clock';
import { NUDGE_EVENT } from '../../orchestrations/ballot';
import { badRequest, conflict, forbidden, json, notFound } from './http';
import { getAudit, getConsortium, getRegistry } from './services';
import { checkPayload, readJws } from './signed';
import { evaluate } from '../../core/policy';
import { decisionsOn, recentMembers } from './tally';
import { FreshReads } from '../../runtime/coalesce';
import type { Registry } from '../../azure/registry';

/**
 * The vote door, shared by membership requests and proposals: checks run in the contract's order
 * (415, 401, 404, 400, 403, 409); a vote row keyed by ballot and voter makes duplicates impossible even
 * under races; the orchestration is then nudged to re-count.
 */
const ballotReads = new WeakMap<Registry, FreshReads<string, MembershipRequest | Proposal | undefined>>();

/** Reads a ballot; concurrent doors share reads, each getting one that started after it asked. */
function readBallot(
  registry: Registry,
  kind: 'request' | 'proposal',
  id: string,
): Promise<MembershipRequest | Proposal | undefined> {
  let r = ballotReads.get(registry);
  if (!r) {
    r = new FreshReads<string, MembershipRequest | Proposal | undefined>((key: string) => {
      const [k, ballotId] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      return k === 'request'
        ? registry.getRequest(ballotId)
        : (registry.getProposal(ballotId) as Promise<Proposal | undefined>);
    });
    ballotReads.set(registry, r);
  }
  return r.get(`${kind}:${id}`);
}

export async function castVote(
  kind: 'request' | 'proposal',
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const parsed = await readJws(request, 'kid');
  const registry = await getRegistry();
  const id = request.params['id'] ?? '';
  // Both reads at once: the answers are used in the contract's order below.
  const [voter, ballot]: [Member | undefined, MembershipRequest | Proposal | undefined] = await Promise.all([
    registry.getMember(parsed.kid!),
    readBallot(registry, kind, id),
  ]);
  if (voter) await verifyJws(parsed, voter.governanceKey);
  if (!ballot)
    throw notFound(
      kind === 'request' ? 'REQUEST.NOT_FOUND' : 'PROPOSAL.NOT_FOUND',
      `No ${kind === 'request' ? 'membership request' : 'proposal'} ${id}.`,
    );

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
  const subjectId = ballot.kind === 'request' ? ballot.applicant.id : ballot.subject;
  if (voter.id === subjectId)
    throw forbidden('VOTER.IS_SUBJECT', `${voter.id} is the subject of this ${kind} and cannot vote on it.`);
  if (!ballot.eligible.includes(voter.id))
    throw forbidden('VOTER.NOT_ACTIVE', `${voter.id} was not an active member when this ${kind} opened.`);

  const closed = () => ballot.phase !== 'voting' || nowMs() >= Date.parse(ballot.deadline);
  if (closed())
    throw conflict(
      'VOTE.CLOSED',
      `Voting on ${id} is closed (${ballot.phase === 'voting' ? 'the deadline has passed' : ballot.phase}).`,
    );

  const at = new Date(nowMs()).toISOString();
  const decision = payload['decision'] as Decision;
  const reason = String(payload['reason']);
  const written = await registry.addVote({
    subjectId: id,
    voter: voter.id,
    decision,
    reason,
    at,
    jws: parsed.jws,
  });
  if (written === 'duplicate') throw conflict('VOTE.DUPLICATE', `${voter.id} has already voted on ${id}.`);
  // The ballot may have closed while the row was written; such a vote does not stand. The door's own
  // count (below) is read at the same time: it is only used if the vote stands.
  const [now, byVoter, members] = await Promise.all([
    readBallot(registry, kind, id),
    decisionsOn(registry, id),
    recentMembers(registry),
  ]);
  if (!now || now.phase !== 'voting') {
    await registry.removeVote(id, voter.id);
    throw conflict('VOTE.CLOSED', `Voting on ${id} closed while the vote was being recorded.`);
  }
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
  // the outcome is certain. Of concurrent doors, the one that reads last sees every vote before it.
  const active = activeMemberIds(members);
  const eligible = now.eligible.filter((v) => active.has(v) || v === voter.id);
  let approve = 0;
  let reject = 0;
  for (const v of eligible) {
    const d = byVoter.get(v);
    if (d === 'approve') approve++;
    else if (d === 'reject') reject++;
  }
  const { tally, outcome } = evaluate(now.policy, eligible.length, approve, reject);
  if (outcome) await df.getClient(context).raiseEvent(id, NUDGE_EVENT, { voter: voter.id });
  return json(202, { id, voter: voter.id, decision, tally });
}
