import fc from 'fast-check';
import { evaluate, PolicyError, requiredApprovals, type Outcome, type Policy } from './policy';

const MAJORITY: Policy = { kind: 'majority' };
const SUPER: Policy = { kind: 'supermajority' };
const UNANIMOUS: Policy = { kind: 'unanimous' };
const threshold = (percent: number, comparator: '>=' | '>' = '>=', quorum = 0): Policy => ({
  kind: 'threshold',
  percent,
  comparator,
  quorum,
});

/** The policy's rule stated directly as a percentage, independently of requiredApprovals. */
function passes(policy: Policy, eligible: number, approve: number): boolean {
  switch (policy.kind) {
    case 'majority':
      return approve > eligible / 2;
    case 'supermajority':
      return approve >= (2 * eligible) / 3;
    case 'unanimous':
      return approve >= eligible;
    case 'threshold': {
      const share = (100 * approve) / eligible;
      return policy.comparator === '>=' ? share >= policy.percent : share > policy.percent;
    }
  }
}

/** The decision when the vote closes: nobody else will vote. */
function finalDecision(policy: Policy, eligible: number, approve: number, reject: number): Outcome {
  const quorum = policy.kind === 'threshold' ? policy.quorum : 0;
  return eligible > 0 && passes(policy, eligible, approve) && approve + reject >= quorum
    ? 'approved'
    : 'rejected';
}

/** Every way the remaining voters can approve, reject or abstain, as final counts. */
function completions(eligible: number, approve: number, reject: number): [number, number][] {
  const out: [number, number][] = [];
  const remaining = eligible - approve - reject;
  for (let a = 0; a <= remaining; a++) {
    for (let r = 0; a + r <= remaining; r++) out.push([approve + a, reject + r]);
  }
  return out;
}

describe('requiredApprovals', () => {
  const ELIGIBLE = [1, 2, 3, 4, 5, 7, 10, 100];
  it.each<[string, Policy, number[]]>([
    ['majority', MAJORITY, [1, 2, 2, 3, 3, 4, 6, 51]],
    ['supermajority', SUPER, [1, 2, 2, 3, 4, 5, 7, 67]],
    ['unanimous', UNANIMOUS, [1, 2, 3, 4, 5, 7, 10, 100]],
    ['threshold >= 50', threshold(50), [1, 1, 2, 2, 3, 4, 5, 50]],
    ['threshold > 50', threshold(50, '>'), [1, 2, 2, 3, 3, 4, 6, 51]],
    ['threshold >= 75', threshold(75), [1, 2, 3, 3, 4, 6, 8, 75]],
    ['threshold >= 66.67', threshold(66.67), [1, 2, 3, 3, 4, 5, 7, 67]],
    ['threshold >= 100', threshold(100), [1, 2, 3, 4, 5, 7, 10, 100]],
    ['threshold > 100', threshold(100, '>'), [2, 3, 4, 5, 6, 8, 11, 101]],
    ['threshold >= 0.01', threshold(0.01), [1, 1, 1, 1, 1, 1, 1, 1]],
  ])('%s', (_name, policy, expected) => {
    expect(ELIGIBLE.map((e) => requiredApprovals(policy, e))).toEqual(expected);
  });

  it('stays exact where floating point would not (16.1 * 1000 / 100 = 161.00000000000003)', () => {
    expect(requiredApprovals(threshold(16.1), 1000)).toBe(161);
    expect(requiredApprovals(threshold(64.9), 1000)).toBe(649);
    expect(requiredApprovals(threshold(0.07), 10000)).toBe(7);
    expect(requiredApprovals(threshold(16.1, '>'), 1000)).toBe(162);
  });
});

