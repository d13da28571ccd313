// Sends pre-signed votes from a worker thread, so the load generator does not share the host's thread.
// node:http with a keep-alive agent: one connection per sender, reused, and less work per request than
// fetch, so the sender takes as little CPU as it can from the two cores it shares with the host.
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { readFileSync } = require('node:fs');

/** CPU seconds this thread has used (user + system): /proc/thread-self is the calling thread. */
function threadCpuSeconds() {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/jose', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const { votes, concurrency } = workerData;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  // Votes still unanswered per ballot: when a ballot's last one is answered, the main thread is told
  // (with the time on the clock both threads share) and starts watching for its decision.
  const left = new Map();
  for (const v of votes) left.set(v.ballot, (left.get(v.ballot) ?? 0) + 1);
  let next = 0;
  const cpu0 = threadCpuSeconds();
  const t0 = performance.now();
  let last = t0;
  const sender = async () => {
    while (next < votes.length) {
      const vote = votes[next++];
      const s = performance.now();
      const r = await post(agent, vote.url, vote.jws);
      if (r.status !== 202) throw new Error(`vote answered ${r.status}: ${r.text}`);
      last = performance.now();
      latencies.push(last - s);
      const remaining = left.get(vote.ballot) - 1;
      left.set(vote.ballot, remaining);
      if (remaining === 0)
        parentPort.postMessage({ ballotDone: vote.ballot, at: performance.timeOrigin + last });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  agent.destroy();
  parentPort.postMessage({
    latencies,
    elapsedMs: last - t0,
    startedAt: performance.timeOrigin + t0,
    cpuSeconds: threadCpuSeconds() - cpu0,
  });
}
main().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
