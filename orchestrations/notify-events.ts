import { calculateJwkThumbprint } from 'jose';
import type { Member, MembershipRequest, Outcome, Proposal } from '../core/membership';
import {
  applicantRef,
  type BallotRef,
  type MemberRef,
  type NotificationEventInput,
} from '../core/notifications';
import type { Tally } from '../core/policy';
import { nowMs } from '../runtime/clock';

/**
 * Notification events built from registry records, for the activities that raise them. `at` is when the
 * activity ran; the event's id never depends on it (except scaling changes), so a re-run raises the
 * same event.
 */

const at = () => new Date(nowMs()).toISOString();

export function memberRef(m: Pick<Member, 'id' | 'legalName'>): MemberRef {
  return { id: m.id, legalName: m.legalName };
}

export function ballotRef(b: MembershipRequest | Proposal, subject?: Member): BallotRef {
  return b.kind === 'request'
    ? { kind: 'request', id: b.id, applicant: { id: b.applicant.id, legalName: b.applicant.legalName } }
    : {
        kind: 'proposal',
        id: b.id,
        action: b.action,
        subject: subject ? memberRef(subject) : { id: b.subject, legalName: b.subject },
      };
}

export async function ballotOpened(
  b: MembershipRequest | Proposal,
  tally: Tally,
  subject?: Member,
): Promise<NotificationEventInput> {
  if (b.kind === 'request')
    return {
      kind: 'request.received',
      at: at(),
      requestId: b.id,
      applicant: applicantRef(b.applicant),
      policy: b.policy,
      tally,
      deadline: b.deadline,
      eligible: [...b.eligible],
    };
  return {
    kind: 'proposal.opened',
    at: at(),
    proposalId: b.id,
    action: b.action,
    subject: subject ? memberRef(subject) : { id: b.subject, legalName: b.subject },
    proposer: b.proposer,
    reason: b.reason,
    policy: b.policy,
    tally,
    deadline: b.deadline,
    eligible: [...b.eligible],
    ...(b.newKey ? { newKeyThumbprint: await calculateJwkThumbprint(b.newKey, 'sha256') } : {}),
  };
}

export function ballotDecided(
  b: MembershipRequest | Proposal,
  outcome: Outcome,
  tally: Tally,
  subject?: Member,
): NotificationEventInput {
  if (b.kind === 'request')
    return {
      kind: 'request.decided',
      at: at(),
      requestId: b.id,
      applicant: applicantRef(b.applicant),
      outcome,
      tally,
    };
  return {
    kind: 'proposal.decided',
    at: at(),
    proposalId: b.id,
    action: b.action,
    subject: subject ? memberRef(subject) : { id: b.subject, legalName: b.subject },
    outcome: outcome === 'withdrawn' ? 'rejected' : outcome,
    tally,
  };
}
