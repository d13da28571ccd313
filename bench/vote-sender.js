// Sends pre-signed votes from a worker thread, so the load generator does not share the host's thread.
const { parentPort, workerData } = require('node:worker_threads');

async function main() {
  const { url, votes, concurrency } = workerData;
  const latencies = [];
  let next = 0;
  const t0 = performance.now();
  let last = t0;
  const sender = async () => {
    while (next < votes.length) {
      const jws = votes[next++];
      const s = performance.now();
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/jose' },
        body: jws,
      });
      const text = await r.text();
      if (r.status !== 202) throw new Error(`vote answered ${r.status}: ${text}`);
      last = performance.now();
      latencies.push(last - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  parentPort.postMessage({ latencies, elapsedMs: last - t0 });
}
main().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
