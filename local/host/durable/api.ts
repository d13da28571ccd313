import type { IncomingMessage, ServerResponse } from 'node:http';
import { DurableError, type DurableEngine } from './engine';
import type { HistoryEvent, InstanceRecord, InstanceState, RuntimeStatus } from './store';

/**
 * The Durable Functions HTTP API (`/runtime/webhooks/durabletask/...`) that the real DurableClient calls
 * through `rpcBaseUrl`: start, status (with history), list with continuation, raise event, terminate,
 * suspend, resume, purge. Status codes are the extension's own.
 */

export const DURABLE_PREFIX = '/runtime/webhooks/durabletask/';

const EVENT_NAMES: Record<number, string> = {
  0: 'ExecutionStarted',
  1: 'ExecutionCompleted',
  2: 'ExecutionFailed',
  3: 'ExecutionTerminated',
  4: 'TaskScheduled',
  5: 'TaskCompleted',
  6: 'TaskFailed',
  7: 'SubOrchestrationInstanceCreated',
  8: 'SubOrchestrationInstanceCompleted',
  9: 'SubOrchestrationInstanceFailed',
  10: 'TimerCreated',
  11: 'TimerFired',
  12: 'OrchestratorStarted',
  13: 'OrchestratorCompleted',
  14: 'EventSent',
  15: 'EventRaised',
  16: 'ContinueAsNew',
  19: 'ExecutionSuspended',
  20: 'ExecutionResumed',
};

const parse = (text: string | undefined): unknown => (text === undefined ? null : JSON.parse(text));

