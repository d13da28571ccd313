// Sends pre-signed votes from a worker thread, so the load generator does not share the host's thread.
// Each sender keeps one keep-alive connection and writes requests built before the clock starts (as the
// votes are signed beforehand), then reads each answer with a minimal HTTP/1.1 reader (status line,
// Content-Length or chunked body): the voters are other machines in life, so the sender should take as
// little as it can of the two cores it shares with the host. node:http cost about 0.25 ms of CPU per vote.
const { parentPort, workerData } = require('node:worker_threads');
const { Connection } = require('./http-connection');
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

/** The request's bytes: a POST of the JWS to the vote's URL. */
function requestBytes(vote) {
  const url = new URL(vote.url);
  const body = Buffer.from(vote.jws, 'utf8');
  const head =
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    `Content-Type: application/jose\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

async function main() {
  const { votes, concurrency } = workerData;
  const { hostname, port } = new URL(votes[0].url);
  const requests = votes.map(requestBytes);
  const connections = Array.from({ length: concurrency }, () => new Connection(hostname, Number(port)));
  const latencies = [];
  // Votes still unanswered per ballot: when a ballot's last one is answered, the main thread is told
  // (with the time on the clock both threads share) and starts watching for its decision.
  const left = new Map();
  for (const v of votes) left.set(v.ballot, (left.get(v.ballot) ?? 0) + 1);
  let next = 0;
  const cpu0 = threadCpuSeconds();
  const t0 = performance.now();
  let last = t0;
  const sender = async (connection) => {
    while (next < votes.length) {
      const i = next++;
      const vote = votes[i];
      const s = performance.now();
      const r = await connection.send(requests[i]);
      if (r.status !== 202) throw new Error(`vote answered ${r.status}: ${r.text}`);
      last = performance.now();
      latencies.push(last - s);
      const remaining = left.get(vote.ballot) - 1;
      left.set(vote.ballot, remaining);
      if (remaining === 0)
        parentPort.postMessage({ ballotDone: vote.ballot, at: performance.timeOrigin + last });
    }
  };
  try {
    await Promise.all(connections.map(sender));
  } finally {
    for (const c of connections) c.close();
  }
  parentPort.postMessage({
    latencies,
    elapsedMs: last - t0,
    startedAt: performance.timeOrigin + t0,
    cpuSeconds: threadCpuSeconds() - cpu0,
  });
}
main().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
