import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TableClient } from '@azure/data-tables';
import { addDuration, DurationError, isZero, parseDuration } from '../../core/duration';
import { problemBody, type Problem } from '../../runtime/problem';
import { ConfigError, positiveIntSetting } from '../../runtime/settings';
import { BodyTooLargeError, readBody } from './body';
import { HostStartError } from './errors';
import { HostClock } from './host-clock';
import {
  buildRouteTable,
  findRoute,
  httpOutput,
  toRpcHttp,
  triggerBinding,
  writeHttpResponse,
  type HttpRoute,
} from './http-trigger';
import { FunctionFailedError, Invoker } from './invoke';
import { clientBindingData, DURABLE_PREFIX, handleDurableApi } from './durable/api';
import { DurableEngine } from './durable/engine';
import type { CapturedFunction, TypedData } from './functions-core';
import { cpus } from 'node:os';
import { loadApp, type LoadedApp } from './load-app';
import { consoleLogger, type HostLogger } from './logger';
import { parseSchedule, ScheduleError } from './ncrontab';
import { loadLocalSettings, resolveSettingReferences } from './settings-file';
import {
  MemoryScheduleStatusStore,
  TableScheduleStatusStore,
  TimerScheduler,
  type ScheduleStatusStore,
  type TimerDefinition,
  type TimerPayload,
} from './timers';

export interface HostOptions {
  /** Folder with host.json and a package.json whose `main` is built. */
  appDir: string;
  /** Port to listen on; 0 picks a free one. Default 7071. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  hostname?: string;
  /** Run on a virtual clock that `/admin/host/clock` moves forward. */
  virtualClock?: boolean;
  /** Copy local.settings.json Values into process.env first (default true). */
  loadLocalSettings?: boolean;
  /**
   * More loopback-only admin routes (the local cloud's /admin/cloud/*): answers undefined for paths it
   * does not own.
   */
  admin?: (
    method: string,
    path: string,
    body: string,
  ) => Promise<{ status: number; body?: unknown } | undefined>;
  /** Where timer schedule status is kept; default a table in AzureWebJobsStorage. */
  scheduleStore?: ScheduleStatusStore;
  logger?: HostLogger;
}

export interface FunctionInfo {
  name: string;
  trigger: string;
  route?: string;
  methods?: string[];
  authLevel?: string;
  schedule?: string;
  unsupported?: string;
}

export interface RunningHost {
  readonly url: string;
  readonly port: number;
  readonly clock: HostClock;
  readonly app: LoadedApp;
  readonly functions: FunctionInfo[];
  readonly timers: TimerScheduler;
  readonly durable: DurableEngine;
  /** Moves a virtual clock forward (ISO 8601 duration) and fires what fell due; returns what fired. */
  advanceClock(
    duration: string,
  ): Promise<{ now: string; fired: { functionName: string; scheduledFor: string }[] }>;
  stop(): Promise<void>;
}

const DEFAULT_MAX_BODY = 1024 * 1024;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
// Triggers this host serves today; anything else is listed but not run.
const SERVED_TRIGGERS = new Set(['httptrigger', 'timertrigger', 'orchestrationtrigger', 'activitytrigger']);