export function clientBindingData(baseUrl: string, hubName: string): Record<string, unknown> {
  const base = `${baseUrl}${DURABLE_PREFIX}`;
  const q = `taskHub=${encodeURIComponent(hubName)}&connection=Storage`;
  return {
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${base}orchestrators/{functionName}[/{instanceId}]?${q}`,
      createAndWaitOnNewInstancePostUri: `${base}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${q}`,
    },
    managementUrls: managementUrls(base, 'INSTANCEID', q),
    baseUrl: `${baseUrl}/runtime/webhooks/durabletask`,
    requiredQueryStringParameters: q,
    rpcBaseUrl: base,
    httpBaseUrl: `${baseUrl}/runtime/webhooks/durabletask`,
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
}

function managementUrls(base: string, id: string, q: string): Record<string, string> {
  const inst = `${base}instances/${encodeURIComponent(id)}`;
  return {
    id,
    statusQueryGetUri: `${inst}?${q}`,
    sendEventPostUri: `${inst}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${inst}/terminate?reason={text}&${q}`,
    rewindPostUri: `${inst}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${inst}?${q}`,
    restartPostUri: `${inst}/restart?${q}`,
    suspendPostUri: `${inst}/suspend?reason={text}&${q}`,
    resumePostUri: `${inst}/resume?reason={text}&${q}`,
  };
}

function historyView(events: HistoryEvent[], withOutput: boolean): Record<string, unknown>[] {
  return events
    .filter((e) => e.EventType !== 12 && e.EventType !== 13)
    .map((e) => {
      const v: Record<string, unknown> = {
        EventType: EVENT_NAMES[e.EventType] ?? String(e.EventType),
        Timestamp: e.Timestamp,
      };
      if (e.EventId >= 0) v['EventId'] = e.EventId;
      if (e['Name'] !== undefined) v['FunctionName'] = e['Name'];
      if (e.EventType === 15) v['Name'] = e['Name'];
      for (const k of ['TaskScheduledId', 'TimerId', 'FireAt', 'Reason', 'Details', 'InstanceId'])
        if (e[k] !== undefined) v[k] = e[k];
      if (withOutput && typeof e['Result'] === 'string') v['Result'] = parse(e['Result'] as string);
      if (withOutput && e.EventType === 15 && typeof e['Input'] === 'string')
        v['Input'] = parse(e['Input'] as string);
      return v;
    });
}

export function statusView(
  state: InstanceState,
  options: { showInput?: boolean; history?: HistoryEvent[]; withOutput?: boolean } = {},
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    name: state.name,
    instanceId: state.instanceId,
    runtimeStatus: state.status,
    input: options.showInput === false ? null : parse(state.input),
    customStatus: parse(state.customStatus),
    output: parse(state.output),
    createdTime: state.createdTime,
    lastUpdatedTime: state.lastUpdatedTime,
  };
  if (options.history) {
    // The HTTP API documents `historyEvents`; the JS DurableClient reads `history`. Both carry the same list.
    view['historyEvents'] = historyView(options.history, options.withOutput === true);
    view['history'] = view['historyEvents'];
  }
  return view;
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.statusCode = status;
  if (body !== undefined) res.setHeader('content-type', 'application/json; charset=utf-8');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

function readJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new DurableError(400, 'The request body is not valid JSON.');
  }
}

const STATUS_CODE: Record<RuntimeStatus, number> = {
  Completed: 200,
  Failed: 400,
  Terminated: 400,
  Running: 202,
  Pending: 202,
  Suspended: 202,
  ContinuedAsNew: 202,
};

export async function handleDurableApi(
  engine: DurableEngine,
  hubName: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  body: Buffer,
  baseUrl: string,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname.slice(DURABLE_PREFIX.length);
  const segments = path.split('/').map(decodeURIComponent);
  const q = `taskHub=${encodeURIComponent(hubName)}&connection=Storage`;
  const flag = (name: string) => url.searchParams.get(name)?.toLowerCase() === 'true';
  try {
    if (segments[0] === 'orchestrators' && method === 'POST' && segments[1] && segments.length <= 3) {
      const id = await engine.startNew(segments[1], segments[2] || undefined, readJsonBody(body));
      const urls = managementUrls(`${baseUrl}${DURABLE_PREFIX}`, id, q);
      return send(res, 202, urls, { location: urls['statusQueryGetUri']! });
    }
    if (segments[0] !== 'instances')
      return send(res, 404, { message: `No Durable API route ${method} ${url.pathname}.` });
    const id = segments[1] ?? '';
    const op = segments[2];
    if (id === '' && method === 'GET') return send(res, 200, ...(await list(engine, url, req)));
    if (id === '' && method === 'DELETE') {
      const states = filterStates(await engine.listStates(), url).filter((s) =>
        ['Completed', 'Failed', 'Terminated'].includes(s.status),
      );
      for (const s of states) await engine.purge(s.instanceId);
      return send(res, states.length ? 200 : 404, { instancesDeleted: states.length });
    }
    if (!op && method === 'GET') {
      const record: InstanceRecord | undefined = await engine.getState(id);
      if (!record) return send(res, 404, { message: `No instance with ID '${id}' was found.` });
      const view = statusView(record.state, {
        showInput: url.searchParams.get('showInput') !== 'false',
        history: flag('showHistory') ? record.history : undefined,
        withOutput: flag('showHistoryOutput'),
      });
      return send(
        res,
        STATUS_CODE[record.state.status],
        view,
        record.state.status === 'Completed' ? {} : { location: `${baseUrl}${url.pathname}${url.search}` },
      );
    }
    if (!op && method === 'DELETE') {
      await engine.purge(id);
      return send(res, 200, { instancesDeleted: 1 });
    }
    const reason = url.searchParams.get('reason') ?? '';
    if (op === 'raiseEvent' && method === 'POST' && segments[3]) {
      await engine.raiseEvent(id, segments[3], readJsonBody(body));
      return send(res, 202);
    }
    if (op === 'terminate' && method === 'POST') return (await engine.terminate(id, reason), send(res, 202));
    if (op === 'suspend' && method === 'POST') return (await engine.suspend(id, reason), send(res, 202));
    if (op === 'resume' && method === 'POST') return (await engine.resume(id, reason), send(res, 202));
    if (op === 'rewind') return send(res, 501, { message: 'Rewind is not supported by the local host.' });
    return send(res, 404, { message: `No Durable API route ${method} ${url.pathname}.` });
  } catch (e) {
    if (e instanceof DurableError) return send(res, e.status, { message: e.message });
    throw e;
  }
}

function filterStates(states: InstanceState[], url: URL): InstanceState[] {
  const statuses = url.searchParams
    .get('runtimeStatus')
    ?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const from = url.searchParams.get('createdTimeFrom');
  const to = url.searchParams.get('createdTimeTo');
  const prefix = url.searchParams.get('instanceIdPrefix');
  return states.filter(
    (s) =>
      (!statuses || statuses.includes(s.status.toLowerCase())) &&
      (!from || Date.parse(s.createdTime) >= Date.parse(from)) &&
      (!to || Date.parse(s.createdTime) <= Date.parse(to)) &&
      (!prefix || s.instanceId.startsWith(prefix)),
  );
}

async function list(
  engine: DurableEngine,
  url: URL,
  req: IncomingMessage,
): Promise<[unknown, Record<string, string>]> {
  for (const k of ['createdTimeFrom', 'createdTimeTo']) {
    const v = url.searchParams.get(k);
    if (v && Number.isNaN(Date.parse(v))) throw new DurableError(400, `${k} is not a date: "${v}".`);
  }
  const top = Number(url.searchParams.get('top') ?? 100);
  if (!Number.isInteger(top) || top < 1) throw new DurableError(400, 'top must be a positive whole number.');
  const sorted = filterStates(await engine.listStates(), url).sort((a, b) =>
    a.createdTime === b.createdTime
      ? a.instanceId < b.instanceId
        ? -1
        : 1
      : a.createdTime < b.createdTime
        ? -1
        : 1,
  );
  const token = req.headers['x-ms-continuation-token'];
  let start = 0;
  if (typeof token === 'string' && token) {
    const offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0)
      throw new DurableError(400, 'The continuation token is not valid.');
    start = offset;
  }
  const page = sorted.slice(start, start + top);
  const headers: Record<string, string> = {};
  if (start + top < sorted.length)
    headers['x-ms-continuation-token'] = Buffer.from(String(start + top)).toString('base64url');
  return [
    page.map((s) => statusView(s, { showInput: url.searchParams.get('showInput') === 'true' })),
    headers,
  ];
}
