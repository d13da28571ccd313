/**
 * Approval policies for consortium votes. A vote is decided as soon as the result is certain: voters who
 * have not voted may still approve, reject or never vote at all before the vote closes.
 */

export type Policy =
  | { kind: 'majority' }
  | { kind: 'supermajority' }
  | { kind: 'unanimous' }
  | { kind: 'threshold'; percent: number; comparator: '>=' | '>'; quorum: number };

export interface Tally {
  approve: number;
  reject: number;
  eligible: number;
  required: number;
}

/** `undefined` while the vote is still open. */
export type Outcome = 'approved' | 'rejected' | undefined;

export class PolicyError extends Error {
  readonly code = 'POLICY.INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PolicyError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** The threshold percent in hundredths, so that comparisons stay in integer arithmetic. */
function basisPoints(percent: number): number {
  if (!Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw new PolicyError(`threshold percent must be greater than 0 and at most 100, got ${percent}`);
  }
  const bp = Math.round(percent * 100);
  if (bp / 100 !== percent) {
    throw new PolicyError(`threshold percent may have at most two decimal places, got ${percent}`);
  }
  return bp;
}

function checkPolicy(policy: Policy): void {
  switch (policy.kind) {
    case 'majority':
    case 'supermajority':
    case 'unanimous':
      return;
    case 'threshold':
      basisPoints(policy.percent);
      if (policy.comparator !== '>=' && policy.comparator !== '>') {
        throw new PolicyError(`threshold comparator must be ">=" or ">", got ${String(policy.comparator)}`);
      }
      checkCount('threshold quorum', policy.quorum);
      return;
    default:
      throw new PolicyError(`unknown policy kind ${JSON.stringify((policy as { kind: unknown }).kind)}`);
  }
}

/** The fewest approvals that pass `policy` with `eligible` voters; more than `eligible` if none can. */
export function requiredApprovals(policy: Policy, eligible: number): number {
  checkPolicy(policy);
  checkCount('eligible', eligible);
  switch (policy.kind) {
    case 'majority':
      return Math.floor(eligible / 2) + 1;
    case 'supermajority':
      return Math.ceil((2 * eligible) / 3);
    case 'unanimous':
      return eligible;
    case 'threshold': {
      // a/eligible compared with bp/10000, cross-multiplied: a*10000 >= bp*eligible (or >).
      const scaled = basisPoints(policy.percent) * eligible;
      return policy.comparator === '>=' ? Math.ceil(scaled / 10000) : Math.floor(scaled / 10000) + 1;
    }
  }
}

const voters = (n: number) => `${n} eligible ${n === 1 ? 'voter' : 'voters'}`;

export function evaluate(
  policy: Policy,
  eligible: number,
  approve: number,
  reject: number,
): { tally: Tally; outcome: Outcome; reason?: string } {
  const required = requiredApprovals(policy, eligible);
  checkCount('approve', approve);
  checkCount('reject', reject);
  if (approve + reject > eligible) {
    throw new PolicyError(`approve (${approve}) + reject (${reject}) exceeds eligible (${eligible})`);
  }
  const tally: Tally = { approve, reject, eligible, required };
  const quorum = policy.kind === 'threshold' ? policy.quorum : 0;
  const rejected = (reason: string) => ({ tally, outcome: 'rejected' as const, reason });

  // Impossible policies are decided before anyone votes, so they cannot linger open.
  if (eligible === 0) return rejected('there are no eligible voters');
  if (required > eligible) {
    return rejected(`the policy needs ${required} approvals but there are only ${voters(eligible)}`);
  }
  if (quorum > eligible) return rejected(`the quorum of ${quorum} votes exceeds the ${voters(eligible)}`);

  if (approve >= required && approve + reject >= quorum) return { tally, outcome: 'approved' };
  const remaining = eligible - approve - reject;
  if (approve + remaining < required) {
    return rejected(
      policy.kind === 'unanimous'
        ? 'a unanimous vote cannot pass once anyone rejects'
        : `approval can no longer reach ${required} of ${voters(eligible)}`,
    );
  }
  return { tally, outcome: undefined };
}