describe('evaluate', () => {
  it.each<[Policy, number, number, number, Outcome, string | undefined]>([
    [MAJORITY, 1, 0, 0, undefined, undefined],
    [MAJORITY, 1, 1, 0, 'approved', undefined],
    [MAJORITY, 1, 0, 1, 'rejected', 'approval can no longer reach 1 of 1 eligible voter'],
    [MAJORITY, 2, 1, 0, undefined, undefined],
    [MAJORITY, 2, 1, 1, 'rejected', 'approval can no longer reach 2 of 2 eligible voters'],
    [MAJORITY, 3, 2, 0, 'approved', undefined],
    [MAJORITY, 3, 1, 1, undefined, undefined],
    [MAJORITY, 4, 2, 0, undefined, undefined],
    [MAJORITY, 4, 2, 2, 'rejected', 'approval can no longer reach 3 of 4 eligible voters'],
    [MAJORITY, 4, 0, 2, 'rejected', 'approval can no longer reach 3 of 4 eligible voters'],
    [MAJORITY, 4, 3, 0, 'approved', undefined],
    [MAJORITY, 5, 2, 2, undefined, undefined],
    [MAJORITY, 5, 3, 2, 'approved', undefined],
    [MAJORITY, 100, 50, 50, 'rejected', 'approval can no longer reach 51 of 100 eligible voters'],
    [MAJORITY, 100, 51, 0, 'approved', undefined],
    [SUPER, 3, 2, 1, 'approved', undefined],
    [SUPER, 4, 2, 1, undefined, undefined],
    [SUPER, 4, 2, 2, 'rejected', 'approval can no longer reach 3 of 4 eligible voters'],
    [SUPER, 7, 5, 0, 'approved', undefined],
    [SUPER, 7, 4, 2, undefined, undefined],
    [SUPER, 7, 4, 3, 'rejected', 'approval can no longer reach 5 of 7 eligible voters'],
    [SUPER, 10, 6, 3, undefined, undefined],
    [SUPER, 10, 7, 3, 'approved', undefined],
    [UNANIMOUS, 3, 2, 0, undefined, undefined],
    [UNANIMOUS, 3, 3, 0, 'approved', undefined],
    [UNANIMOUS, 3, 0, 1, 'rejected', 'a unanimous vote cannot pass once anyone rejects'],
    [UNANIMOUS, 7, 6, 1, 'rejected', 'a unanimous vote cannot pass once anyone rejects'],
    [threshold(60, '>=', 5), 10, 6, 0, 'approved', undefined],
    [threshold(60, '>=', 8), 10, 6, 1, undefined, undefined],
    [threshold(60, '>=', 8), 10, 6, 2, 'approved', undefined],
    [threshold(60, '>=', 8), 10, 4, 5, 'rejected', 'approval can no longer reach 6 of 10 eligible voters'],
    [threshold(60, '>'), 10, 6, 0, undefined, undefined],
    [threshold(60, '>'), 10, 7, 0, 'approved', undefined],
    [threshold(60, '>', 0), 5, 2, 2, 'rejected', 'approval can no longer reach 4 of 5 eligible voters'],
    [threshold(50, '>=', 11), 10, 0, 0, 'rejected', 'the quorum of 11 votes exceeds the 10 eligible voters'],
    [
      threshold(100, '>'),
      3,
      0,
      0,
      'rejected',
      'the policy needs 4 approvals but there are only 3 eligible voters',
    ],
    [MAJORITY, 0, 0, 0, 'rejected', 'there are no eligible voters'],
    [SUPER, 0, 0, 0, 'rejected', 'there are no eligible voters'],
    [threshold(50), 0, 0, 0, 'rejected', 'there are no eligible voters'],
  ])(
    '%j with %d eligible, %d approve, %d reject: %s',
    (policy, eligible, approve, reject, outcome, reason) => {
      const result = evaluate(policy, eligible, approve, reject);
      expect(result.outcome).toBe(outcome);
      expect(result.reason).toBe(reason);
      expect(result.tally).toEqual({
        approve,
        reject,
        eligible,
        required: requiredApprovals(policy, eligible),
      });
    },
  );

  it.each<[string, () => unknown, string]>([
    [
      'negative eligible',
      () => evaluate(MAJORITY, -1, 0, 0),
      'eligible must be a non-negative integer, got -1',
    ],
    [
      'negative approve',
      () => evaluate(MAJORITY, 3, -1, 0),
      'approve must be a non-negative integer, got -1',
    ],
    ['negative reject', () => evaluate(MAJORITY, 3, 0, -2), 'reject must be a non-negative integer, got -2'],
    [
      'fractional approve',
      () => evaluate(MAJORITY, 3, 1.5, 0),
      'approve must be a non-negative integer, got 1.5',
    ],
    ['NaN eligible', () => evaluate(MAJORITY, NaN, 0, 0), 'eligible must be a non-negative integer, got NaN'],
    ['too many votes', () => evaluate(MAJORITY, 4, 3, 2), 'approve (3) + reject (2) exceeds eligible (4)'],
    [
      'zero percent',
      () => evaluate(threshold(0), 4, 0, 0),
      'threshold percent must be greater than 0 and at most 100, got 0',
    ],
    [
      'percent over 100',
      () => requiredApprovals(threshold(101), 4),
      'threshold percent must be greater than 0 and at most 100, got 101',
    ],
    [
      'negative percent',
      () => requiredApprovals(threshold(-5), 4),
      'threshold percent must be greater than 0 and at most 100, got -5',
    ],
    [
      'three-decimal percent',
      () => requiredApprovals(threshold(33.333), 4),
      'threshold percent may have at most two decimal places, got 33.333',
    ],
    [
      'negative quorum',
      () => evaluate(threshold(50, '>=', -1), 4, 0, 0),
      'threshold quorum must be a non-negative integer, got -1',
    ],
    [
      'fractional quorum',
      () => evaluate(threshold(50, '>=', 2.5), 4, 0, 0),
      'threshold quorum must be a non-negative integer, got 2.5',
    ],
    [
      'bad comparator',
      () => evaluate({ ...threshold(50), comparator: '=' } as unknown as Policy, 4, 0, 0),
      'threshold comparator must be ">=" or ">", got =',
    ],
    [
      'unknown kind',
      () => evaluate({ kind: 'dictator' } as unknown as Policy, 4, 0, 0),
      'unknown policy kind "dictator"',
    ],
  ])('refuses %s', (_name, call, message) => {
    expect(call).toThrow(PolicyError);
    expect(call).toThrow(message);
    try {
      call();
    } catch (e) {
      expect((e as PolicyError).code).toBe('POLICY.INVALID');
    }
  });
});

