// npm run bench:votes — verified votes per second through the HTTP API, for ballots with 10, 100 and
// 1,000 eligible voters: throughput, latency p50/p99, time from the deciding vote to the recorded
// decision, durable history events and storage calls per vote, and CPU milliseconds per vote of the host
// (this process less the sender's thread), of Azurite and of the sender; and, until every ballot has
// decided, votes per second from the first vote to the last decision, with the CPU and storage calls
// that took. Each size runs as many ballots at once as make about BENCH_VOTES votes (1,000): 100 ballots
// of 10 voters, 10 of 100, one of 1,000; so every figure is a throughput, not one ballot's burst.
// BENCH_SIZES, BENCH_REPEAT (runs of each size, in turns, then medians and the goals' verdicts; 3), BENCH_CONCURRENCY (16),
// BENCH_WARMUP_VOTES (3,000 votes cast first, in runs of every size, and not counted; BENCH_WARMUP=0
// for none), BENCH_PROFILE=file.cpuprofile (the host thread during the votes), BENCH_CALLS=1 (storage
// calls by method and table). Votes are signed before the requests are sent.
//
// Notifications: by default no local cloud runs and no email service is configured
// (TRUSTNET_EMAIL_ENDPOINT empty) and no member has a Teams webhook, so every event is planned and, with
// nobody to tell on any channel, starts no delivery orchestration: the figures are the vote path's and
// the decisions'. BENCH_NOTIFY=1 runs the local cloud in process as `npm start` does (Key Vault and the
// email emulator), and then votes are timed after the voters were told of the request, as in life:
// the `request.received` deliveries (one per eligible voter and channel) finish first (at most
// BENCH_NOTIFY_WAIT seconds, default 120) and their own figures (deliveries per second, CPU and storage
// calls per delivery) are printed apart; the decisions' deliveries run beside the last votes, and finish
// before the next size starts (so each size's figures are its own).
const { randomUUID } = require('node:crypto');
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
const { numberSetting, settingsOrExit, sizesSetting } = require('./settings');
const { GOAL_VOTES_PER_SECOND, summary } = require('./vote-summary');
const { startAzurite } = require(join(root, 'dist/local/host/azurite'));
const { startHost } = require(join(root, 'dist/local/host/host'));
const { startLocalCloud } = require(join(root, 'dist/local/cloud/start'));

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

/** CPU seconds the calling thread has used (user + system). */
function threadCpuSeconds() {
  return cpuSeconds('thread-self');
}

const NOTIFY = process.env.BENCH_NOTIFY === '1';
// Read as the bench starts: a bad value stops it before anything has started.
const { SIZES, CONCURRENCY, VOTES, REPEAT, WARMUP_VOTES, NOTIFY_WAIT_S } = settingsOrExit(() => ({
  SIZES: sizesSetting('BENCH_SIZES', [10, 100, 1000]),
  CONCURRENCY: numberSetting('BENCH_CONCURRENCY', 16, { min: 1 }),
  VOTES: numberSetting('BENCH_VOTES', 1000, { min: 1 }),
  REPEAT: numberSetting('BENCH_REPEAT', 3, { min: 1 }),
  WARMUP_VOTES: process.env.BENCH_WARMUP === '0' ? 0 : numberSetting('BENCH_WARMUP_VOTES', 3000),
  NOTIFY_WAIT_S: numberSetting('BENCH_NOTIFY_WAIT', 120, { min: 1, whole: false }),
}));

