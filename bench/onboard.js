// npm run bench:onboard — how long onboarding an approved bank takes, against the critical path.
//
// For each consortium size it starts TrustNet in this process (local host + local cloud, one in-memory
// Azurite for all sizes), has a new bank apply, casts the majority's approvals and times the deciding
// vote's 202 until the request shows phase `active`. The lower bound is the slowest chain of Azure
// operations that must follow each other: the `network` deployment, then `gateway`, then the slowest
// connection deployment (they run in parallel), as the local cloud modelled them (its snapshot's runs).
// Goal (issue 5): ratio ≤ 1.1 at every size, never over the ARM write budget (200 burst, 10/s).
// A missed goal prints FAIL but exits 0 (a benchmark, not a test); errors exit 1.
//
// Knobs (environment):
//   BENCH_SIZES    founders per consortium, comma-separated            (default 1,10,50,100)
//   BENCH_LATENCY  local cloud latency factor: realistic Azure durations
//                  times this (45 min gateway × 0.02 = 54 s)            (default 0.02)
//   BENCH_POLL     TRUSTNET_POLL_INTERVAL for the run, ISO 8601         (default TRUSTNET_POLL_INTERVAL
//                  (how often a deployment is read between timers)      if set, else the app's
//                                                                       PT30S scaled by BENCH_LATENCY,
//                                                                       as every Azure duration is)
//   BENCH_TIMEOUT  seconds to wait for `active` per size                (default 900)
//   BENCH_PROFILE  `phases`: each phase's time under the size's line; `detail`: also what ran inside
//                  (functions, cloud requests, write-budget waits; bench/onboard-profile.js); `0`: none
//   BENCH_LOG      set: print the host's warnings and errors as they happen (else only on a failure)
//   BENCH_CPUPROFILE  a file name: a CPU profile of this process (host and local cloud) from the
//                  deciding vote to `active`, one file per size (<name>-<size>.cpuprofile)
// Run after `npm run build` (it reads dist/); it builds nothing itself.
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomUUID } = require('node:crypto');
const { CompactSign, exportJWK, generateKeyPair } = require('jose');

const root = join(__dirname, '..');
const { numberSetting, settingsOrExit, sizesSetting } = require('./settings');
const { startAzurite } = require(join(root, 'dist/local/host/azurite'));
const { startHost } = require(join(root, 'dist/local/host/host'));
const { startLocalCloud } = require(join(root, 'dist/local/cloud/start'));
const { deploymentName } = require(join(root, 'dist/core/provisioning'));

// Read as the bench starts: a bad value stops it before anything has started.
const { SIZES, LATENCY, TIMEOUT_S } = settingsOrExit(() => ({
  SIZES: sizesSetting('BENCH_SIZES', [1, 10, 50, 100]),
  LATENCY: numberSetting('BENCH_LATENCY', 0.02, { whole: false }),
  TIMEOUT_S: numberSetting('BENCH_TIMEOUT', 900, { min: 1, whole: false }),
}));
const POLL =
  process.env.BENCH_POLL ?? process.env.TRUSTNET_POLL_INTERVAL ?? `PT${Number((30 * LATENCY).toFixed(3))}S`;
const PROFILE = process.env.BENCH_PROFILE ?? 'phases';
const GOAL_RATIO = 1.1;

/** BENCH_CPUPROFILE: the inspector's CPU profiler on this process's main thread. */
const profiler = process.env.BENCH_CPUPROFILE
  ? (() => {
      const session = new (require('node:inspector').Session)();
      const post = (m, p) =>
        new Promise((res, rej) => session.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r))));
      session.connect();
      return {
        async start() {
          await post('Profiler.enable');
          await post('Profiler.start');
        },
        async stop(file) {
          const { profile } = await post('Profiler.stop');
          writeFileSync(file, JSON.stringify(profile));
        },
      };
    })()
  : undefined;
const BUDGET = { burst: 200, perSecond: 10 };
const CONSORTIUM = 'TrustNet Bench';
const STEPS = ['access', 'network', 'gateway', 'vault', 'certificate', 'node', 'peering', 'activate'];