describe('properties', () => {
  const policyArb: fc.Arbitrary<Policy> = fc.oneof(
    fc.constant(MAJORITY),
    fc.constant(SUPER),
    fc.constant(UNANIMOUS),
    fc.record({
      kind: fc.constant('threshold' as const),
      // Whole percents hit exact boundaries often; hundredths exercise the scaled arithmetic.
      percent: fc.oneof(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10000 }).map((b) => b / 100),
      ),
      comparator: fc.constantFrom('>=' as const, '>' as const),
      quorum: fc.integer({ min: 0, max: 10 }),
    }),
  );
  /** A policy and a partial vote with at most 8 eligible voters. */
  const voteArb = fc
    .tuple(policyArb, fc.integer({ min: 0, max: 8 }))
    .chain(([policy, eligible]) =>
      fc
        .integer({ min: 0, max: eligible })
        .chain((approve) =>
          fc
            .integer({ min: 0, max: eligible - approve })
            .map((reject) => ({ policy, eligible, approve, reject })),
        ),
    );
  const rank = (o: Outcome) => (o === 'rejected' ? 0 : o === undefined ? 1 : 2);
  const outcome = (p: Policy, e: number, a: number, r: number) => evaluate(p, e, a, r).outcome;

  it('is monotone: an approval never moves towards rejection, and a decision never changes', () => {
    fc.assert(
      fc.property(voteArb, ({ policy, eligible, approve, reject }) => {
        fc.pre(approve + reject < eligible);
        const before = outcome(policy, eligible, approve, reject);
        const afterApprove = outcome(policy, eligible, approve + 1, reject);
        const afterReject = outcome(policy, eligible, approve, reject + 1);
        expect(rank(afterApprove)).toBeGreaterThanOrEqual(rank(before));
        if (before !== undefined) {
          expect(afterApprove).toBe(before);
          expect(afterReject).toBe(before);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decides early only when every completion of the vote ends the same way', () => {
    fc.assert(
      fc.property(voteArb, ({ policy, eligible, approve, reject }) => {
        const early = outcome(policy, eligible, approve, reject);
        fc.pre(early !== undefined);
        for (const [a, r] of completions(eligible, approve, reject)) {
          expect(finalDecision(policy, eligible, a, r)).toBe(early);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('stays open only while both results are still reachable', () => {
    fc.assert(
      fc.property(voteArb, ({ policy, eligible, approve, reject }) => {
        fc.pre(outcome(policy, eligible, approve, reject) === undefined);
        const finals = new Set(
          completions(eligible, approve, reject).map(([a, r]) => finalDecision(policy, eligible, a, r)),
        );
        expect([...finals].sort()).toEqual(['approved', 'rejected']);
      }),
      { numRuns: 2000 },
    );
  });

  it('requires the fewest approvals that satisfy the rule', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 1000 }), (policy, eligible) => {
        const required = requiredApprovals(policy, eligible);
        expect(passes(policy, eligible, required)).toBe(true);
        if (required > 0) expect(passes(policy, eligible, required - 1)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});
