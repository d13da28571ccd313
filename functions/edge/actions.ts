import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { JWK } from 'jose';
import { addDuration, parseDuration } from '../../core/duration';
import {
  activeMemberIds,
  PROPOSAL_TRANSITIONS,
  type MemberChannels,
  type Profile,
  type Proposal,
  type ProposalAction,
} from '../../core/membership';
import { maskWebhookUrl } from '../../core/mask';
import {
  nextChange,
  scheduledProfile,
  ScalingPolicyError,
  validateScalingPolicy,
  type ScalingPolicy,
} from '../../core/schedule';
import { scalingOf, scalingView } from '../../orchestrations/scaling';
import { azureConnection } from '../../azure/connection';
import { removeTeamsWebhook, setTeamsWebhook } from '../../orchestrations/notify-channels';
import { channelsView } from './views';
import { keyThumbprint, verifyJws, type ParsedJws } from '../../core/signed';
import { WITHDRAW_EVENT } from '../../orchestrations/ballot';
import { nowMs } from '../../runtime/clock';
import { absoluteUrl, badRequest, conflict, forbidden, json, notFound } from './http';
import { getAudit, getConsortium, getRegistry } from './services';
import { checkPayload, readJws } from './signed';
import { expectBallots } from './vote';
import { fingerprint, startBallot } from './requests';

/** Signed actions share one payload shape: { consortium, action, subject, actor, reason?, issuedAt, ... }. */

function expectAction(
  payload: Record<string, unknown>,
  action: string,
  subject: string,
  actor?: string,
): void {
  if (payload['action'] !== action)
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `This route takes action "${action}"; the payload says "${String(payload['action'])}".`,
    );
  if (payload['subject'] !== subject)
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `The payload's subject (${String(payload['subject'])}) is not ${subject} from the URL.`,
    );
  if (actor !== undefined && payload['actor'] !== actor)
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `The payload's actor (${String(payload['actor'])}) is not the signer named by kid (${actor}).`,
    );
}

/** POST /api/membership-requests/{id}/withdraw, signed by the applicant's own key (header jwk). */
export async function withdraw(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const parsed = await readJws(request, 'jwk');
  await verifyJws(parsed, parsed.jwk as JWK);
  const id = request.params['id']!;
  const registry = await getRegistry();
  const found = await registry.getRequest(id);
  if (!found) throw notFound('REQUEST.NOT_FOUND', `No membership request ${id}.`);
  checkPayload('action', parsed.payload, getConsortium().name);
  expectAction(parsed.payload, 'withdraw', id, found.applicant.id);
  if ((await keyThumbprint(parsed.jwk as JWK)) !== found.keyThumbprint) {
    throw forbidden('ACTOR.NOT_APPLICANT', 'Only the key that signed the request can withdraw it.');
  }
  if (found.phase !== 'voting') throw conflict('VOTE.CLOSED', `Request ${id} is already ${found.phase}.`);
  const audit = await getAudit();
  await audit.append(
    {
      kind: 'request.withdrawn',
      subject: id,
      actor: `applicant:${found.applicant.id}`,
      jws: parsed.jws,
      data: { requestId: id },
    },
    () => new Date(nowMs()),
  );
  await df.getClient(context).raiseEvent(id, WITHDRAW_EVENT, { at: new Date(nowMs()).toISOString() });
  return json(202, { id, statusUrl: absoluteUrl(request, `/api/membership-requests/${id}`) });
}

async function signedByMember(request: HttpRequest): Promise<{ parsed: ParsedJws; memberId: string }> {
  const parsed = await readJws(request, 'kid');
  const registry = await getRegistry();
  const signer = await registry.getMember(parsed.kid!);
  if (signer) await verifyJws(parsed, signer.governanceKey);
  return { parsed, memberId: parsed.kid! };
}