if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 100))
  throw new Error(`BENCH_SIZES must list whole numbers 1..100 (a gateway holds 100 tunnels); got ${SIZES}`);
if (!Number.isFinite(LATENCY) || LATENCY <= 0) throw new Error('BENCH_LATENCY must be a positive number');

let azuritePid;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (iso) => Date.parse(iso);

async function newKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

function sign(payload, key, header) {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', ...header })
    .sign(key);
}

async function post(url, jws) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/jose' },
    body: jws,
  });
  const body = await res.json().catch(() => undefined);
  if (res.status !== 202) throw new Error(`POST ${url} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** N founders, each with its own subscription and a distinct /24, policy majority. */
async function writeConsortium(dir, n) {
  const keys = {};
  const members = [];
  for (let i = 0; i < n; i++) {
    const id = `bank-${String(i + 1).padStart(3, '0')}`;
    keys[id] = await newKey();
    members.push({
      id,
      legalName: `O=Founder Bank ${String(i + 1).padStart(3, '0')}, L=London, C=GB`,
      governanceKey: keys[id].publicJwk,
      contacts: { email: [`ops@${id}.example`] },
      azure: {
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        resourceGroup: `rg-${id}`,
        region: 'uksouth',
        addressSpace: `10.${Math.floor(i / 256) + 1}.${i % 256}.0/24`,
      },
      profile: 'Small',
    });
  }
  const file = join(dir, `consortium-${n}.json`);
  writeFileSync(
    file,
    JSON.stringify({ name: CONSORTIUM, policy: { kind: 'majority' }, votingWindow: 'P7D', members }),
  );
  return { file, keys, ids: members.map((m) => m.id) };
}

/**
 * Counts ARM writes per subscription as the emulator admits them (the budget is per subscription):
 * the busiest second and the lowest number of tokens left in any bucket.
 */
function watchWrites(cloud) {
  const seen = { perSecond: new Map(), peak: 0, minRemaining: BUDGET.burst, budget429: 0 };
  const inner = cloud.arm.handle;
  cloud.arm.handle = async (req) => {
    const res = await inner(req);
    const sub = /\/subscriptions\/([^/]+)/i.exec(req.url.pathname)?.[1]?.toLowerCase();
    const left = res.headers?.['x-ms-ratelimit-remaining-subscription-writes'];
    if (res.status === 429 && res.body?.error?.code === 'SubscriptionRequestsThrottled') seen.budget429++;
    else if (sub && left !== undefined && res.status !== 429) {
      const key = `${sub}|${Math.floor(Date.now() / 1000)}`;
      const count = (seen.perSecond.get(key) ?? 0) + 1;
      seen.perSecond.set(key, count);
      seen.peak = Math.max(seen.peak, count);
      seen.minRemaining = Math.min(seen.minRemaining, Number(left));
    }
    return res;
  };
  return seen;
}

async function onboard(n, dir) {
  const { file, keys, ids } = await writeConsortium(dir, n);
  process.env.TRUSTNET_CONSORTIUM_FILE = file;
  process.env.TRUSTNET_TASK_HUB = `Bench${n}x${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  process.env.TRUSTNET_POLL_INTERVAL = POLL;
  process.env.TRUSTNET_KEY_VAULT_URL = 'https://trustnet-platform.vault.azure.net';
  process.env.TRUSTNET_PLATFORM_PRINCIPAL_ID = '00000000-0000-4000-8000-000000000001';

  const logs = [];
  const cloud = await startLocalCloud({ latencyFactor: LATENCY });
  let host;
  let detail;
  try {
    host = await startHost({
      appDir: root,
      port: 0,
      loadLocalSettings: false,
      admin: (method, path, body) => cloud.admin(method, path, body),
      logger: (r) => {
        if (r.level !== 'warning' && r.level !== 'error' && r.level !== 'critical') return;
        logs.push(r);
        if (process.env.BENCH_LOG) console.error(`  host ${r.level} ${r.functionName ?? ''} ${r.message}`);
      },
    });
    const writes = watchWrites(cloud);
    detail = PROFILE === 'detail' ? require('./onboard-profile').watch(host, cloud, azuritePid) : undefined;

    // The applicant prepares and delegates its resource group, then asks to join.
    const applicantKey = await newKey();
    const requestId = randomUUID();
    const azure = {
      tenantId: randomUUID(),
      subscriptionId: randomUUID(),
      resourceGroup: 'rg-bank-new',
      region: 'uksouth',
      addressSpace: '10.200.0.0/16',
    };
    await cloud.arm.prepareResourceGroup({
      subscriptionId: azure.subscriptionId,
      resourceGroup: azure.resourceGroup,
      location: azure.region,
      delegated: true,
    });
    await post(
      `${host.url}/api/membership-requests`,
      await sign(
        {
          consortium: CONSORTIUM,
          requestId,
          applicant: {
            id: 'bank-new',
            legalName: 'O=Bank New, L=Madrid, C=ES',
            contacts: { email: ['ops@bank-new.example'] },
            azure,
            profile: 'Medium',
          },
          issuedAt: new Date().toISOString(),
        },
        applicantKey.privateKey,
        { jwk: applicantKey.publicJwk },
      ),
    );

    // A majority approves, one vote after another; the last one decides.
    const required = Math.floor(n / 2) + 1;
    let t0 = 0;
    let wall0 = 0;
    let events0 = 0;
    for (const voter of ids.slice(0, required)) {
      const last = voter === ids[required - 1];
      const vote = {
        consortium: CONSORTIUM,
        requestId,
        voter,
        decision: 'approve',
        reason: 'benchmark',
        issuedAt: new Date().toISOString(),
      };
      const jws = await sign(vote, keys[voter].privateKey, { kid: voter });
      if (last) events0 = host.durable.eventsWritten;
      const answer = await post(`${host.url}/api/membership-requests/${requestId}/votes`, jws);
      if (last) {
        t0 = performance.now();
        wall0 = Date.now();
        if (profiler) await profiler.start();
        if (answer?.tally && answer.tally.approve < answer.tally.required)
          throw new Error(`the deciding vote left the tally at ${JSON.stringify(answer.tally)}`);
      }
    }

    // Until active, reading the status every 50 ms.
    let status;
    for (;;) {
      const res = await fetch(`${host.url}/api/membership-requests/${requestId}`);
      status = await res.json();
      if (status.phase === 'active') break;
      if (['failed', 'rejected', 'expired', 'withdrawn'].includes(status.phase))
        throw new Error(
          `size ${n}: request ended ${status.phase}: ${JSON.stringify(status.steps)}\n` + hostSaid(logs),
        );
      // The engine dropped an episode (it logs this and moves on): that instance will never move again.
      const dropped = logs.find(
        (r) => r.level === 'error' && /^Processing instance .* failed/.test(r.message),
      );
      if (dropped)
        throw new Error(
          `size ${n}: stuck in phase ${status.phase}, step ${runningStep(status)}, ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s after the deciding vote; host said:\n` +
            hostSaid([dropped]),
        );
      if (performance.now() - t0 > TIMEOUT_S * 1000)
        throw new Error(
          `size ${n}: not active after ${TIMEOUT_S} s (phase ${status.phase}); host said:\n` + hostSaid(logs),
        );
      await sleep(50);
    }
    const seconds = (performance.now() - t0) / 1000;
    const wallActive = Date.now();
    if (profiler)
      await profiler.stop(`${process.env.BENCH_CPUPROFILE.replace(/\.cpuprofile$/, '')}-${n}.cpuprofile`);
    const events = host.durable.eventsWritten - events0;

    // The critical path as the local cloud modelled it: network → gateway → slowest connection.
    const snapshot = await cloud.arm.snapshot();
    const runOf = (name) => {
      const d = snapshot.deployments.find((x) => x.name === name && !x.parentId);
      if (!d) throw new Error(`size ${n}: deployment ${name} is not in the local cloud`);
      const r = d.runs.at(-1);
      return { start: ms(r.startedAt), end: ms(r.endsAt), seconds: (ms(r.endsAt) - ms(r.startedAt)) / 1000 };
    };
    const network = runOf(deploymentName(requestId, 'network'));
    const gateway = runOf(deploymentName(requestId, 'gateway'));
    const connections = ids.flatMap((peer) => [
      runOf(deploymentName(requestId, `cn-${peer}-out`)),
      runOf(deploymentName(requestId, `cn-${peer}-in`)),
    ]);
    const slowest = connections.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    const lowerBound = network.seconds + gateway.seconds + slowest.seconds;

    const stats = cloud.arm.stats();
    const steps = Object.fromEntries((status.steps ?? []).map((x) => [x.name, x]));
    const slots = host.app.hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions ?? 10;
    const windows =
      detail &&
      [
        ['deciding vote → network started', wall0, ms(steps.network.started)],
        ['peering step', ms(steps.peering.started), ms(steps.peering.ended)],
      ].map(([title, from, to]) => [title, detail.summary(from, to, slots)]);
    return {
      n,
      members: n + 1,
      seconds,
      lowerBound,
      ratio: seconds / lowerBound,
      peak: stats.peakWritesPerSecond,
      writes: stats.writes,
      throttled: stats.throttled,
      budget429: writes.budget429,
      peakPerSub: writes.peak,
      minRemaining: writes.minRemaining,
      events,
      warnings: logs.length,
      profile: profile(status, wall0, wallActive, { network, gateway, connections, slowest }),
      windows,
    };
  } finally {
    detail?.stop();
    if (host) await host.stop();
    cloud.uninstall();
  }
}

function runningStep(status) {
  return (status.steps ?? []).find((x) => x.state === 'running')?.name ?? '(none running)';
}

/** The first few warnings and errors of the host, cut short. */
function hostSaid(logs) {
  return logs
    .slice(0, 5)
    .map((r) => `  ${r.level} ${r.functionName ?? ''} ${r.message.slice(0, 600)}`)
    .join('\n');
}

/** Where the time went: each phase on the app's clock, and the modelled Azure time inside it. */
function profile(status, wall0, wallActive, model) {
  const step = Object.fromEntries(
    (status.steps ?? []).map((s) => [s.name, { start: ms(s.started), end: ms(s.ended) }]),
  );
  const missing = STEPS.filter((s) => !step[s]);
  if (missing.length) return { missing };
  const connStart = Math.min(...model.connections.map((c) => c.start));
  const connEnd = Math.max(...model.connections.map((c) => c.end));
  const s = (a, b) => (b - a) / 1000;
  return {
    rows: [
      ['vote 202 → access started (close ballot, start, plan)', s(wall0, step.access.start), 0],
      ['access', s(step.access.start, step.access.end), 0],
      ['access ended → network started', s(step.access.end, step.network.start), 0],
      ['network step', s(step.network.start, step.network.end), model.network.seconds],
      ['  of which: step start → deployment started', s(step.network.start, model.network.start), 0],
      ['  of which: deployment ended → step ended', s(model.network.end, step.network.end), 0],
      ['network ended → gateway started', s(step.network.end, step.gateway.start), 0],
      ['gateway step', s(step.gateway.start, step.gateway.end), model.gateway.seconds],
      ['  of which: step start → deployment started', s(step.gateway.start, model.gateway.start), 0],
      ['  of which: deployment ended → step ended', s(model.gateway.end, step.gateway.end), 0],
      ['gateway ended → peering started', s(step.gateway.end, step.peering.start), 0],
      ['peering step', s(step.peering.start, step.peering.end), model.slowest.seconds],
      ['  of which: step start → first connection started', s(step.peering.start, connStart), 0],
      [
        '  of which: first → last connection started',
        s(connStart, Math.max(...model.connections.map((c) => c.start))),
        0,
      ],
      ['  of which: last connection ended → step ended', s(connEnd, step.peering.end), 0],
      ['peering ended → activate started', s(step.peering.end, step.activate.start), 0],
      ['activate', s(step.activate.start, step.activate.end), 0],
      ['activate ended → phase active seen', s(step.activate.end, wallActive), 0],
      ['(node branch: vault → node ended, off the path)', s(step.vault.start, step.node.end), 0],
    ],
  };
}

function printTable(results) {
  const head = [
    'members',
    'onboard s',
    'bound s',
    'ratio',
    'peak w/s',
    'peak w/s/sub',
    'min tokens',
    'throttled',
    'history ev',
    'goal',
  ];
  const rows = results.map((r) =>
    r.error
      ? [`${r.n}+1`, ...Array(head.length - 2).fill('-'), 'ERROR']
      : [
          `${r.n}+1`,
          r.seconds.toFixed(1),
          r.lowerBound.toFixed(1),
          r.ratio.toFixed(3),
          String(r.peak),
          String(r.peakPerSub),
          String(r.minRemaining),
          String(r.throttled),
          String(r.events),
          r.ratio <= GOAL_RATIO && r.budget429 === 0 ? 'PASS' : 'FAIL',
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  for (const r of results.filter((x) => x.error)) console.log(`${r.n}+1: ${r.error}`);
}

async function main() {
  // Settings the benchmark does not set come from local.settings.sample.json, as `npm start` takes them.
  const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')).Values;
  for (const [name, value] of Object.entries(sample))
    if (name !== 'AzureWebJobsStorage' && process.env[name] === undefined) process.env[name] = value;
  delete process.env.AZURE_SUBSCRIPTION_ID; // the local cloud, never Azure
  process.env.TRUSTNET_DRY_RUN = 'false';
  const azurite = await startAzurite();
  process.env.AzureWebJobsStorage = azurite.connectionString;
  azuritePid = azurite.pid;
  // Interrupted (Ctrl-C, a CI timeout): stop the Azurite this run started rather than leave it behind.
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      void azurite.stop().finally(() => process.exit(130));
    });
  const dir = mkdtempSync(join(tmpdir(), 'trustnet-bench-onboard-'));
  const results = [];
  try {
    for (const n of SIZES) {
      let r;
      try {
        r = await onboard(n, dir);
      } catch (e) {
        // One size going wrong still lets the others be measured; the exit code says it.
        console.error(`${n} founder(s): ERROR ${e?.stack ?? e}`);
        results.push({ n, error: String(e?.message ?? e).split('\n')[0] });
        continue;
      }
      results.push(r);
      console.log(
        `${n} founder(s): active in ${r.seconds.toFixed(1)} s, lower bound ${r.lowerBound.toFixed(1)} s, ` +
          `ratio ${r.ratio.toFixed(3)}; ARM writes ${r.writes}, peak ${r.peak}/s (${r.peakPerSub}/s in one ` +
          `subscription, fewest tokens left ${r.minRemaining}/${BUDGET.burst}), throttled ${r.throttled}` +
          (r.warnings ? `; host warnings/errors: ${r.warnings}` : ''),
      );
      if (PROFILE !== '0' && r.profile.rows) {
        for (const [what, actual, modelled] of r.profile.rows)
          console.log(
            `    ${what.padEnd(58)} ${actual.toFixed(2).padStart(8)} s${modelled ? `  (modelled ${modelled.toFixed(2)} s)` : ''}`,
          );
      }
      for (const [title, summary] of r.windows ?? []) require('./onboard-profile').print(title, summary);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await azurite.stop();
  }
  console.log('');
  console.log(
    `onboarding one bank, local cloud (latency factor ${LATENCY}, poll ${POLL}, founders built instantly; ` +
      `ARM budget ${BUDGET.burst} burst, ${BUDGET.perSecond}/s per subscription)`,
  );
  printTable(results);
  console.log(`Goal: ratio ≤ ${GOAL_RATIO} at every size, never over the ARM write budget`);
  const budgetHit = results.filter((r) => r.budget429 > 0);
  console.log(
    budgetHit.length
      ? `ARM write budget: 429 SubscriptionRequestsThrottled at ${budgetHit.map((r) => `${r.n} founders (${r.budget429})`).join(', ')}`
      : `ARM write budget: no 429 from the write budget at any ${results.some((r) => r.error) ? 'measured ' : ''}size`,
  );
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
