// Detail for bench/onboard.js (BENCH_PROFILE=detail): where the time inside a phase goes. It wraps, in
// this process only, the durable engine's invoker (each activity and orchestrator episode), the local
// cloud's ARM and Key Vault handlers (each SDK request) and the app's ARM write budget (each token), and
// sums them over a window of the app's clock.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

/** What an ARM or Key Vault request was, coarsely, for grouping. */
function kindOf(req) {
  const p = req.url.pathname.toLowerCase();
  const m = req.method;
  if (req.url.hostname.endsWith('.vault.azure.net')) return `vault ${m} ${p.split('/')[1] ?? ''}`;
  if (/\/operations\/|\/operationresults\//.test(p)) return `arm ${m} operation status`;
  if (/\/providers\/microsoft\.resources\/deployments\/[^/]+$/.test(p)) return `arm ${m} deployment`;
  if (/\/securityrules\//.test(p)) return `arm ${m} securityRule`;
  if (/\/resourcegroups\/[^/]+$/.test(p)) return `arm ${m} resourceGroup`;
  return `arm ${m} other`;
}

/** CPU milliseconds a process has used (Linux /proc), or undefined elsewhere. */
function cpuOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return undefined;
  }
}

function watch(host, cloud, azuritePid) {
  const records = [];
  const now = () => Date.now();

  // CPU of this process (app, host, local cloud, benchmark) and of Azurite, sampled every 100 ms.
  const cpu = [];
  const sample = () => {
    const u = process.cpuUsage();
    cpu.push({ t: now(), self: (u.user + u.system) / 1000, azurite: cpuOf(azuritePid) });
  };
  sample();
  const sampler = setInterval(sample, 100);
  sampler.unref();
  const cpuAt = (t, key) => {
    const s = cpu.find((x) => x.t >= t) ?? cpu.at(-1);
    return s[key];
  };

  const invoker = host.durable.invoker;
  const invoke = invoker.invoke.bind(invoker);
  invoker.invoke = async (fn, input) => {
    const start = now();
    try {
      return await invoke(fn, input);
    } finally {
      records.push({ group: triggerOf(fn), name: fn.metadata.name, start, end: now() });
    }
  };

  for (const emulator of [cloud.arm, cloud.vault]) {
    const inner = emulator.handle;
    emulator.handle = async (req) => {
      const start = now();
      const res = await inner(req);
      const retryAfter = res.headers?.['retry-after'];
      records.push({
        group: 'cloud',
        name: kindOf(req),
        start,
        end: now(),
        ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}),
      });
      return res;
    };
  }

  // Inside the ARM emulator: its handler proper, which for writes runs under its one-at-a-time lock.
  const arm = cloud.arm;
  const route = arm.route.bind(arm);
  arm.route = async (r, req) => {
    const start = now();
    try {
      return await route(r, req);
    } finally {
      const write = ['PUT', 'PATCH', 'DELETE', 'POST'].includes(req.method);
      records.push({
        group: write ? 'emulator write (locked)' : 'emulator read',
        name: kindOf(req).replace(/^arm /, ''),
        start,
        end: now(),
      });
    }
  };

  // The app's own modules (same require cache): its ARM adapter and the write budget it shares.
  const { getArm } = require(join(root, 'dist/orchestrations/provisioning-services'));
  const budget = getArm().options.budget;
  if (budget) {
    const take = budget.take.bind(budget);
    budget.take = async (sub) => {
      const start = now();
      try {
        return await take(sub);
      } finally {
        records.push({ group: 'budget', name: 'ArmWriteBudget.take', start, end: now() });
      }
    };
  }

  return {
    /** Totals of what started inside [from, to] (app clock, ms). */
    summary(from, to, slots) {
      const inside = records.filter((r) => r.start >= from && r.start <= to);
      const by = new Map();
      for (const r of inside) {
        const key = `${r.group}|${r.name}`;
        const s = by.get(key) ?? { group: r.group, name: r.name, count: 0, total: 0, max: 0, retryAfter: 0 };
        const d = r.end - r.start;
        s.count++;
        s.total += d;
        s.max = Math.max(s.max, d);
        if (r.retryAfter) s.retryAfter++;
        by.set(key, s);
      }
      const rows = [...by.values()].sort((a, b) => b.total - a.total);
      const activityBusy = inside
        .filter((r) => r.group === 'activity')
        .reduce((a, r) => a + (r.end - r.start), 0);
      const used = (key) => {
        const a = cpuAt(from, key);
        const b = cpuAt(to, key);
        return a === undefined || b === undefined ? undefined : b - a;
      };
      return {
        rows,
        windowMs: to - from,
        activityBusy,
        slots,
        cpuSelf: used('self'),
        cpuAzurite: used('azurite'),
      };
    },
    stop() {
      clearInterval(sampler);
    },
  };
}

/** activity, orchestrator or http: from the function's trigger binding. */
function triggerOf(fn) {
  const t = Object.values(fn.metadata.bindings).find((b) => b.direction === 'in' && /Trigger$/i.test(b.type));
  return String(t?.type ?? 'function').replace(/Trigger$/i, '');
}

function print(title, s) {
  console.log(`    ${title}: ${(s.windowMs / 1000).toFixed(2)} s`);
  console.log(
    `      activity slots busy ${(s.activityBusy / 1000).toFixed(1)} slot-s of ${((s.windowMs / 1000) * s.slots).toFixed(1)} ` +
      `(${s.slots} slots, ${((100 * s.activityBusy) / (s.windowMs * s.slots)).toFixed(0)}%)`,
  );
  const pct = (x) => (x === undefined ? 'n/a' : `${((100 * x) / s.windowMs).toFixed(0)}% of a core`);
  console.log(`      CPU: this process ${pct(s.cpuSelf)}, Azurite ${pct(s.cpuAzurite)}`);
  for (const r of s.rows.slice(0, 20))
    console.log(
      `      ${`${r.group} ${r.name}`.padEnd(48)} n=${String(r.count).padStart(4)}  total ${(r.total / 1000).toFixed(2).padStart(7)} s` +
        `  mean ${(r.total / r.count).toFixed(0).padStart(5)} ms  max ${String(r.max).padStart(5)} ms` +
        (r.retryAfter ? `  retry-after given ${r.retryAfter}x` : ''),
    );
}

module.exports = { watch, print };
