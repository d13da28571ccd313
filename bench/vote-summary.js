// The closing lines of bench:votes: each size's figures over its runs, and the issue's goals judged on
// the medians. Pure, so that the verdicts are tested (vote-summary.test.ts).
function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)];
}

const GOAL_VOTES_PER_SECOND = 500;

/**
 * The closing lines: each size's median and range over its runs, then the issue's two goals judged on the
 * medians: at least 500 verified votes/s, and a time from the deciding vote to the decision that grows no
 * faster than the number of voters.
 */
function summary(runs) {
  const spread = (xs, digits) =>
    xs.length === 1
      ? xs[0].toFixed(digits)
      : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  const sizes = [...runs.keys()].sort((a, b) => a - b);
  const repeat = Math.max(...sizes.map((n) => runs.get(n).length));
  const lines = [repeat === 1 ? 'one run each:' : `median (range) of ${repeat} runs each:`];
  for (const n of sizes) {
    const rs = runs.get(n);
    lines.push(
      `${String(n).padStart(5)} voters: ${spread(
        rs.map((r) => r.votesPerSecond),
        0,
      )} votes/s; until every ballot decided ${spread(
        rs.map((r) => r.decidedPerSecond),
        0,
      )} votes/s, host + storage CPU ${spread(
        rs.map((r) => r.cpuMsPerVote),
        2,
      )} ms per vote (host main thread ${spread(
        rs.map((r) => r.hostMainMsPerVote),
        2,
      )}), storage calls ${spread(
        rs.map((r) => r.callsPerVote),
        2,
      )} per vote, deciding vote → decision ${spread(
        rs.map((r) => r.decisionMs),
        0,
      )} ms`,
    );
  }
  // The goal is the issue's figure, verified votes per second: votes verified, stored, counted and
  // answered, from the first vote sent to the last answer. The rate until every ballot decided is given
  // beside it: the decisions' own goal is their time, judged below.
  const rate = (key) => sizes.map((n) => [n, median(runs.get(n).map((r) => r[key]))]);
  const verified = rate('votesPerSecond');
  const short = verified.filter(([, v]) => v < GOAL_VOTES_PER_SECOND);
  const list = (pairs) => pairs.map(([n, v]) => `${n} voters ${v.toFixed(0)}`).join(', ');
  lines.push(
    `goal, ${GOAL_VOTES_PER_SECOND} verified votes/s on 2 cores shared by host, Azurite and sender (medians): ${list(verified)}: ${
      short.length ? `NOT MET at ${short.map(([n]) => n).join(', ')} voters` : 'met'
    } (until every ballot decided: ${list(rate('decidedPerSecond'))})`,
  );
  if (sizes.length > 1) {
    const times = rate('decisionMs');
    const steps = times.slice(1).map(([n, t], i) => {
      const [m, s] = times[i];
      return { grew: t / s, voters: n / m };
    });
    const faster = steps.filter((st) => st.grew > st.voters);
    lines.push(
      `goal, time to decision no faster than linear in voters (median p50): ${times
        .map(([n, t]) => `${n} voters ${t.toFixed(0)} ms`)
        .join(', ')}; ${steps
        .map((st) => `×${st.grew.toFixed(2)} for ×${st.voters.toFixed(0)} voters`)
        .join(', ')}: ${faster.length ? 'NOT MET' : 'met'}`,
    );
  }
  return lines;
}

module.exports = { GOAL_VOTES_PER_SECOND, median, summary };