/** POST /api/members/{id}/proposals: suspend, reinstate, remove or replace-key, voted like a request. */
export async function propose(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { parsed, memberId } = await signedByMember(request);
  const subjectId = request.params['id']!;
  const registry = await getRegistry();
  const subject = await registry.getMember(subjectId);
  if (!subject) throw notFound('MEMBER.NOT_FOUND', `No member ${subjectId}.`);
  const config = getConsortium();
  checkPayload('action', parsed.payload, config.name);
  const action = parsed.payload['action'] as ProposalAction;
  if (!(action in PROPOSAL_TRANSITIONS))
    throw badRequest(
      'PAYLOAD.MISMATCH',
      `Proposals take suspend, reinstate, remove or replace-key; got "${action}".`,
    );
  expectAction(parsed.payload, action, subjectId, memberId);
  const proposer = await registry.getMember(memberId);
  if (!proposer) throw forbidden('VOTER.NOT_MEMBER', `${memberId} is not a member of this consortium.`);
  if (proposer.status !== 'ACTIVE')
    throw forbidden('VOTER.NOT_ACTIVE', `${memberId} is ${proposer.status} and cannot propose.`);
  if (proposer.id === subjectId)
    throw forbidden('VOTER.IS_SUBJECT', `${memberId} cannot make a proposal about itself.`);

  const id =
    typeof parsed.payload['proposalId'] === 'string'
      ? (parsed.payload['proposalId'] as string)
      : uuidFrom(parsed.jws);
  const print = fingerprint(parsed.payload, memberId);
  const existing = await registry.getProposal(id);
  const statusUrl = absoluteUrl(request, `/api/proposals/${id}`);
  if (existing) {
    if (existing.fingerprint !== print)
      throw conflict('REQUEST.CONFLICT', `Proposal ${id} exists with a different payload.`);
    await startBallot(context, { kind: 'proposal', id });
    return json(202, { id, statusUrl }, { location: statusUrl });
  }
  if (!PROPOSAL_TRANSITIONS[action].from.includes(subject.status)) {
    throw conflict(
      'REQUEST.CONFLICT',
      `${subjectId} is ${subject.status}; "${action}" applies to ${PROPOSAL_TRANSITIONS[action].from.join(' or ')} members.`,
    );
  }
  const members = await registry.allMembers();
  const openedAt = new Date(nowMs());
  const proposal: Proposal = {
    kind: 'proposal',
    id,
    action,
    subject: subjectId,
    proposer: memberId,
    reason: String(parsed.payload['reason']),
    newKey: parsed.payload['newKey'] as JWK | undefined,
    phase: 'voting',
    policy: config.policy,
    // The subject does not vote on itself.
    eligible: [...activeMemberIds(members)].filter((id) => id !== subjectId),
    openedAt: openedAt.toISOString(),
    deadline: addDuration(openedAt, parseDuration(config.votingWindow)).toISOString(),
    fingerprint: print,
    jws: parsed.jws,
  };
  expectBallots(registry);
  const { created, proposal: stored } = await registry.createProposal(proposal);
  if (!created && stored.fingerprint !== print)
    throw conflict('REQUEST.CONFLICT', `Proposal ${id} exists with a different payload.`);
  await startBallot(context, { kind: 'proposal', id });
  return json(202, { id, statusUrl }, { location: statusUrl });
}

function uuidFrom(jws: string): string {
  const h = createHash('sha256').update(jws).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * An action a member signs about itself (its key, channels, scaling): signed by the member named in the
 * URL, which exists and is not REMOVED. `what` finishes "Only <id> can …" in the refusal.
 */
async function ownAction(request: HttpRequest, action: string, what: string) {
  const { parsed, memberId } = await signedByMember(request);
  const id = request.params['id']!;
  const registry = await getRegistry();
  const member = await registry.getMember(id);
  if (!member) throw notFound('MEMBER.NOT_FOUND', `No member ${id}.`);
  checkPayload('action', parsed.payload, getConsortium().name);
  expectAction(parsed.payload, action, id, memberId);
  if (memberId !== id)
    throw forbidden('VOTER.NOT_MEMBER', `Only ${id} can ${what}; ${memberId} signed this.`);
  if (member.status === 'REMOVED') throw forbidden('VOTER.NOT_ACTIVE', `${id} has been removed.`);
  return { parsed, id, registry, member };
}

/** POST /api/members/{id}/keys: rotation, signed by the member's current key, carrying newKey. */
export async function rotateKey(request: HttpRequest): Promise<HttpResponseInit> {
  const { parsed, id, registry, member } = await ownAction(request, 'rotate-key', 'rotate its own key');
  const newKey = parsed.payload['newKey'] as JWK;
  const thumb = await keyThumbprint(newKey);
  if (thumb === member.keyThumbprint) throw conflict('REQUEST.CONFLICT', 'The new key is the current key.');
  const oldThumb = member.keyThumbprint;
  await registry.replaceMemberKey(id, newKey, thumb, oldThumb);
  const audit = await getAudit();
  await audit.append(
    {
      kind: 'member.key-replaced',
      subject: id,
      actor: id,
      jws: parsed.jws,
      data: { memberId: id, newKey, cause: 'rotation' },
    },
    () => new Date(nowMs()),
  );
  return json(200, { id, keyThumbprint: thumb, previousKeyThumbprint: oldThumb });
}

/** A Teams Workflows URL: https, or (with the local cloud only) plain http to a loopback receiver. */
function checkWebhookUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badRequest('CHANNEL.INVALID', 'channels.teamsWebhook is not a URL.');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol === 'https:' && !u.username && !u.password) return;
  if (u.protocol === 'http:' && loopback && azureConnection().mode === 'local') return;
  throw badRequest(
    'CHANNEL.INVALID',
    `channels.teamsWebhook must be an https URL without credentials (got ${maskWebhookUrl(url)}).`,
  );
}

