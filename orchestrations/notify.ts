import * as df from 'durable-functions';
import type { DurableClient, OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import { azureConnection, localCardRecorder } from '../azure/connection';
import { emailOperationId, emailSender, type EmailSender } from '../azure/email';
import { channelKey, NotificationLog } from '../azure/notification-log';
import { table } from '../azure/tables';
import { ChannelError, TeamsSender } from '../azure/teams-webhook';
import { maskWebhookUrl } from '../core/mask';
import type { Member } from '../core/membership';
import {
  notificationEvent,
  recipientsOf,
  renderCard,
  renderEmail,
  teamsMessage,
  type NotificationEvent,
  type NotificationEventInput,
  type Recipient,
} from '../core/notifications';
import { getConsortium, getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { inChunks, inParallel } from '../runtime/parallel';
import { readSetting } from '../runtime/settings';
import { logEvent, telemetry } from '../runtime/telemetry';
import { emailsOf, OPERATORS, operatorEmails, operatorsWebhook, teamsWebhookOf } from './notify-channels';

/**
 * Delivering one notification event to everyone it concerns, on every channel they have. Callers (an
 * activity, a timer) call `notify`, which plans the deliveries (one per recipient and channel) and starts
 * the delivery orchestration with them, the event id as its instance id, and returns: a replayed
 * orchestration or a re-run activity asks again and finds it started, and a slow or dead channel never
 * holds up a vote or an onboarding. An event with nobody to tell on any channel starts nothing.
 *
 * The orchestration sends the deliveries in parallel and re-sends those that failed transiently after
 * durable timers, never waiting inside an activity.
 * Each send claims (event, channel) in the notification log first, so nothing is sent twice even when
 * the orchestration replays or an activity runs again. History holds no webhook URL: a delivery names
 * its owner, and the send activity reads the URL from Key Vault.
 */

/** Given the event and its deliveries, planned before it starts. */
export const DELIVER_ORCHESTRATOR = 'notifyDeliverV3';
/**
 * Given the event only, plans the deliveries in an activity (with retries): for a plan that failed in
 * `notify` (the registry or the vault did not answer), and for instances started before V3.
 */
export const PLANNING_DELIVER_ORCHESTRATOR = 'notifyDeliverV2';
/** Plans, then sends one delivery per activity; kept for instances started before V2. */
export const LEGACY_DELIVER_ORCHESTRATOR = 'notifyDeliverV1';
export const PLAN_ACTIVITY = 'notifyPlanV1';
export const SEND_ACTIVITY = 'notifySendV1';
export const SEND_BATCH_ACTIVITY = 'notifySendBatchV1';

/**
 * Deliveries one send activity carries. An event to every member of a 1,000-member consortium is 1,000
 * deliveries; one activity each put the event (which lists the electorate) into the history 1,000 times,
 * and the fan-out never finished. In batches it is there 20 times.
 */
export const SEND_BATCH_SIZE = 50;
/** Deliveries of one batch sent at once. */
const SEND_CONCURRENCY = 8;

/** Waits before each re-send round (ms): 30 s, 2 min, 8 min, 30 min; then the channel has failed. */
export const RESEND_DELAYS_MS = [30_000, 120_000, 480_000, 1_800_000];

export interface Delivery {
  recipient: Recipient;
  channel: 'teams' | 'email';
  /** Whose channel: a member id, `operators` or `applicant`. */
  owner: string;
  /** Email addresses (not secret); none for Teams. */
  to?: string[];
  /** Hash of the channel's address: the dedupe and health key. */
  channelKey: string;
  /** How the channel is named in status and alerts: masked URL or an address count. */
  target: string;
}

export interface SendOutcome {
  state: 'sent' | 'skipped' | 'retry' | 'failed';
  code?: string;
  retryAfterMs?: number;
}

/** Health is kept per owner and channel kind, so it survives a member changing its webhook or addresses. */
export function healthKey(channel: 'teams' | 'email', owner: string): string {
  return `${channel}-${owner}`;
}

/** How a member's (or the operators') channels have been doing, for the member view. */
export async function channelHealthOf(owner: string) {
  const notifications = await notificationLog();
  const [teams, email] = await Promise.all(
    (['teams', 'email'] as const).map((c) => notifications.channelHealth(healthKey(c, owner))),
  );
  const view = (h: Awaited<ReturnType<NotificationLog['channelHealth']>>) => ({
    failing: h.failing,
    consecutiveFailures: h.consecutiveFailures,
    ...(h.lastErrorCode ? { lastError: h.lastErrorCode } : {}),
    ...(h.lastFailureAt ? { lastFailureAt: new Date(h.lastFailureAt).toISOString() } : {}),
    ...(h.lastSuccessAt ? { lastSuccessAt: new Date(h.lastSuccessAt).toISOString() } : {}),
  });
  return { teams: view(teams!), email: view(email!) };
}

export function notificationInstanceId(eventId: string): string {
  return `notify:${eventId}`;
}

/** The input of DELIVER_ORCHESTRATOR. */
export interface PlannedEvent {
  event: NotificationEvent;
  deliveries: Delivery[];
}

/**
 * Starts delivering the event unless it has been started before; plans first, and starts nothing when
 * nobody is to be told on any channel. `members` is the registry's members if the caller has just read
 * them (a sweep announcing many events), so that each plan does not read them again. Never throws: a
 * notification that cannot even be queued is logged (without secrets) and given up, so the caller's work
 * goes on. A plan that fails leaves the planning to the orchestration, which retries it.
 */
export async function notify(
  client: DurableClient,
  input: NotificationEventInput,
  context?: InvocationContext,
  members?: readonly Member[],
): Promise<void> {
  try {
    const event = notificationEvent(input);
    let deliveries: Delivery[] | undefined;
    try {
      deliveries = await planDeliveries(event, members);
    } catch (e) {
      context?.warn(
        `Notification ${event.id} could not be planned now; its orchestration will: ${String((e as Error)?.message ?? e).slice(0, 300)}`,
      );
    }
    if (deliveries?.length === 0) return;
    const instanceId = notificationInstanceId(event.id);
    const status = await client.getStatus(instanceId).catch(() => undefined);
    if (status?.runtimeStatus) return;
    if (deliveries)
      await client.startNew(DELIVER_ORCHESTRATOR, {
        instanceId,
        input: { event, deliveries } satisfies PlannedEvent,
      });
    else await client.startNew(PLANNING_DELIVER_ORCHESTRATOR, { instanceId, input: event });
  } catch (e) {
    // A start that lost a race with another start finds the instance there: that is success.
    const message = e instanceof Error ? e.message : String(e);
    if (/already exists/i.test(message)) return;
    context?.warn(`Notification ${input.kind} could not be queued: ${message.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------- the orchestration

/**
 * The delivery orchestrations: `planned` ones are given the deliveries (V3); the others plan them first
 * in an activity. `batched` ones send a batch of deliveries per activity (V2, V3); V1 one each.
 */
const deliver = ({ planned, batched }: { planned: boolean; batched: boolean }): OrchestrationHandler =>
  function* (context: OrchestrationContext) {
    let event: NotificationEvent;
    let deliveries: Delivery[];
    if (planned) ({ event, deliveries } = context.df.getInput<PlannedEvent>());
    else {
      event = context.df.getInput<NotificationEvent>();
      deliveries = yield context.df.callActivityWithRetry(
        PLAN_ACTIVITY,
        new df.RetryOptions(5_000, 5),
        event,
      );
    }
    let pending = deliveries.map((delivery, index) => ({ delivery, index }));
    const outcomes: SendOutcome[] = deliveries.map(() => ({ state: 'retry' }));
    for (let round = 0; round <= RESEND_DELAYS_MS.length && pending.length > 0; round++) {
      if (round > 0) {
        const waitMs = Math.max(
          RESEND_DELAYS_MS[round - 1]!,
          ...pending.map((p) => outcomes[p.index]!.retryAfterMs ?? 0),
        );
        yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + waitMs));
      }
      const last = round === RESEND_DELAYS_MS.length;
      let results: SendOutcome[];
      if (batched) {
        const batches = inChunks(pending, SEND_BATCH_SIZE);
        const perBatch: SendOutcome[][] = yield context.df.Task.all(
          batches.map((b) =>
            context.df.callActivity(SEND_BATCH_ACTIVITY, {
              event,
              deliveries: b.map((p) => p.delivery),
              last,
            }),
          ),
        );
        results = perBatch.flat();
      } else {
        results = yield context.df.Task.all(
          pending.map((p) => context.df.callActivity(SEND_ACTIVITY, { event, delivery: p.delivery, last })),
        );
      }
      results.forEach((r, i) => (outcomes[pending[i]!.index] = r));
      pending = pending.filter((_, i) => results[i]!.state === 'retry');
    }
    const count = (state: SendOutcome['state']) => outcomes.filter((o) => o.state === state).length;
    return {
      event: event.id,
      deliveries: deliveries.length,
      sent: count('sent'),
      skipped: count('skipped'),
      failed: count('failed'),
    };
  };

// ---------------------------------------------------------------- activities

/** Who hears of the event, on which channels. Reads the registry and the vault; returns no secret. */
export async function planDeliveries(
  event: NotificationEvent,
  /** The registry's members, if the caller has just read them. */
  known?: readonly Member[],
): Promise<Delivery[]> {
  const members = known ?? (await (await getRegistry()).allMembers());
  const byId = new Map(members.map((m) => [m.id, m]));
  const emailOn = Boolean(readSetting('TRUSTNET_EMAIL_ENDPOINT'));
  const out: Delivery[] = [];
  const email = (recipient: Recipient, owner: string, to: string[]) => {
    const addresses = [...new Set(to.map((a) => a.trim().toLowerCase()).filter(Boolean))].sort();
    if (!emailOn || addresses.length === 0) return;
    out.push({
      recipient,
      channel: 'email',
      owner,
      to: addresses,
      channelKey: channelKey('email', addresses.join(',')),
      target: `${addresses.length} address${addresses.length === 1 ? '' : 'es'}`,
    });
  };
  const teams = (recipient: Recipient, owner: string, url: string | undefined) => {
    if (!url) return;
    out.push({
      recipient,
      channel: 'teams',
      owner,
      channelKey: channelKey('teams', url),
      target: maskWebhookUrl(url),
    });
  };
  const recipients = recipientsOf(event, members);
  // Each member's webhook is a Key Vault read: a few at a time, not one after another (1,000 members).
  const webhooks = new Map<string, string | undefined>();
  const toRead = recipients.flatMap((r) => (r.kind === 'member' && byId.has(r.memberId) ? [r.memberId] : []));
  await inParallel([...new Set(toRead)], 16, async (id) => {
    webhooks.set(id, await teamsWebhookOf(byId.get(id)!));
  });
  for (const r of recipients) {
    if (r.kind === 'member') {
      const m = byId.get(r.memberId);
      if (!m) continue;
      email(r, m.id, emailsOf(m));
      teams(r, m.id, webhooks.get(m.id));
    } else if (r.kind === 'applicant') {
      email(r, 'applicant', r.email);
    } else {
      email(r, OPERATORS, operatorEmails());
      teams(r, OPERATORS, operatorsWebhook());
    }
  }
  return out;
}

let log: { key: string; log: NotificationLog } | undefined;

async function notificationLog(): Promise<NotificationLog> {
  const client = await table('Notifications');
  const key = `${client.url}|${client.tableName}`;
  if (log?.key !== key) log = { key, log: new NotificationLog({ table: client, now: nowMs }) };
  return log.log;
}

/** One process-wide Teams sender, so the per-URL pace covers every send; retries beyond two are durable. */
let teamsSender: TeamsSender | undefined;
function teamsSenderOf(): TeamsSender {
  return (teamsSender ??= new TeamsSender({ maxAttempts: 2, maxRetryAfterMs: 30_000 }));
}

let mailer: { key: string; sender: EmailSender } | undefined;
function mailerOf(): EmailSender {
  const endpoint = readSetting('TRUSTNET_EMAIL_ENDPOINT') ?? '';
  const sender = readSetting('TRUSTNET_EMAIL_SENDER') ?? '';
  const connection = azureConnection();
  const key = `${connection.mode}|${endpoint}|${sender}`;
  if (mailer?.key !== key)
    mailer = {
      key,
      sender: emailSender({
        endpoint,
        sender,
        credential: connection.credential,
        // The local cloud answers at once; Azure says how long to wait (Retry-After) and the SDK obeys.
        ...(connection.httpClient ? { httpClient: connection.httpClient, pollIntervalMs: 50 } : {}),
      }),
    };
  return mailer.sender;
}

async function webhookOf(owner: string): Promise<string | undefined> {
  if (owner === OPERATORS) return operatorsWebhook();
  const member = await (await getRegistry()).getMember(owner);
  return member ? teamsWebhookOf(member) : undefined;
}

/**
 * Sends one delivery unless it was sent before. Never throws for a channel's failure: the outcome says
 * whether to re-send later. On the last round a failure counts against the channel's health, and the
 * failure that makes a channel "failing" alerts the operators.
 */
export async function sendDelivery(
  input: { event: NotificationEvent; delivery: Delivery; last: boolean },
  client: DurableClient,
  context?: InvocationContext,
): Promise<SendOutcome> {
  const { event, delivery, last } = input;
  const notifications = await notificationLog();
  const claim = await notifications.claim(event.id, delivery.channelKey);
  if (claim === 'already-sent') return { state: 'skipped' };
  if (claim === 'in-flight') return { state: last ? 'failed' : 'retry', code: 'CHANNEL.IN_FLIGHT' };
  const options = {
    publicUrl: readSetting('TRUSTNET_PUBLIC_URL') || undefined,
    consortium: getConsortium().name,
  };
  try {
    if (delivery.channel === 'teams') {
      const url = await webhookOf(delivery.owner);
      // Removed since it was planned: nothing to send to.
      if (!url || channelKey('teams', url) !== delivery.channelKey) {
        await notifications.markFailed(event.id, delivery.channelKey, 'CHANNEL.REMOVED', 0);
        return { state: 'skipped', code: 'CHANNEL.REMOVED' };
      }
      const card = renderCard(event, delivery.recipient, options);
      await teamsSenderOf().post(url, teamsMessage(card), { label: `${delivery.owner} Teams` });
      await localCardRecorder()?.({ url, card, eventId: event.id });
      await notifications.markSent(event.id, delivery.channelKey);
    } else {
      const mail = renderEmail(event, delivery.recipient, options);
      const { messageId } = await mailerOf().send(
        { to: delivery.to ?? [], ...mail },
        { operationId: emailOperationId(event.id, delivery.channelKey), label: `${delivery.owner} email` },
      );
      await notifications.markSent(event.id, delivery.channelKey, { messageId });
    }
    await notifications.recordOutcome(healthKey(delivery.channel, delivery.owner), true);
    return { state: 'sent' };
  } catch (e) {
    const error =
      e instanceof ChannelError
        ? e
        : new ChannelError(
            'CHANNEL.FAILED',
            `${delivery.owner} ${delivery.channel}: the send failed.`,
            delivery.channel,
            {
              attempts: 1,
            },
          );
    await notifications.markFailed(event.id, delivery.channelKey, error.code, error.attempts);
    if (error.transient && !last)
      return {
        state: 'retry',
        code: error.code,
        ...(error.retryAfterMs ? { retryAfterMs: error.retryAfterMs } : {}),
      };
    const health = await notifications.recordOutcome(
      healthKey(delivery.channel, delivery.owner),
      false,
      error.code,
    );
    telemetry.notificationFailed(delivery.channel, error.code);
    if (context)
      logEvent(context, 'notification.failed', {
        eventId: event.id,
        owner: delivery.owner,
        channel: delivery.channel,
        code: error.code,
        failures: health.consecutiveFailures,
      });
    // The alert about a failing channel is not itself alerted on: no loops.
    if (health.becameFailing && event.kind !== 'channel.failing') {
      const member =
        delivery.owner === OPERATORS || delivery.owner === 'applicant'
          ? undefined
          : await (await getRegistry()).getMember(delivery.owner);
      await notify(
        client,
        {
          kind: 'channel.failing',
          at: new Date(nowMs()).toISOString(),
          owner: member
            ? { kind: 'member', member: { id: member.id, legalName: member.legalName } }
            : { kind: 'operators' },
          channel: delivery.channel,
          target: delivery.target,
          failures: health.consecutiveFailures,
          since: new Date(health.lastFailureAt ?? nowMs()).toISOString(),
          lastError: { code: error.code, message: error.message.slice(0, 300) },
        },
        context,
      );
    }
    return { state: 'failed', code: error.code };
  }
}

/** A batch of deliveries of one event, a few at a time; one outcome per delivery, in order. */
export async function sendBatch(
  input: { event: NotificationEvent; deliveries: Delivery[]; last: boolean },
  client: DurableClient,
  context?: InvocationContext,
): Promise<SendOutcome[]> {
  const outcomes: SendOutcome[] = new Array<SendOutcome>(input.deliveries.length);
  await inParallel([...input.deliveries.keys()], SEND_CONCURRENCY, async (i) => {
    try {
      outcomes[i] = await sendDelivery(
        { event: input.event, delivery: input.deliveries[i]!, last: input.last },
        client,
        context,
      );
    } catch (e) {
      // Not the channel (that is an outcome) but our own storage: this delivery goes round again, and
      // its claim in the notification log keeps it from being sent twice; the batch's others stand.
      context?.warn(
        `Notification ${input.event.id} to ${input.deliveries[i]!.owner}: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`,
      );
      outcomes[i] = { state: input.last ? 'failed' : 'retry', code: 'NOTIFY.STORAGE' };
    }
  });
  return outcomes;
}

df.app.orchestration(DELIVER_ORCHESTRATOR, deliver({ planned: true, batched: true }));
df.app.orchestration(PLANNING_DELIVER_ORCHESTRATOR, deliver({ planned: false, batched: true }));
df.app.orchestration(LEGACY_DELIVER_ORCHESTRATOR, deliver({ planned: false, batched: false }));
df.app.activity(SEND_BATCH_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (
    input: { event: NotificationEvent; deliveries: Delivery[]; last: boolean },
    context: InvocationContext,
  ) => sendBatch(input, df.getClient(context), context),
});
df.app.activity(PLAN_ACTIVITY, { handler: (event: NotificationEvent) => planDeliveries(event) });
df.app.activity(SEND_ACTIVITY, {
  extraInputs: [df.input.durableClient()],
  handler: (
    input: { event: NotificationEvent; delivery: Delivery; last: boolean },
    context: InvocationContext,
  ) => sendDelivery(input, df.getClient(context), context),
});
