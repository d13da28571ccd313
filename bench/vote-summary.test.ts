// bench:votes' closing lines: medians over the runs, and the goals' verdicts taken from them.
interface Run {
  votesPerSecond: number;
  decidedPerSecond: number;
  cpuMsPerVote: number;
  hostMainMsPerVote: number;
  callsPerVote: number;
  decisionMs: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { median, summary } = require('./vote-summary') as {
  median: (xs: number[]) => number;
  summary: (runs: Map<number, Run[]>) => string[];
};

const run = (decidedPerSecond: number, decisionMs = 50): Run => ({
  votesPerSecond: decidedPerSecond + 10,
  decidedPerSecond,
  cpuMsPerVote: 2.5,
  hostMainMsPerVote: 1.2,
  callsPerVote: 2.36,
  decisionMs,
});

describe('bench:votes summary', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('judges the throughput goal on each size’s median of verified votes/s, not its best run', () => {
    const lines = summary(
      new Map([
        [10, [run(480), run(620), run(510)]],
        [100, [run(700), run(690), run(710)]],
      ]),
    );
    expect(lines[0]).toBe('median (range) of 3 runs each:');
    expect(lines[1]).toMatch(
      /^ {3}10 voters: 520 \(490–630\) votes\/s; until every ballot decided 510 \(480–620\)/,
    );
    expect(lines.find((l) => l.startsWith('goal, 500'))).toMatch(
      /: 10 voters 520, 100 voters 710: met \(until every ballot decided: 10 voters 510, 100 voters 700\)$/,
    );

    const short = summary(new Map([[10, [run(470), run(620), run(485)]]]));
    expect(short.find((l) => l.startsWith('goal, 500'))).toMatch(/10 voters 495: NOT MET at 10 voters \(/);
  });

  it('calls time to decision linear or better only when no step grows faster than the voters do', () => {
    const sub = summary(
      new Map([
        [10, [run(600, 60)]],
        [100, [run(600, 40)]],
        [1000, [run(600, 380)]],
      ]),
    );
    expect(sub[0]).toBe('one run each:');
    expect(sub.at(-1)).toMatch(
      /10 voters 60 ms, 100 voters 40 ms, 1000 voters 380 ms; ×0.67 for ×10 voters, ×9.50 for ×10 voters: met$/,
    );

    const faster = summary(
      new Map([
        [10, [run(600, 20)]],
        [100, [run(600, 250)]],
      ]),
    );
    expect(faster.at(-1)).toMatch(/×12.50 for ×10 voters: NOT MET$/);
  });

  it('has no time-to-decision verdict for a single size', () => {
    const lines = summary(new Map([[10, [run(600)]]]));
    expect(lines.some((l) => l.includes('time to decision'))).toBe(false);
  });
});