/** Waits until the ballot's orchestration has opened it (its custom status carries the tally). */
async function ballotOpen(host, requestId) {
  for (let i = 0; i < 3000; i++) {
    const r = await host.durable.getState(requestId);
    if (r?.state.customStatus) return 0;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error('the ballot did not open in 60 s');
}

/**
 * Polls the notification delivery orchestrations (every 20 ms, at most BENCH_NOTIFY_WAIT seconds) until
 * `done` answers something other than undefined, and answers that; `what` names what is waited for.
 */
async function untilDeliveries(host, what, done) {
  const until = performance.now() + 1000 * NOTIFY_WAIT_S;
  for (;;) {
    const found = done((await host.durable.listStates()).filter((x) => /^notifyDeliver/i.test(x.name)));
    if (found !== undefined) return found;
    if (performance.now() > until) throw new Error(`${what} did not finish in ${NOTIFY_WAIT_S} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the delivery of the request's `request.received` notification has finished, and returns
 * how many deliveries it made (recipients × channels).
 */
function notificationsDelivered(host, requestId) {
  return untilDeliveries(host, 'the request.received notifications', (states) => {
    const s = states.find((x) => x.input?.includes('"request.received"') && x.input.includes(requestId));
    if (s && s.status === 'Completed') return JSON.parse(s.output ?? '{}').deliveries ?? 0;
    if (s && s.status !== 'Running' && s.status !== 'Pending')
      throw new Error(`notifications ${s.status}: ${s.output}`);
    return undefined;
  });
}

/** Waits until no delivery orchestration is pending or running: how many there were, and how long it took. */
async function deliveriesFinished(host) {
  const t0 = performance.now();
  const instances = await untilDeliveries(host, "the decisions' notifications", (states) =>
    states.some((x) => x.status === 'Running' || x.status === 'Pending') ? undefined : states.length,
  );
  return { instances, ms: performance.now() - t0 };
}

/**
 * Counts the host's requests to storage (the Azure SDK sends them through node:http) while `on` is set;
 * the sender thread has its own node:http, so its votes are not counted.
 */
const storageCalls = { on: false, port: 0, count: 0, byKind: new Map() };
const countCall = (key) => storageCalls.byKind.set(key, (storageCalls.byKind.get(key) ?? 0) + 1);
const http = require('node:http');
const request = http.request;
http.request = function (...args) {
  if (storageCalls.on) {
    const o = args[0] instanceof URL || typeof args[0] === 'string' ? new URL(args[0]) : args[0];
    if (Number(o.port) === storageCalls.port) {
      storageCalls.count++;
      // BENCH_CALLS=1 prints them by method and table.
      const opts = typeof args[1] === 'object' && !(args[1] instanceof Function) ? args[1] : o;
      const path = String(o.path ?? o.pathname ?? '')
        .replace(/^\/[^/]+\//, '')
        .replace(/Bench\d+x\d+/, '');
      const key = `${opts.method ?? o.method ?? 'GET'} ${path.replace(/[(?].*$/, '')}`;
      const req = request.apply(this, args);
      // A transaction names its table only in its body: the first operation's URL.
      if (key.endsWith('$batch')) {
        const end = req.end;
        req.end = function (chunk, ...rest) {
          const table = /^(?:POST|PUT|PATCH|MERGE|DELETE) \S+?\/(?:[^/\s]+\/)?([A-Za-z0-9]+?)(?:\(|\s)/m
            .exec(String(chunk ?? ''))?.[1]
            ?.replace(/Bench\d+x\d+/, '');
          countCall(table ? `${key} ${table}` : key);
          return end.call(this, chunk, ...rest);
        };
      } else countCall(key);
      return req;
    }
  }
  return request.apply(this, args);
};

async function run(n, concurrency, storagePid, report = true) {
  const banks = await keys(n);
  const config = {
    name: 'Bench Consortium',
    // Unanimous: every vote counts and the last one decides. The last voter rejects, so the decision
    // comes with the last vote (a reject decides at once under this policy) and nothing is provisioned:
    // the figures are the votes' and the decision's, not the start of provisioning that would follow.
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
  // A new file each run: the platform keeps a consortium file it has read, by path.
  const file = join(dir, `consortium-${n}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(config));
  process.env.TRUSTNET_CONSORTIUM_FILE = file;
  process.env.TRUSTNET_TASK_HUB = `Bench${n}x${Date.now()}`;
  // Ballots of this size open at once, so that the figure is throughput and not one burst's latency:
  // enough of them for about BENCH_VOTES votes in all (1,000 by default; one ballot at 1,000 voters).
  // The cap on open requests is raised to let them all open.
  const ballots = Math.max(1, Math.round(VOTES / n));
  process.env.TRUSTNET_MAX_OPEN_REQUESTS = String(Math.max(20, ballots));
  // BENCH_NOTIFY=1: as `npm start` runs it, the local cloud (Key Vault, email) in process, so
  // notifications are planned and emailed; the founders' nodes are not built (no vote reads them).
  const cloud = NOTIFY ? await startLocalCloud({ buildFounders: false }) : undefined;
  const host = await startHost({
    appDir: root,
    port: 0,
    loadLocalSettings: false,
    logger: () => {},
    ...(cloud ? { admin: (method, path, body) => cloud.admin(method, path, body) } : {}),
  });
  try {
    const applicants = await keys(ballots);
    const now = () => new Date(host.clock.now()).toISOString();
    const requests = applicants.map((a, i) => ({
      consortium: config.name,
      requestId: randomUUID(),
      applicant: {
        id: `bench-applicant-${i}`,
        legalName: `O=Bench Applicant ${i}, L=Paris, C=FR`,
        contacts: { email: [`ops@applicant-${i}.example`] },
        azure: {
          tenantId: randomUUID(),
          subscriptionId: randomUUID(),
          resourceGroup: `rg-a-${i}`,
          region: 'uksouth',
          addressSpace: `172.${16 + Math.floor(i / 256)}.${i % 256}.0/24`,
        },
        profile: 'Small',
      },
      issuedAt: now(),
    }));
    // Votes are signed beforehand, before the requests are even sent: the benchmark measures the
    // platform, not the voters' laptops, and the signing does not land in the notification figures below.
    // They are sent in rounds, one vote per ballot each, so every ballot is open and voted on throughout.
    const votes = [];
    for (const [i, b] of banks.entries())
      for (const r of requests)
        votes.push({
          url: `${host.url}/api/membership-requests/${r.requestId}/votes`,
          ballot: r.requestId,
          jws: await sign(
            {
              consortium: config.name,
              requestId: r.requestId,
              voter: b.id,
              decision: i === n - 1 ? 'reject' : 'approve',
              reason: 'benchmark',
              issuedAt: now(),
            },
            b.privateKey,
            { kid: b.id },
          ),
        });
    const notifyCpu0 = { host: cpuSeconds(process.pid), storage: cpuSeconds(storagePid) };
    storageCalls.on = NOTIFY;
    const requested = performance.now();
    for (const [i, payload] of requests.entries()) {
      const res = await fetch(`${host.url}/api/membership-requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/jose' },
        body: await sign(payload, applicants[i].privateKey, { jwk: applicants[i].publicJwk }),
      });
      if (res.status !== 202) throw new Error(`request answered ${res.status}: ${await res.text()}`);
    }
    // Voters vote after they have been told of the request: its `request.received` deliveries (one per
    // eligible voter and channel) finish before the votes are timed, and are reported on their own.
    // Without them, the votes wait for the ballots to open.
    let delivered = 0;
    for (const r of requests)
      delivered += NOTIFY
        ? await notificationsDelivered(host, r.requestId)
        : await ballotOpen(host, r.requestId);
    const notifyElapsed = (performance.now() - requested) / 1000;
    storageCalls.on = false;
    const notifyCalls = { count: storageCalls.count, byKind: new Map(storageCalls.byKind) };
    const notifyCpu = {
      host: cpuSeconds(process.pid) - notifyCpu0.host,
      storage: cpuSeconds(storagePid) - notifyCpu0.storage,
    };
    const before = host.durable.eventsWritten;
    const cpu0 = { host: cpuSeconds(process.pid), main: threadCpuSeconds(), storage: cpuSeconds(storagePid) };
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
    storageCalls.byKind.clear();
    storageCalls.on = true;
    // Each ballot's decision is timed from the answer to its last vote (the deciding one, under a
    // unanimous policy): the sender says when that came, and the ballot's state is watched from then on.
    // One watcher for every ballot (not a polling loop each, whose timers would load the host while
    // the ballots decide): every 5 ms it looks at the ballots whose last vote has been answered.
    const decisions = [];
    const pending = new Map();
    let resolveWatch;
    const watched = new Promise((res) => (resolveWatch = res));
    let sent = false;
    const watcher = setInterval(async () => {
      for (const [ballot, lastAnswered] of pending) {
        const r = await host.durable.getState(ballot);
        if (r && r.state.status === 'Completed' && pending.delete(ballot))
          decisions.push(performance.timeOrigin + performance.now() - lastAnswered);
      }
      if (sent && !pending.size) resolveWatch();
    }, 5);
    const watch = (ballot, lastAnswered) => pending.set(ballot, lastAnswered);
    const { Worker } = require('node:worker_threads');
    const result = await new Promise((resolve, reject) => {
      const w = new Worker(join(__dirname, 'vote-sender.js'), { workerData: { votes, concurrency } });
      w.on('message', (m) => (m.ballotDone ? watch(m.ballotDone, m.at) : resolve(m)));
      w.once('error', reject);
    });
    if (result.error) throw new Error(result.error);
    const callsAtLastVote = storageCalls.count;
    const latencies = result.latencies;
    if (profiler) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(process.env.BENCH_PROFILE, JSON.stringify(profile));
      profiler.disconnect();
    }
    const elapsed = result.elapsedMs / 1000;
    const cpu = {
      process: cpuSeconds(process.pid) - cpu0.host,
      main: threadCpuSeconds() - cpu0.main,
      storage: cpuSeconds(storagePid) - cpu0.storage,
      sender: result.cpuSeconds,
    };
    // The host is the process less the sender's thread (its main thread plus libuv, GC and other threads).
    const hostCpu = cpu.process - cpu.sender;
    // Until every ballot has decided: the work the votes caused, decisions included (after the last vote
    // many small ballots are still deciding, which the figures above leave out).
    sent = true;
    await watched;
    clearInterval(watcher);
    // From the first vote sent to the last decision seen: the rate at which votes became decisions.
    const decidedElapsed = (performance.timeOrigin + performance.now() - result.startedAt) / 1000;
    storageCalls.on = false;
    const decidedCpu = {
      host: cpuSeconds(process.pid) - cpu0.host - cpu.sender,
      storage: cpuSeconds(storagePid) - cpu0.storage,
    };
    const total = n * ballots;
    for (const r of requests) {
      const view = await (await fetch(`${host.url}/api/membership-requests/${r.requestId}`)).json();
      // Every vote verified, stored and counted: the recorded tally has all n votes.
      if (
        view.phase !== 'rejected' ||
        view.tally.approve !== n - 1 ||
        view.tally.reject !== 1 ||
        view.tally.eligible !== n
      )
        throw new Error(`ended ${view.phase} with ${JSON.stringify(view.tally)}`);
      if (view.votes.length !== n) throw new Error(`${view.votes.length} votes recorded, not ${n}`);
    }
    latencies.sort((a, b) => a - b);
    decisions.sort((a, b) => a - b);
    const pct = (list, p) => list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))].toFixed(1);
    const events = host.durable.eventsWritten - before;
    if (report) {
      const ms = (seconds) => ((1000 * seconds) / total).toFixed(2);
      const pctOf = (seconds) => ((100 * seconds) / elapsed).toFixed(0);
      const decided =
        ballots === 1
          ? `${decisions[0].toFixed(0)} ms`
          : `p50 ${pct(decisions, 50)} ms, max ${decisions.at(-1).toFixed(0)} ms`;
      console.log(
        `${String(n).padStart(5)} voters × ${String(ballots).padStart(3)} ballots: ${(total / elapsed).toFixed(0).padStart(5)} votes/s, p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms, deciding vote → decision ${decided}, history events per vote ${(events / total).toFixed(2)}, storage calls per vote ${(callsAtLastVote / total).toFixed(2)}`,
      );
      console.log(
        `        CPU ms per vote: host ${ms(hostCpu)} (main thread ${ms(cpu.main)}), storage ${ms(cpu.storage)}, sender ${ms(cpu.sender)}; busy: host ${pctOf(hostCpu)}%, storage ${pctOf(cpu.storage)}%, sender ${pctOf(cpu.sender)}%`,
      );
      console.log(
        `        until every ballot decided (${(decidedElapsed * 1000).toFixed(0)} ms, ${(total / decidedElapsed).toFixed(0)} votes/s), per vote: CPU ms host ${ms(decidedCpu.host)}, storage ${ms(decidedCpu.storage)}; storage calls ${(storageCalls.count / total).toFixed(2)}`,
      );
      if (process.env.BENCH_CALLS === '1')
        console.log(
          `        storage calls per vote: ${[...storageCalls.byKind].map(([k, c]) => `${k} ${(c / total).toFixed(2)}`).join(', ')}`,
        );
      if (NOTIFY)
        console.log(
          `        before the votes, request.received: ${delivered} deliveries in ${(notifyElapsed * 1000).toFixed(0)} ms (${(delivered / notifyElapsed).toFixed(0)} deliveries/s; CPU ms per delivery: host ${((1000 * notifyCpu.host) / Math.max(1, delivered)).toFixed(2)}, storage ${((1000 * notifyCpu.storage) / Math.max(1, delivered)).toFixed(2)}; storage calls per delivery ${(notifyCalls.count / Math.max(1, delivered)).toFixed(2)})`,
        );
      if (NOTIFY && process.env.BENCH_CALLS === '1')
        console.log(
          `        storage calls per delivery: ${[...notifyCalls.byKind].map(([k, c]) => `${k} ${(c / Math.max(1, delivered)).toFixed(2)}`).join(', ')}`,
        );
    }
    // The decisions' deliveries finish before the next size starts, so that its figures are its own.
    if (NOTIFY) {
      const drained = await deliveriesFinished(host);
      if (report)
        console.log(
          `        after the last decision, its notifications: ${drained.instances} delivery orchestrations finished ${drained.ms.toFixed(0)} ms later`,
        );
    }
    return {
      votesPerSecond: total / elapsed,
      decidedPerSecond: total / decidedElapsed,
      cpuMsPerVote: (1000 * (decidedCpu.host + decidedCpu.storage)) / total,
      hostMainMsPerVote: (1000 * cpu.main) / total,
      callsPerVote: storageCalls.count / total,
      decisionMs: decisions[Math.floor(decisions.length / 2)],
      votes: total,
    };
  } finally {
    await host.stop();
    cloud?.uninstall();
    rmSync(file, { force: true });
  }
}

/**
 * CPU microseconds per loopback HTTP round trip (4,000 of them, 8 at a time, in this process): how fast the
 * machine is, at the time, at what the votes mostly cost (sockets, HTTP parsing). A rough guide when runs
 * on a shared machine are compared: votes/s does not follow it in every swing.
 */
async function loopbackMicros() {
  const server = http.createServer((req, res) => req.resume().on('end', () => res.end('ok')));
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const { port } = server.address();
  const body = 'x'.repeat(500);
  const roundTrip = () =>
    new Promise((res, rej) =>
      http
        .request({ host: '127.0.0.1', port, method: 'POST', agent, path: '/' }, (r) =>
          r.resume().on('end', res),
        )
        .on('error', rej)
        .end(body),
    );
  try {
    for (let i = 0; i < 500; i++) await roundTrip();
    const cpu0 = process.cpuUsage();
    let left = 4000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (left-- > 0) await roundTrip();
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / 4000;
  } finally {
    agent.destroy();
    server.close();
  }
}

async function main() {
  const machine = await loopbackMicros();
  // The app's other settings (timer schedules and the like) as the sample gives them, unless set; the
  // bench sets its own storage, task hub and consortium.
  const sample = require(join(root, 'local.settings.sample.json')).Values;
  for (const [k, v] of Object.entries(sample))
    if (
      process.env[k] === undefined &&
      !/^(AzureWebJobsStorage|TRUSTNET_TASK_HUB|TRUSTNET_CONSORTIUM_FILE)$/.test(k)
    )
      process.env[k] = v;
  // Without the local cloud there is no email service to send through: none is configured (as a
  // platform without Communication Services), so events are planned and nothing is delivered.
  if (!NOTIFY) process.env.TRUSTNET_EMAIL_ENDPOINT = '';
  const azurite = await startAzurite();
  process.env.AzureWebJobsStorage = azurite.connectionString;
  storageCalls.port = azurite.ports.table;
  try {
    console.log(
      `verified votes over HTTP, ${CONCURRENCY} concurrent voters, unanimous policy (every vote counts; goal: ${GOAL_VOTES_PER_SECOND} votes/s)${WARMUP_VOTES > 0 ? ', after warm-up' : ', no warm-up'}; load average before: ${require('node:os')
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; machine: ${machine.toFixed(0)} µs of CPU per loopback HTTP round trip (lower is faster)`,
    );
    // Warm-up rounds first, not counted: every size in turn until BENCH_WARMUP_VOTES votes (3,000) have
    // been cast, so that every counted run measures a running platform, whose JIT (the host's and
    // Azurite's) has compiled the paths the votes take. Measured from cold (BENCH_WARMUP=0), the first
    // two 10 × 100 runs cost about 40% and 25% more host and storage CPU per vote than the runs after; a
    // 50-voter ballot, the warm-up before, left most of that in the first counted run. Their figures are
    // printed on one line, apart. BENCH_WARMUP=0 skips them.
    if (WARMUP_VOTES > 0) {
      const warm = [];
      for (let cast = 0; cast < WARMUP_VOTES;)
        for (const n of SIZES) {
          const r = await run(n, CONCURRENCY, azurite.pid, false);
          warm.push([n, r]);
          cast += r.votes;
        }
      console.log(
        `warm-up (not counted): ${warm
          .map(
            ([n, r]) =>
              `${n} voters ${r.votesPerSecond.toFixed(0)} votes/s (${r.decidedPerSecond.toFixed(0)} until decided, host + storage CPU ${r.cpuMsPerVote.toFixed(2)} ms per vote)`,
          )
          .join(', ')}`,
      );
    }
    // Every size runs BENCH_REPEAT times (3), in turns, and the verdicts below take each size's median: on
    // a machine whose speed swings from one minute to the next, one run says little.
    const runs = new Map(SIZES.map((n) => [n, []]));
    for (let k = 0; k < REPEAT; k++)
      for (const n of SIZES) runs.get(n).push(await run(n, CONCURRENCY, azurite.pid));
    for (const line of summary(runs)) console.log(line);
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