/**
 * PUT /api/members/{id}/channels, signed by that member: its email addresses and Teams Workflows
 * webhook. The URL goes to Key Vault only; the registry and the audit log keep that there is one.
 * The member's JWS quotes the URL, so the audit entry keeps its hash instead of the JWS.
 */
export async function setChannels(request: HttpRequest): Promise<HttpResponseInit> {
  const { parsed, id, registry } = await ownAction(request, 'set-channels', 'set its own channels');
  const wanted = parsed.payload['channels'] as { email: string[]; teamsWebhook?: string | null };
  if (typeof wanted.teamsWebhook === 'string') checkWebhookUrl(wanted.teamsWebhook);
  const at = new Date(nowMs()).toISOString();
  // The vault first: a crash after it leaves the registry saying the old thing, and a retry mends it.
  if (typeof wanted.teamsWebhook === 'string') await setTeamsWebhook(id, wanted.teamsWebhook);
  else await removeTeamsWebhook(id);
  const channels: MemberChannels = {
    email: wanted.email,
    teams: typeof wanted.teamsWebhook === 'string' ? { masked: maskWebhookUrl(wanted.teamsWebhook) } : null,
    setByMember: true,
    updatedAt: at,
  };
  await registry.updateMember(id, (m) => ({ ...m, contacts: { email: wanted.email }, channels }));
  const audit = await getAudit();
  await audit.append(
    {
      kind: 'member.channels-set',
      subject: id,
      actor: id,
      data: {
        memberId: id,
        email: wanted.email.length,
        teams: channels.teams !== null,
        requestHash: createHash('sha256').update(parsed.jws).digest('base64url'),
      },
    },
    () => new Date(nowMs()),
  );
  return json(200, { id, channels: channelsView(channels) });
}

/**
 * PUT /api/members/{id}/scaling, signed by that member: its scaling policy (core/schedule.ts), checked
 * in full (400 with JSON pointers into `policy`). Answers the policy, the profile it gives now and its
 * next change. The timer applies it on its next run.
 */
export async function setScaling(request: HttpRequest): Promise<HttpResponseInit> {
  const { parsed, id, registry } = await ownAction(request, 'set-scaling', 'scale its own node');
  let policy: ScalingPolicy;
  try {
    policy = validateScalingPolicy(parsed.payload['policy']);
  } catch (e) {
    if (!(e instanceof ScalingPolicyError)) throw e;
    throw badRequest(
      'SCALING_POLICY.INVALID',
      'The scaling policy is not valid.',
      e.problems.map((p) => ({ pointer: `/policy${p.path}`, detail: p.message })),
    );
  }
  const member = await registry.updateMember(id, (m) => ({ ...m, scaling: { ...scalingOf(m), policy } }));
  await (
    await getAudit()
  ).append(
    { kind: 'member.scaling-set', subject: id, actor: id, jws: parsed.jws, data: { memberId: id, policy } },
    () => new Date(nowMs()),
  );
  const now = nowMs();
  const scheduled = scheduledProfile(policy, now);
  const next = nextChange(policy, now, 8 * 86_400_000);
  return json(200, {
    id,
    policy,
    now: { profile: scheduled.profile, window: scheduled.window ?? null },
    nextChange: next ? { at: new Date(next.atMs).toISOString(), profile: next.profile } : null,
    scaling: member ? scalingView(member, now) : null,
  });
}

const MAX_OVERRIDE_MS = 30 * 86_400_000;

/**
 * POST /api/members/{id}/profile, signed by that member: run `profile` until `expiresAt` (in the
 * future, at most 30 days on), whatever the schedule and load say. The timer applies it.
 */
export async function setProfile(request: HttpRequest): Promise<HttpResponseInit> {
  const { parsed, id, registry } = await ownAction(request, 'set-profile', 'scale its own node');
  const profile = parsed.payload['profile'] as Profile;
  const expiresAt = String(parsed.payload['expiresAt']);
  const now = nowMs();
  const until = Date.parse(expiresAt);
  if (!(until > now))
    throw badRequest('OVERRIDE.INVALID', 'expiresAt must be in the future.', [
      { pointer: '/expiresAt', detail: 'must be in the future' },
    ]);
  if (until - now > MAX_OVERRIDE_MS)
    throw badRequest('OVERRIDE.INVALID', 'expiresAt must be at most 30 days away.', [
      { pointer: '/expiresAt', detail: 'must be at most 30 days away' },
    ]);
  const override = { profile, expiresAt: new Date(until).toISOString(), setAt: new Date(now).toISOString() };
  const member = await registry.updateMember(id, (m) => ({ ...m, scaling: { ...scalingOf(m), override } }));
  await (
    await getAudit()
  ).append(
    {
      kind: 'member.profile-set',
      subject: id,
      actor: id,
      jws: parsed.jws,
      data: { memberId: id, profile, expiresAt },
    },
    () => new Date(now),
  );
  return json(200, { id, override, scaling: member ? scalingView(member, now) : null });
}
