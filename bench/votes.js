// npm run bench:votes — verified votes per second through the HTTP API, for ballots with 10, 100 and
// 1,000 eligible voters: throughput, latency p50/p99, time from the deciding vote to the recorded
// decision, durable history events and storage calls per vote. BENCH_SIZES, BENCH_CONCURRENCY (16),
// BENCH_WARMUP=0 (no warm-up ballot), BENCH_PROFILE=file.cpuprofile (the host thread during the votes).
const { randomUUID } = require('node:crypto');
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
const { startAzurite } = require(join(root, 'dist/local/host/azurite'));
const { startHost } = require(join(root, 'dist/local/host/host'));

async function keys(n) {
  const { generateKeyPair, exportJWK } = await import('jose');
  const out = [];
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    out.push({ id: `bank-${String(i).padStart(4, '0')}`, privateKey, publicJwk: await exportJWK(publicKey) });
  }
  return out;
}

async function sign(payload, key, header) {
  const { CompactSign } = await import('jose');
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', ...header })
    .sign(key);
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  try {
    const fields = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Counts the host's requests to storage (the Azure SDK sends them through node:http) while `on` is set;
 * the sender thread has its own node:http, so its votes are not counted.
 */
const storageCalls = { on: false, port: 0, count: 0 };
const http = require('node:http');
const request = http.request;
http.request = function (...args) {
  if (storageCalls.on) {
    const o = args[0] instanceof URL || typeof args[0] === 'string' ? new URL(args[0]) : args[0];
    if (Number(o.port) === storageCalls.port) storageCalls.count++;
  }
  return request.apply(this, args);
};

async function run(n, concurrency, storagePid, report = true) {
  const banks = await keys(n);
  const config = {
    name: 'Bench Consortium',
    // Unanimous: every vote counts and the last one decides.
    policy: { kind: 'unanimous' },
    votingWindow: 'P7D',
    members: banks.map((b, i) => ({
      id: b.id,
      legalName: `O=Bench Bank ${i}, L=London, C=GB`,
      governanceKey: b.publicJwk,
      contacts: { email: [`ops@${b.id}.example`] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: `rg-${b.id}`,
        region: 'uksouth',
        addressSpace: `10.${1 + Math.floor(i / 256)}.${i % 256}.0/24`,
      },
      profile: 'Small',
    })),
  };
  const dir = join(root, '.trustnet', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `consortium-${n}.json`);
  writeFileSync(file, JSON.stringify(config));
  process.env.TRUSTNET_CONSORTIUM_FILE = file;
  process.env.TRUSTNET_TASK_HUB = `Bench${n}x${Date.now()}`;
  const host = await startHost({ appDir: root, port: 0, loadLocalSettings: false, logger: () => {} });
  try {
    const applicant = (await keys(1))[0];
    const requestId = randomUUID();
    const now = new Date(host.clock.now()).toISOString();
    const payload = {
      consortium: config.name,
      requestId,
      applicant: {
        id: 'bench-applicant',
        legalName: 'O=Bench Applicant, L=Paris, C=FR',
        contacts: { email: ['ops@applicant.example'] },
        azure: {
          tenantId: randomUUID(),
          subscriptionId: randomUUID(),
          resourceGroup: 'rg-a',
          region: 'uksouth',
          addressSpace: '172.16.0.0/16',
        },
        profile: 'Small',
      },
      issuedAt: now,
    };
    const res = await fetch(`${host.url}/api/membership-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/jose' },
      body: await sign(payload, applicant.privateKey, { jwk: applicant.publicJwk }),
    });
    if (res.status !== 202) throw new Error(`request answered ${res.status}: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 300));
    const before = host.durable.eventsWritten;
    // Votes are signed beforehand: the benchmark measures the platform, not the voters' laptops.
    const votes = [];
    for (const b of banks) {
      votes.push(
        await sign(
          {
            consortium: config.name,
            requestId,
            voter: b.id,
            decision: 'approve',
            reason: 'benchmark',
            issuedAt: new Date(host.clock.now()).toISOString(),
          },
          b.privateKey,
          { kid: b.id },
        ),
      );
    }
    const cpu0 = { host: cpuSeconds(process.pid), storage: cpuSeconds(storagePid) };
    // BENCH_PROFILE=file.cpuprofile records where the host's thread spends the vote phase.
    const profiler = process.env.BENCH_PROFILE ? new (require('node:inspector').Session)() : undefined;
    const post = (m, p) =>
      new Promise((res, rej) => profiler.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r))));
    if (profiler) {
      profiler.connect();
      await post('Profiler.enable');
      await post('Profiler.start');
    }
    storageCalls.count = 0;
    storageCalls.on = true;
    const { Worker } = require('node:worker_threads');
    const result = await new Promise((resolve, reject) => {
      const w = new Worker(join(__dirname, 'vote-sender.js'), {
        workerData: { url: `${host.url}/api/membership-requests/${requestId}/votes`, votes, concurrency },
      });
      w.once('message', resolve);
      w.once('error', reject);
    });
    if (result.error) throw new Error(result.error);
    const lastAnswered = performance.now();
    storageCalls.on = false;
    const latencies = result.latencies;
    if (profiler) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(process.env.BENCH_PROFILE, JSON.stringify(profile));
      profiler.disconnect();
    }
    const elapsed = result.elapsedMs / 1000;
    const cpu = { host: cpuSeconds(process.pid) - cpu0.host, storage: cpuSeconds(storagePid) - cpu0.storage };
    let decidedAt;
    for (;;) {
      const r = await host.durable.getState(requestId);
      if (r && r.state.status === 'Completed') {
        decidedAt = performance.now();
        break;
      }
      await new Promise((res) => setTimeout(res, 2));
    }
    const view = await (await fetch(`${host.url}/api/membership-requests/${requestId}`)).json();
    // Every vote verified, stored and counted: the recorded tally has all n approvals.
    if (view.phase !== 'approved' || view.tally.approve !== n || view.tally.eligible !== n)
      throw new Error(`ended ${view.phase} with ${JSON.stringify(view.tally)}`);
    if (view.votes.length !== n) throw new Error(`${view.votes.length} votes recorded, not ${n}`);
    latencies.sort((a, b) => a - b);
    const pct = (p) =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
    const events = host.durable.eventsWritten - before;
    if (report)
      console.log(
        `${String(n).padStart(5)} voters: ${(n / elapsed).toFixed(0).padStart(5)} votes/s, p50 ${pct(50)} ms, p99 ${pct(99)} ms, deciding vote → decision ${(decidedAt - lastAnswered).toFixed(0)} ms, history events per vote ${(events / n).toFixed(2)}, storage calls per vote ${(storageCalls.count / n).toFixed(2)}; CPU busy: host ${((100 * cpu.host) / elapsed).toFixed(0)}%, storage ${((100 * cpu.storage) / elapsed).toFixed(0)}%`,
      );
  } finally {
    await host.stop();
  }
}

