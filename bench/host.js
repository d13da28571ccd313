// npm run bench:host — Durable Functions throughput of the local host on this machine.
// Prints sequential activities/s in one orchestration, fan-out/fan-in activities/s (100 children),
// external events/s into one instance, and start-to-completion p50/p99 of a 5-activity orchestration.
const { join } = require('node:path');
const root = join(__dirname, '..');
const { startAzurite } = require(join(root, 'dist/local/host/azurite'));
const { startHost } = require(join(root, 'dist/local/host/host'));

async function main() {
  const azurite = await startAzurite();
  process.env.AzureWebJobsStorage = azurite.connectionString;
  process.env.FIXTURE_HUB = `Bench${Date.now()}`;
  // The fixture keeps its limits low for tests; the benchmark runs at the Durable extension's defaults.
  process.env.AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions = '20';
  process.env.AzureFunctionsJobHost__extensions__durableTask__maxConcurrentOrchestratorFunctions = '20';
  const host = await startHost({
    appDir: join(root, 'test/fixtures/durable-app'),
    port: 0,
    loadLocalSettings: false,
    logger: () => {},
  });
  const api = `${host.url}/runtime/webhooks/durabletask`;
  const start = async (name, input) =>
    (
      await (
        await fetch(`${api}/orchestrators/${name}`, { method: 'POST', body: JSON.stringify(input) })
      ).json()
    ).id;
  const done = async (id) => {
    for (;;) {
      const r = await host.durable.getState(id);
      if (r && ['Completed', 'Failed', 'Terminated'].includes(r.state.status)) {
        if (r.state.status !== 'Completed') throw new Error(`${id} ${r.state.status}: ${r.state.output}`);
        return;
      }
      await new Promise((res) => setTimeout(res, 2));
    }
  };
  const timed = async (f) => {
    const t0 = performance.now();
    await f();
    return (performance.now() - t0) / 1000;
  };
  try {
    const seqN = 200;
    const seq = await timed(async () => done(await start('sequence', seqN)));
    const fan = [];
    for (let k = 0; k < 3; k++) fan.push(await timed(async () => done(await start('fanOut', 100))));
    const evN = 500;
    const events = [];
    for (let k = 0; k < 3; k++) {
      const collector = await start('collect', evN);
      events.push(
        await timed(async () => {
          // Senders raise events concurrently (16 in flight), as a consortium's members would.
          let next = 0;
          const sender = async () => {
            while (next < evN) {
              next++;
              const res = await fetch(`${api}/instances/${collector}/raiseEvent/E`, {
                method: 'POST',
                body: '1',
              });
              if (res.status !== 202) throw new Error(`raiseEvent answered ${res.status}`);
            }
          };
          await Promise.all(Array.from({ length: 16 }, sender));
          await done(collector);
        }),
      );
    }
    const ev = Math.min(...events);
    const lat = [];
    for (let k = 0; k < 40; k++) lat.push(await timed(async () => done(await start('sequence', 5))));
    lat.sort((a, b) => a - b);
    const pct = (p) => (lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] * 1000).toFixed(0);
    const best = Math.min(...fan);
    console.log(
      'local host, Durable Functions (anchor: Azure Storage backend ~5 seq/s, ~100 fan-out/s, ~50 events/s; goal 10x)',
    );
    console.log(`sequential activities/s (one orchestration, ${seqN}): ${(seqN / seq).toFixed(1)}`);
    console.log(`fan-out/fan-in activities/s (100 children, best of 3): ${(100 / best).toFixed(1)}`);
    console.log(
      `external events/s into one instance (${evN}, 16 senders, best of 3): ${(evN / ev).toFixed(1)}`,
    );
    console.log(
      `5-activity orchestration start-to-completion: p50 ${pct(50)} ms, p99 ${pct(99)} ms (40 runs)`,
    );
  } finally {
    await host.stop();
    await azurite.stop();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
