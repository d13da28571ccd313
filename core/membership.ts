import type { JWK } from 'jose';
import type { Policy, Tally } from './policy';

/** The registry's records: members, membership requests, proposals and votes. */

export type MemberStatus = 'PENDING' | 'ACTIVE' | 'SUSPENDED' | 'REMOVED';
export type Profile = 'Small' | 'Medium' | 'Large';

export interface AzurePlacement {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  region: string;
  addressSpace: string;
}

export interface Contacts {
  email: string[];
  teamsWebhook?: string;
}

/**
 * Where a member hears from the platform, as the registry keeps it: the Teams webhook URL itself is a
 * secret and lives only in Key Vault; the registry keeps whether there is one and its masked form.
 */
export interface MemberChannels {
  email: string[];
  teams: { masked: string } | null;
  /** Set by the member (PUT /api/members/{id}/channels): the consortium config no longer applies. */
  setByMember: boolean;
  updatedAt: string;
}

export interface Member {
  id: string;
  legalName: string;
  status: MemberStatus;
  governanceKey: JWK;
  keyThumbprint: string;
  contacts: Contacts;
  azure: AzurePlacement;
  profile: Profile;
  joinedAt: string;
  founder: boolean;
  requestId?: string;
  channels?: MemberChannels;
  /** Absent until the member sets a policy or override, or the scaling timer first looks at it. */
  scaling?: MemberScaling;
}

/** One change of a member's scale set, as the scaling orchestration made it. */
export interface ScalingChange {
  at: string;
  from: Profile;
  to: Profile;
  reason: string;
  source: 'override' | 'load' | 'schedule' | 'default';
}

/**
 * A member's scaling state. `policy` is the member's own (core/schedule.ts ScalingPolicy; absent: the
 * default `{ timeZone: 'UTC', defaultProfile: <profile>, windows: [] }`); `current` is what the scale set
 * was last set to; `desired`/`reason`/`source` are what the timer last computed.
 */
export interface MemberScaling {
  policy?: import('./schedule').ScalingPolicy;
  override?: { profile: Profile; expiresAt: string; setAt: string };
  current: Profile;
  desired?: Profile;
  reason?: string;
  source?: ScalingChange['source'];
  changedAt?: string;
  /** The last failed change, cleared by the next success. */
  failure?: { at: string; to: Profile; code: string; message: string };
  /** Newest last; the last 200 changes. */
  history: ScalingChange[];
}

export interface Applicant {
  id: string;
  legalName: string;
  contacts: Contacts;
  azure: AzurePlacement;
  profile: Profile;
}

export type Phase =
  'voting' | 'approved' | 'rejected' | 'expired' | 'withdrawn' | 'provisioning' | 'active' | 'failed';
export type Outcome = 'approved' | 'rejected' | 'expired' | 'withdrawn';
export type Decision = 'approve' | 'reject';

export interface Step {
  name: string;
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';
  started?: string;
  ended?: string;
  error?: { code: string; message: string };
}

/** Shared by membership requests and proposals: who may vote, under which policy, until when. */
export interface Ballot {
  id: string;
  policy: Policy;
  eligible: string[];
  openedAt: string;
  deadline: string;
  outcome?: Outcome;
  decidedAt?: string;
  tally?: Tally;
}

export interface MembershipRequest extends Ballot {
  kind: 'request';
  applicant: Applicant;
  applicantKey: JWK;
  keyThumbprint: string;
  /** sha256 of the decoded payload and key: an identical resubmission is the same request. */
  fingerprint: string;
  phase: Phase;
  steps: Step[];
  jws: string;
}

/** What an applicant holds while its request is open: its member id, legal name and key are its own. */
export type Claim = [kind: 'id' | 'name' | 'key', value: string];

/** The claims of an applicant (`legalName` in its formatted form: names compare case-insensitively). */
export function claimsOf(applicantId: string, legalName: string, keyThumbprint: string): Claim[] {
  return [
    ['id', applicantId],
    ['name', legalName.toLowerCase()],
    ['key', keyThumbprint],
  ];
}

/** The claims a request holds. */
export function requestClaims(r: Pick<MembershipRequest, 'applicant' | 'keyThumbprint'>): Claim[] {
  return claimsOf(r.applicant.id, r.applicant.legalName, r.keyThumbprint);
}

export type ProposalAction = 'suspend' | 'reinstate' | 'remove' | 'replace-key';

export interface Proposal extends Ballot {
  kind: 'proposal';
  action: ProposalAction;
  subject: string;
  proposer: string;
  reason: string;
  newKey?: JWK;
  phase: 'voting' | 'approved' | 'rejected' | 'expired';
  fingerprint: string;
  jws: string;
}

export interface Vote {
  subjectId: string;
  voter: string;
  decision: Decision;
  reason: string;
  at: string;
  jws: string;
}

/** Which statuses a proposal may move a member between. */
export const PROPOSAL_TRANSITIONS: Record<ProposalAction, { from: MemberStatus[]; to?: MemberStatus }> = {
  suspend: { from: ['ACTIVE'], to: 'SUSPENDED' },
  reinstate: { from: ['SUSPENDED'], to: 'ACTIVE' },
  remove: { from: ['ACTIVE', 'SUSPENDED'], to: 'REMOVED' },
  'replace-key': { from: ['ACTIVE', 'SUSPENDED'] },
};

/** Ids of the members who may vote now. */
export function activeMemberIds(members: readonly Pick<Member, 'id' | 'status'>[]): Set<string> {
  return new Set(members.filter((m) => m.status === 'ACTIVE').map((m) => m.id));
}

/** Votes that count: one per eligible voter who is still eligible. */
export function countVotes(
  votes: Pick<Vote, 'voter' | 'decision'>[],
  eligible: Iterable<string>,
): { approve: number; reject: number } {
  const allowed = new Set(eligible);
  let approve = 0;
  let reject = 0;
  for (const v of votes) {
    if (!allowed.has(v.voter)) continue;
    if (v.decision === 'approve') approve++;
    else reject++;
  }
  return { approve, reject };
}