async function main() {
  // The app's other settings (timer schedules and the like) as the sample gives them, unless set; the
  // bench sets its own storage, task hub and consortium.
  const sample = require(join(root, 'local.settings.sample.json')).Values;
  for (const [k, v] of Object.entries(sample))
    if (
      process.env[k] === undefined &&
      !/^(AzureWebJobsStorage|TRUSTNET_TASK_HUB|TRUSTNET_CONSORTIUM_FILE)$/.test(k)
    )
      process.env[k] = v;
  const azurite = await startAzurite();
  process.env.AzureWebJobsStorage = azurite.connectionString;
  storageCalls.port = azurite.ports.table;
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
  try {
    console.log(
      `verified votes over HTTP, ${concurrency} concurrent voters, unanimous policy (every vote counts; goal: 500 votes/s)${process.env.BENCH_WARMUP === '0' ? ', no warm-up' : ', after a warm-up ballot'}; load average before: ${require('node:os')
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    // A ballot of 50 first, not reported, so the first size is not also the one that warms up the JIT
    // (of the host and of Azurite): every size then measures a running platform. BENCH_WARMUP=0 skips it.
    if (process.env.BENCH_WARMUP !== '0') await run(50, concurrency, azurite.pid, false);
    for (const n of (process.env.BENCH_SIZES ?? '10,100,1000').split(',').map(Number))
      await run(n, concurrency, azurite.pid);
  } finally {
    await azurite.stop();
  }
}
// Exit when done: SDK retries started by background work (audit head moves) outlive a stopped host.
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
