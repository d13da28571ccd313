import type { Member, MemberChannels, MembershipRequest, Proposal, Vote } from '../../core/membership';
import { evaluate, type Tally } from '../../core/policy';

/** What the API shows of registry records. Keys are public; contacts of other banks are not shown. */

export function memberView(m: Member): Record<string, unknown> {
  return {
    id: m.id,
    legalName: m.legalName,
    status: m.status,
    governanceKey: m.governanceKey,
    keyThumbprint: m.keyThumbprint,
    profile: m.profile,
    region: m.azure.region,
    addressSpace: m.azure.addressSpace,
    joinedAt: m.joinedAt,
    founder: m.founder,
    channels: m.channels ? channelsView(m.channels) : null,
  };
}

/** Channels as anyone in the consortium may see them: how many addresses, the webhook masked. */
export function channelsView(c: MemberChannels): Record<string, unknown> {
  return {
    email: c.email.length,
    teams: c.teams ? { configured: true, url: c.teams.masked } : { configured: false },
    setByMember: c.setByMember,
    updatedAt: c.updatedAt,
  };
}

function votesView(votes: Vote[]): Record<string, unknown>[] {
  return votes
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .map((v) => ({ voter: v.voter, decision: v.decision, reason: v.reason, at: v.at }));
}

/** The live tally: recorded on close, otherwise counted from the vote rows of members still eligible. */
export function liveTally(b: MembershipRequest | Proposal, votes: Vote[], activeIds: Set<string>): Tally {
  if (b.tally && b.phase !== 'voting') return b.tally;
  const eligible = b.eligible.filter((id) => activeIds.has(id));
  const allowed = new Set(eligible);
  const approve = votes.filter((v) => allowed.has(v.voter) && v.decision === 'approve').length;
  const reject = votes.filter((v) => allowed.has(v.voter) && v.decision === 'reject').length;
  return evaluate(b.policy, eligible.length, approve, reject).tally;
}

/** What requests and proposals show alike: phase, tally, deadline, decision and votes. */
function ballotFields(
  b: MembershipRequest | Proposal,
  votes: Vote[],
  activeIds: Set<string>,
): Record<string, unknown> {
  return {
    phase: b.phase,
    tally: liveTally(b, votes, activeIds),
    deadline: b.deadline,
    openedAt: b.openedAt,
    decidedAt: b.decidedAt ?? null,
    outcome: b.outcome ?? null,
    votes: votesView(votes),
  };
}

export function requestView(
  r: MembershipRequest,
  votes: Vote[],
  activeIds: Set<string>,
  statusUrl?: string,
): Record<string, unknown> {
  return {
    id: r.id,
    applicant: {
      id: r.applicant.id,
      legalName: r.applicant.legalName,
      azure: { region: r.applicant.azure.region, addressSpace: r.applicant.azure.addressSpace },
      profile: r.applicant.profile,
    },
    applicantKeyThumbprint: r.keyThumbprint,
    ...ballotFields(r, votes, activeIds),
    steps: r.steps,
    ...(statusUrl ? { statusUrl } : {}),
  };
}

export function proposalView(p: Proposal, votes: Vote[], activeIds: Set<string>): Record<string, unknown> {
  return {
    id: p.id,
    action: p.action,
    subject: p.subject,
    proposer: p.proposer,
    reason: p.reason,
    ...(p.newKey ? { newKey: p.newKey } : {}),
    ...ballotFields(p, votes, activeIds),
  };
}
