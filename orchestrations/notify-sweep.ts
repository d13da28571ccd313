import type { InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { statusOf, table } from '../azure/tables';
import { activeMemberIds, type MembershipRequest, type Proposal, type Vote } from '../core/membership';
import type { NotificationEventInput } from '../core/notifications';
import { liveTally } from '../functions/edge/views';
import { getAudit, getRegistry } from '../functions/edge/services';
import { nowMs } from '../runtime/clock';
import { durationSettingMs } from '../runtime/settings';
import { notify } from './notify';
import { ballotRef } from './notify-events';

/**
 * The notification sweep (timer `notificationSweep`): the events no orchestration step raises.
 *  - `vote.cast`, from the audit log's `vote.accepted` entries after a cursor, so the vote door never
 *    waits on a notification (the cursor only moves forward, by ETag; the event id dedupes overlaps);
 *  - `deadline.approaching`, for open ballots closing within TRUSTNET_DEADLINE_REMINDER, to voters who
 *    have not voted yet.
 */

/** A first sweep (no cursor yet) announces only votes this recent, not the whole history. */
const FIRST_SWEEP_LOOKBACK_MS = 3_600_000;
const PAGE = 500;

export function reminderMs(): number {
  return durationSettingMs('TRUSTNET_DEADLINE_REMINDER', 'PT24H');
}

/** The `reason` a member signed into its vote (the JWS payload), for the vote-cast message. */
function reasonOf(jws: string | undefined): string {
  try {
    const payload = JSON.parse(Buffer.from(jws!.split('.')[1]!, 'base64url').toString('utf8')) as {
      reason?: unknown;
    };
    return typeof payload.reason === 'string' ? payload.reason : '';
  } catch {
    return '';
  }
}

async function cursorTable() {
  return table('NotifyCursor');
}

async function readCursor(): Promise<{ seq: number; etag?: string }> {
  const t = await cursorTable();
  try {
    const row = await t.getEntity<{ Seq: number }>('cursor', 'votes');
    return { seq: Number(row.Seq), etag: row.etag };
  } catch (e) {
    if (statusOf(e) === 404) return { seq: -1 };
    throw e;
  }
}

async function moveCursor(from: { seq: number; etag?: string }, to: number): Promise<void> {
  const t = await cursorTable();
  const row = { partitionKey: 'cursor', rowKey: 'votes', Seq: to };
  try {
    if (from.etag) await t.updateEntity(row, 'Replace', { etag: from.etag });
    else await t.createEntity(row);
  } catch (e) {
    // Another sweep moved it first: it covered these entries too.
    if (statusOf(e) !== 409 && statusOf(e) !== 412) throw e;
  }
}

type Ballot = MembershipRequest | Proposal;

async function ballotOf(kind: 'request' | 'proposal' | undefined, id: string): Promise<Ballot | undefined> {
  const registry = await getRegistry();
  if (kind !== 'proposal') {
    const r = await registry.getRequest(id);
    if (r) return r;
  }
  return registry.getProposal(id);
}

/** Announces votes accepted since the last sweep. Returns how many events were raised. */
export async function announceVotes(client: DurableClient, context?: InvocationContext): Promise<number> {
  const audit = await getAudit();
  const registry = await getRegistry();
  const cursor = await readCursor();
  const firstSweep = cursor.seq < 0;
  const since = nowMs() - FIRST_SWEEP_LOOKBACK_MS;
  let after = cursor.seq;
  let raised = 0;
  const members = await registry.allMembers();
  const active = activeMemberIds(members);
  const subjects = new Map(members.map((m) => [m.id, m]));
  const ballots = new Map<string, { ballot?: Ballot; votes: Vote[] }>();
  for (;;) {
    const page = await audit.list({ after, limit: PAGE });
    for (const entry of page.items) {
      after = entry.seq;
      if (entry.kind !== 'vote.accepted') continue;
      if (firstSweep && Date.parse(entry.at) < since) continue;
      const subjectId = String(entry.data['subjectId']);
      let known = ballots.get(subjectId);
      if (!known) {
        const ballot = await ballotOf(undefined, subjectId);
        known = { ...(ballot ? { ballot } : {}), votes: ballot ? await registry.votesOn(subjectId) : [] };
        ballots.set(subjectId, known);
      }
      if (!known.ballot) continue;
      const b = known.ballot;
      const event: NotificationEventInput = {
        kind: 'vote.cast',
        at: entry.at,
        ballot: ballotRef(b, b.kind === 'proposal' ? subjects.get(b.subject) : undefined),
        voter: String(entry.data['voter']),
        decision: entry.data['decision'] === 'reject' ? 'reject' : 'approve',
        reason: reasonOf(entry.jws),
        tally: liveTally(b, known.votes, active),
        deadline: b.deadline,
      };
      // The members read above serve every plan of this sweep.
      await notify(client, event, context, members);
      raised++;
    }
    if (!page.continuation) break;
  }
  if (after !== cursor.seq) await moveCursor(cursor, after);
  return raised;
}

/** Reminds voters who have not voted of ballots closing within the reminder window. */
export async function remindDeadlines(client: DurableClient, context?: InvocationContext): Promise<number> {
  const registry = await getRegistry();
  const now = nowMs();
  const horizon = now + reminderMs();
  const open: Ballot[] = [
    ...(await registry.openRequests()).filter((r) => r.phase === 'voting'),
    ...(await registry.openProposals()),
  ].filter((b) => Date.parse(b.deadline) > now && Date.parse(b.deadline) <= horizon);
  if (open.length === 0) return 0;
  const members = await registry.allMembers();
  const active = activeMemberIds(members);
  const subjects = new Map(members.map((m) => [m.id, m]));
  for (const b of open) {
    const votes = await registry.votesOn(b.id);
    await notify(
      client,
      {
        kind: 'deadline.approaching',
        at: new Date(now).toISOString(),
        ballot: ballotRef(b, b.kind === 'proposal' ? subjects.get(b.subject) : undefined),
        deadline: b.deadline,
        tally: liveTally(b, votes, active),
        eligible: [...b.eligible],
        voted: votes.map((v) => v.voter),
      },
      context,
      members,
    );
  }
  return open.length;
}