function sendProblem(res: ServerResponse, p: Problem, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(problemBody(p));
  res.statusCode = p.status;
  res.setHeader('content-type', 'application/problem+json');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const log = options.logger ?? consoleLogger();
  const hostLog = (level: 'information' | 'warning' | 'error', message: string, functionName?: string) =>
    log({ time: new Date().toISOString(), level, category: 'host', functionName, message });

  if (options.loadLocalSettings !== false) loadLocalSettings(options.appDir);
  let maxBody: number;
  try {
    maxBody = positiveIntSetting('TRUSTNET_MAX_BODY_BYTES', DEFAULT_MAX_BODY);
  } catch (e) {
    throw new HostStartError((e as ConfigError).message);
  }

  const clock = new HostClock(options.virtualClock === true);
  const app = loadApp(options.appDir);
  const invoker = new Invoker(app.captured, log);
  const functions = [...app.captured.functions.values()];
  const routePrefix = app.hostJson.extensions?.http?.routePrefix ?? 'api';
  const routes = buildRouteTable(functions, routePrefix);

  const timerDefs: TimerDefinition[] = [];
  const infos: FunctionInfo[] = [];
  for (const fn of functions) {
    const trigger = triggerBinding(fn);
    const type = String(trigger?.[1].type ?? 'none');
    const info: FunctionInfo = { name: fn.metadata.name, trigger: type };
    const route = routes.find((r) => r.fn === fn);
    if (route)
      Object.assign(info, { route: route.template, methods: route.methods, authLevel: route.authLevel });
    if (type.toLowerCase() === 'timertrigger') {
      const binding = trigger![1];
      const where = `Timer function "${fn.metadata.name}" schedule`;
      const expression = resolveSettingReferences(String(binding['schedule'] ?? ''), where);
      try {
        const schedule = parseSchedule(expression, new Date(clock.now()));
        timerDefs.push({
          functionName: fn.metadata.name,
          schedule,
          runOnStartup: binding['runOnStartup'] === true,
          useMonitor: binding['useMonitor'] !== false,
        });
        info.schedule = schedule.expression;
      } catch (e) {
        if (e instanceof ScheduleError) throw new HostStartError(`${where}: ${e.message}`);
        throw e;
      }
    }
    if (!SERVED_TRIGGERS.has(type.toLowerCase())) {
      info.unsupported = `the local host does not run ${type} functions yet`;
      hostLog(
        'warning',
        `${type} is not served by the local host; "${fn.metadata.name}" will not run.`,
        fn.metadata.name,
      );
    }
    infos.push(info);
  }

  let store = options.scheduleStore;
  if (!store && timerDefs.length > 0) {
    const cs = process.env['AzureWebJobsStorage'];
    if (cs && !/UseDevelopmentStorage=true/i.test(cs)) {
      store = new TableScheduleStatusStore(
        TableClient.fromConnectionString(cs, 'TrustNetHostTimers', { allowInsecureConnection: true }),
        app.name.replace(/[^A-Za-z0-9]/g, '') || 'app',
      );
    } else {
      hostLog(
        'warning',
        'AzureWebJobsStorage is not a connection string: timer schedule status is kept in memory only.',
      );
      store = new MemoryScheduleStatusStore();
    }
  }

  const timers = new TimerScheduler(
    timerDefs,
    clock,
    store ?? new MemoryScheduleStatusStore(),
    async (functionName, payload: TimerPayload) => {
      const fn = app.captured.functions.get(functionName)!;
      const [triggerName] = triggerBinding(fn)!;
      await invoker.invoke(fn, {
        inputData: [{ name: triggerName, data: { string: JSON.stringify(payload) } }, ...extraInputs(fn)],
      });
    },
    (functionName, error) =>
      hostLog('error', `Timer run failed: ${(error as Error)?.message ?? error}`, functionName),
  );

  // Durable Functions: orchestrations, activities and the durable client, in the task hub host.json names.
  const durableConfig = app.hostJson.extensions?.durableTask ?? {};
  const usesDurable = functions.some((fn) =>
    Object.values(fn.metadata.bindings).some((b) =>
      /^(orchestrationTrigger|activityTrigger|durableClient)$/i.test(String(b.type)),
    ),
  );
  // The hub name (often a %SETTING%) matters only to apps that use Durable Functions.
  const hubName = usesDurable
    ? resolveSettingReferences(
        String(durableConfig.hubName ?? 'TestHubName'),
        'host.json extensions.durableTask.hubName',
      )
    : 'TestHubName';
  if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(hubName)) {
    throw new HostStartError(
      `Task hub name "${hubName}" must start with a letter and hold 3 to 45 letters or digits.`,
    );
  }
  const limit = (key: string) => {
    const v = durableConfig[key];
    if (v === undefined) return 10 * cpus().length;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new HostStartError(`host.json extensions.durableTask.${key} must be a positive whole number.`);
    return v;
  };
  const durable = new DurableEngine(
    functions,
    invoker,
    clock,
    process.env['AzureWebJobsStorage'] ?? '',
    {
      hubName,
      maxConcurrentActivities: limit('maxConcurrentActivityFunctions'),
      maxConcurrentOrchestrations: limit('maxConcurrentOrchestratorFunctions'),
      maximumShortTimerMs: 6 * 24 * 3600e3,
      longRunningTimerIntervalMs: 3 * 24 * 3600e3,
      extraInputs: (fn) => extraInputs(fn),
    },
    log,
  );
  timers.addSource(durable);
  let baseUrl = '';

  /** Extra inputs the host fills in: the durable client's binding data. */
  const clientInputs = new Map<CapturedFunction, { baseUrl: string; names: string[]; data: string }>();
  function extraInputs(fn: CapturedFunction): { name: string; data: TypedData }[] {
    // Worked out once per function (the base URL is fixed once listening); fresh objects every call.
    let c = clientInputs.get(fn);
    if (!c || c.baseUrl !== baseUrl) {
      const names = Object.entries(fn.metadata.bindings)
        .filter(([, b]) => b.direction === 'in' && String(b.type).toLowerCase() === 'durableclient')
        .map(([name]) => name);
      c = { baseUrl, names, data: JSON.stringify(clientBindingData(baseUrl, hubName)) };
      clientInputs.set(fn, c);
    }
    const data = c.data;
    return c.names.map((name) => ({ name, data: { string: data } }));
  }

  /** The whole body, or undefined after answering 413 when it is over TRUSTNET_MAX_BODY_BYTES. */
  async function readCappedBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    try {
      return await readBody(req, maxBody);
    } catch (e) {
      if (!(e instanceof BodyTooLargeError)) throw e;
      res.setHeader('connection', 'close');
      sendProblem(res, {
        status: 413,
        code: 'HOST.BODY_TOO_LARGE',
        title: 'Content Too Large',
        detail: `The request body exceeds ${maxBody} bytes (TRUSTNET_MAX_BODY_BYTES).`,
      });
      return undefined;
    }
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const match = findRoute(routes, method, url.pathname);
    if (match.kind === 'not-found') {
      return sendProblem(res, {
        status: 404,
        code: 'HOST.ROUTE_NOT_FOUND',
        title: 'Not Found',
        detail: `No function serves ${url.pathname}.`,
      });
    }
    if (match.kind === 'method-not-allowed') {
      return sendProblem(
        res,
        {
          status: 405,
          code: 'HOST.METHOD_NOT_ALLOWED',
          title: 'Method Not Allowed',
          detail: `${method} is not allowed on ${url.pathname}; use ${match.allow.join(', ')}.`,
        },
        { allow: match.allow.join(', ') },
      );
    }
    const body = await readCappedBody(req, res);
    if (!body) return;
    const route: HttpRoute = match.route;
    try {
      const outcome = await invoker.invoke(route.fn, {
        inputData: [
          { name: route.triggerName, data: toRpcHttp(req, url, match.params, body) },
          ...extraInputs(route.fn),
        ],
      });
      writeHttpResponse(res, httpOutput(route.fn, outcome.response), method === 'HEAD');
    } catch (e) {
      const id = e instanceof FunctionFailedError ? e.invocationId : 'unknown';
      hostLog(
        'error',
        e instanceof FunctionFailedError
          ? `${e.message}\n${(e.cause as Error)?.stack ?? ''}`
          : String((e as Error)?.stack ?? e),
        route.functionName,
      );
      sendProblem(res, {
        status: 500,
        code: 'HOST.FUNCTION_FAILED',
        title: 'Internal Server Error',
        detail: `Function "${route.functionName}" failed (invocation ${id}); the host log has the error.`,
      });
    }
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const notFound = (detail: string) =>
      sendProblem(res, { status: 404, code: 'HOST.ADMIN_NOT_FOUND', title: 'Not Found', detail });
    if (!LOOPBACK.test(req.socket.remoteAddress ?? ''))
      return notFound(`${url.pathname} answers on loopback only.`);
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/admin/host/clock') {
      if (!clock.virtual) return notFound('The virtual clock is off; start the host with --virtual-clock.');
      if (method === 'GET') return sendJson(res, 200, { now: new Date(clock.now()).toISOString() });
      if (method !== 'POST') {
        return sendProblem(
          res,
          {
            status: 405,
            code: 'HOST.METHOD_NOT_ALLOWED',
            title: 'Method Not Allowed',
            detail: 'Use GET or POST.',
          },
          { allow: 'GET, POST' },
        );
      }
      let input: unknown;
      try {
        input = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8'));
      } catch {
        return sendProblem(res, {
          status: 400,
          code: 'HOST.CLOCK_BAD_REQUEST',
          title: 'Bad Request',
          detail: 'Send a JSON object such as {"advance": "P8D"}.',
        });
      }
      const advance = (input as { advance?: unknown } | null)?.advance;
      if (typeof advance !== 'string') {
        return sendProblem(res, {
          status: 400,
          code: 'HOST.CLOCK_BAD_REQUEST',
          title: 'Bad Request',
          detail: '"advance" must be an ISO 8601 duration string such as "P8D" or "PT5M".',
        });
      }
      try {
        return sendJson(res, 200, await advanceClock(advance));
      } catch (e) {
        if (e instanceof DurationError || e instanceof RangeError) {
          return sendProblem(res, {
            status: 400,
            code: 'HOST.CLOCK_BAD_REQUEST',
            title: 'Bad Request',
            detail: e.message,
          });
        }
        throw e;
      }
    }
    if (path === '/admin/host/functions' && method === 'GET') {
      return sendJson(res, 200, { functions: infos, timers: timers.nextOccurrences() });
    }
    const manual = /^\/admin\/functions\/([^/]+)$/.exec(path);
    if (manual && method === 'POST') {
      // As the Functions host's admin API: run a non-HTTP function now; 202 Accepted.
      const name = decodeURIComponent(manual[1]!);
      await readBody(req, maxBody);
      if (!(await timers.runNow(name))) {
        return notFound(`No timer function named "${name}".`);
      }
      res.statusCode = 202;
      return void res.end();
    }
    if (options.admin) {
      const answer = await options.admin(method, path, (await readBody(req, maxBody)).toString('utf8'));
      if (answer) {
        if (answer.body === undefined) {
          res.statusCode = answer.status;
          return void res.end();
        }
        if (answer.status >= 400) {
          const b = answer.body as { code?: string; title?: string; detail?: string };
          return sendProblem(res, {
            status: answer.status,
            code: b.code ?? 'HOST.ADMIN_FAILED',
            title: b.title ?? 'Error',
            detail: b.detail ?? '',
          });
        }
        return sendJson(res, answer.status, answer.body);
      }
    }
    return notFound(`No admin route ${method} ${url.pathname}.`);
  }

  async function handleDurable(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) {
      return sendProblem(res, {
        status: 404,
        code: 'HOST.ROUTE_NOT_FOUND',
        title: 'Not Found',
        detail: 'The Durable API answers on loopback only.',
      });
    }
    const body = await readCappedBody(req, res);
    if (!body) return;
    await handleDurableApi(durable, hubName, req, res, url, body, baseUrl);
  }

  async function advanceClock(duration: string) {
    if (!clock.virtual) throw new RangeError('The clock is not virtual.');
    const d = parseDuration(duration);
    if (isZero(d)) throw new RangeError('"advance" must be longer than zero.');
    const from = clock.now();
    const fired = await timers.advance(addDuration(new Date(from), d).getTime() - from);
    return {
      now: new Date(clock.now()).toISOString(),
      fired: fired.map(({ functionName, scheduledFor }) => ({ functionName, scheduledFor })),
    };
  }

  const server: Server = createServer({ noDelay: true, keepAliveTimeout: 5000 }, (req, res) => {
    res.setHeader('date', new Date(clock.now()).toUTCString());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    } catch {
      return sendProblem(res, {
        status: 400,
        code: 'HOST.BAD_URL',
        title: 'Bad Request',
        detail: 'The request URL is malformed.',
      });
    }
    const work =
      url.pathname === '/admin' || url.pathname.startsWith('/admin/')
        ? handleAdmin(req, res, url)
        : url.pathname.startsWith(DURABLE_PREFIX)
          ? handleDurable(req, res, url)
          : handleApi(req, res, url);
    work.catch((e: unknown) => {
      hostLog(
        'error',
        `Request ${req.method} ${url.pathname} failed in the host: ${(e as Error)?.stack ?? e}`,
      );
      if (!res.headersSent)
        sendProblem(res, {
          status: 500,
          code: 'HOST.INTERNAL',
          title: 'Internal Server Error',
          detail: 'The local host failed; see its log.',
        });
      else res.destroy();
    });
  });

  clock.install();
  try {
    await invoker.runAppHook('appStart', app.dir);
  } catch (e) {
    throw new HostStartError(`The app's start-up failed: ${(e as Error)?.message ?? e}`);
  }
  const port = options.port ?? 7071;
  const hostname = options.hostname ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new HostStartError(`Port ${port} on ${hostname} is in use; choose another with --port.`)
          : e,
      ),
    );
    server.listen(port, hostname, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  baseUrl = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${actualPort}`;
  // As Core Tools does (and Azure, with the app's name): where the app answers. Without it the durable
  // client rewrites its webhook URLs to localhost:7071 on every getClient, whatever the port.
  const ownHostname = process.env['WEBSITE_HOSTNAME'] === undefined;
  if (ownHostname) process.env['WEBSITE_HOSTNAME'] = new URL(baseUrl).host;
  try {
    if (durable.hasOrchestrations) await durable.start();
  } catch (e) {
    server.close();
    if (ownHostname) delete process.env['WEBSITE_HOSTNAME'];
    throw new HostStartError(
      `Durable task hub "${hubName}" could not be read from storage (AzureWebJobsStorage): ${(e as Error).message}`,
    );
  }
  try {
    await timers.start();
  } catch (e) {
    server.close();
    if (ownHostname) delete process.env['WEBSITE_HOSTNAME'];
    throw new HostStartError(
      `Timer schedule status could not be read from storage (AzureWebJobsStorage): ${(e as Error).message}`,
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    url: baseUrl,
    durable,
    port: actualPort,
    clock,
    app,
    functions: infos,
    timers,
    advanceClock,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await timers.stop();
        await durable.stop();
        await invoker
          .runAppHook('appTerminate', app.dir)
          .catch((e: unknown) => hostLog('error', `appTerminate hook failed: ${(e as Error).message}`));
        clock.uninstall();
        if (ownHostname) delete process.env['WEBSITE_HOSTNAME'];
      })();
      return stopping;
    },
  };
}
