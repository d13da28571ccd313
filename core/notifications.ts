import { maskWebhookUrl } from './mask';
import {
  activeMemberIds,
  type Applicant,
  type Decision,
  type Member,
  type Outcome,
  type Profile,
  type ProposalAction,
} from './membership';
import type { Policy, Tally } from './policy';

/**
 * What each notification says, and to whom: the pure half of issue 6. Events in, recipients out; then a
 * Teams Adaptive Card or an email for one event and one recipient. Delivery (webhooks, email, dedupe by
 * `event.id`) and choosing when to raise an event live elsewhere.
 *
 * Text an applicant or a member wrote (legal names, reasons, contacts) and error messages are untrusted:
 * every URL in them is shown masked (scheme and host), control and bidi characters are dropped, and they
 * reach a card only as TextRuns (no markdown, by the Adaptive Card spec) or as escaped FactSet values
 * (which hosts render as markdown), and an email only HTML-escaped. The only links are our own.
 */

export { maskWebhookUrl };

// ---------------------------------------------------------------------------------------------------------
// Events

export const NOTIFICATION_KINDS = [
  'request.received',
  'vote.cast',
  'request.decided',
  'deadline.approaching',
  'provisioning.started',
  'provisioning.step-failed',
  'member.active',
  'certificate.renewed',
  'certificate.expiring',
  'member.suspended',
  'member.removed',
  'proposal.opened',
  'proposal.decided',
  'scaling.changed',
  'scaling.failed',
  'channel.failing',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** A member as a message names it. */
export interface MemberRef {
  id: string;
  legalName: string;
}

/** What members need to judge an applicant, and where its answer goes. */
export interface ApplicantRef {
  id: string;
  legalName: string;
  email: string[];
  region: string;
  addressSpace: string;
  profile: Profile;
}

/** The ballot a vote or a reminder is about. */
export type BallotRef =
  | { kind: 'request'; id: string; applicant: MemberRef }
  | { kind: 'proposal'; id: string; action: ProposalAction; subject: MemberRef };

interface EventBase<K extends NotificationKind> {
  kind: K;
  /** The dedupe key: derived from the event's identity only (see `notificationId`). */
  id: string;
  /** ISO 8601; from the orchestration's clock, so a replay builds the same event. */
  at: string;
}

export interface RequestReceivedEvent extends EventBase<'request.received'> {
  requestId: string;
  applicant: ApplicantRef;
  policy: Policy;
  tally: Tally;
  deadline: string;
  /** Member ids who may vote on it. */
  eligible: string[];
}

export interface VoteCastEvent extends EventBase<'vote.cast'> {
  ballot: BallotRef;
  voter: string;
  decision: Decision;
  reason: string;
  tally: Tally;
  deadline: string;
}

export interface RequestDecidedEvent extends EventBase<'request.decided'> {
  requestId: string;
  applicant: ApplicantRef;
  outcome: Outcome;
  tally: Tally;
}

export interface DeadlineApproachingEvent extends EventBase<'deadline.approaching'> {
  ballot: BallotRef;
  deadline: string;
  tally: Tally;
  eligible: string[];
  /** Who has voted already: they get no reminder. */
  voted: string[];
}

export interface ProvisioningStartedEvent extends EventBase<'provisioning.started'> {
  requestId: string;
  applicant: ApplicantRef;
}

export interface ProvisioningStepFailedEvent extends EventBase<'provisioning.step-failed'> {
  requestId: string;
  applicant: ApplicantRef;
  /** 1 for the first run, +1 per retry: a retried step that fails again is a new event. */
  attempt: number;
  step: string;
  error: { code: string; message: string; azureCode?: string };
  /** When onboarding is abandoned by itself if nobody retries (TRUSTNET_RETRY_WINDOW). */
  retryUntil?: string;
}

export interface MemberActiveEvent extends EventBase<'member.active'> {
  member: MemberRef;
  requestId?: string;
}

export interface CertificateRenewedEvent extends EventBase<'certificate.renewed'> {
  member: MemberRef;
  serial: string;
  notAfter: string;
}

export interface CertificateExpiringEvent extends EventBase<'certificate.expiring'> {
  member: MemberRef;
  serial: string;
  notAfter: string;
  /** Why the last renewal failed, when one was tried. */
  error?: { code: string; message: string };
}

export interface MemberSuspendedEvent extends EventBase<'member.suspended'> {
  member: MemberRef;
  proposalId: string;
  reason: string;
}

export interface MemberRemovedEvent extends EventBase<'member.removed'> {
  member: MemberRef;
  proposalId: string;
  reason: string;
}

export interface ProposalOpenedEvent extends EventBase<'proposal.opened'> {
  proposalId: string;
  action: ProposalAction;
  subject: MemberRef;
  proposer: string;
  reason: string;
  policy: Policy;
  tally: Tally;
  deadline: string;
  eligible: string[];
  /** replace-key: the proposed key's JWK thumbprint. */
  newKeyThumbprint?: string;
}

export interface ProposalDecidedEvent extends EventBase<'proposal.decided'> {
  proposalId: string;
  action: ProposalAction;
  subject: MemberRef;
  outcome: 'approved' | 'rejected' | 'expired';
  tally: Tally;
}

export interface ScalingChangedEvent extends EventBase<'scaling.changed'> {
  member: MemberRef;
  from: Profile;
  to: Profile;
  reason: string;
}

/** A scale set change that kept failing after its retries; the next timer tick tries again. */
export interface ScalingFailedEvent extends EventBase<'scaling.failed'> {
  member: MemberRef;
  from: Profile;
  to: Profile;
  error: { code: string; message: string };
}

export interface ChannelFailingEvent extends EventBase<'channel.failing'> {
  /** Whose channel: a member's, or the operators' own. */
  owner: { kind: 'member'; member: MemberRef } | { kind: 'operators' };
  channel: 'teams' | 'email';
  /** How the channel is shown: `maskWebhookUrl(url)` or an address. Never the webhook URL itself. */
  target: string;
  /** Consecutive failed deliveries. */
  failures: number;
  /** When the first failure of this run happened: one alert per run of failures. */
  since: string;
  lastError: { code: string; message: string };
}

export type NotificationEvent =
  | RequestReceivedEvent
  | VoteCastEvent
  | RequestDecidedEvent
  | DeadlineApproachingEvent
  | ProvisioningStartedEvent
  | ProvisioningStepFailedEvent
  | MemberActiveEvent
  | CertificateRenewedEvent
  | CertificateExpiringEvent
  | MemberSuspendedEvent
  | MemberRemovedEvent
  | ProposalOpenedEvent
  | ProposalDecidedEvent
  | ScalingChangedEvent
  | ScalingFailedEvent
  | ChannelFailingEvent;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before its id: what callers fill in. */
export type NotificationEventInput = DistributiveOmit<NotificationEvent, 'id'>;

export class NotificationError extends Error {
  constructor(
    readonly code: 'NOTIFY.INVALID_EVENT',
    message: string,
  ) {
    super(message);
    this.name = 'NotificationError';
  }
}

function part(name: string, value: string | number): string {
  const s = String(value);
  if (s.trim() === '') throw new NotificationError('NOTIFY.INVALID_EVENT', `${name} is empty`);
  return s;
}

/**
 * The event's dedupe key: its kind and what makes it happen once, never its time of sending, so a
 * replayed orchestration or a retried activity builds the same id. `scaling.changed` includes `at`,
 * which must therefore come from the orchestration's clock.
 */
export function notificationId(e: NotificationEventInput): string {
  const key = (...parts: string[]) => [e.kind, ...parts].join(':');
  switch (e.kind) {
    case 'request.received':
    case 'request.decided':
    case 'provisioning.started':
      return key(part('requestId', e.requestId));
    case 'vote.cast':
      return key(part('ballot.id', e.ballot.id), part('voter', e.voter));
    case 'deadline.approaching':
      return key(part('ballot.id', e.ballot.id));
    case 'provisioning.step-failed':
      if (!Number.isSafeInteger(e.attempt) || e.attempt < 1) {
        throw new NotificationError(
          'NOTIFY.INVALID_EVENT',
          `attempt must be a positive integer, got ${e.attempt}`,
        );
      }
      return key(part('requestId', e.requestId), String(e.attempt), part('step', e.step));
    case 'member.active':
      return key(part('member.id', e.member.id));
    case 'certificate.renewed':
    case 'certificate.expiring':
      return key(part('member.id', e.member.id), part('serial', e.serial));
    case 'member.suspended':
    case 'member.removed':
      return key(part('member.id', e.member.id), part('proposalId', e.proposalId));
    case 'proposal.opened':
    case 'proposal.decided':
      return key(part('proposalId', e.proposalId));
    case 'scaling.changed':
    case 'scaling.failed':
      return key(part('member.id', e.member.id), isoOf('at', e.at));
    case 'channel.failing':
      return key(
        e.owner.kind === 'member' ? part('owner.member.id', e.owner.member.id) : 'operators',
        e.channel,
        isoOf('since', e.since),
      );
  }
}

/** The event with its id. */
export function notificationEvent<T extends NotificationEventInput>(input: T): T & { id: string } {
  isoOf('at', input.at);
  return { ...input, id: notificationId(input) };
}

/** An applicant as notifications name it (registry record → event field). */
export function applicantRef(a: Applicant): ApplicantRef {
  return {
    id: a.id,
    legalName: a.legalName,
    email: [...a.contacts.email],
    region: a.azure.region,
    addressSpace: a.azure.addressSpace,
    profile: a.profile,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Recipients

export type Role = 'must-act' | 'informed';

export type Recipient =
  | { kind: 'member'; memberId: string; role: Role }
  | { kind: 'applicant'; email: string[] }
  | { kind: 'operators' };

/** A stable name for a recipient (`member:bank-a`, `applicant`, `operators`), e.g. for a dedupe row. */
export function recipientKey(r: Recipient): string {
  return r.kind === 'member' ? `member:${r.memberId}` : r.kind;
}

/** Members who hear the consortium's news: not those removed, nor applicants still onboarding. */
function currentMembers(members: readonly Member[]): string[] {
  return members.filter((m) => m.status === 'ACTIVE' || m.status === 'SUSPENDED').map((m) => m.id);
}

/**
 * Who must hear of `event`, and whether they must act. Voters must act on what they can still vote on;
 * decisions go to every member and the applicant; failures go to the operators. An applicant hears of
 * its request only once members have acted on it: a join request names addresses nobody has checked,
 * so acknowledging it at once would let anyone make the platform mail anyone.
 */
export function recipientsOf(event: NotificationEvent, members: readonly Member[]): Recipient[] {
  const active = activeMemberIds(members);
  const chosen = new Map<string, Role>();
  const add = (ids: Iterable<string>, role: Role) => {
    for (const id of ids) if (chosen.get(id) !== 'must-act') chosen.set(id, role);
  };
  // Eligibility was fixed when the ballot opened; a member suspended since can no longer vote.
  const voters = (eligible: string[], skip: Iterable<string> = []) => {
    const done = new Set(skip);
    return eligible.filter((id) => active.has(id) && !done.has(id));
  };
  let applicant: string[] = [];
  let operators = false;

  switch (event.kind) {
    case 'request.received':
      add(voters(event.eligible), 'must-act');
      break;
    case 'proposal.opened':
      add(voters(event.eligible), 'must-act');
      // Its subject does not vote, but should know.
      if (!event.eligible.includes(event.subject.id)) add([event.subject.id], 'informed');
      break;
    case 'deadline.approaching':
      add(voters(event.eligible, event.voted), 'must-act');
      break;
    case 'vote.cast':
      // A receipt for the voter only: telling every member of every vote is N² messages per ballot.
      add([event.voter], 'informed');
      break;
    case 'request.decided':
      add(currentMembers(members), 'informed');
      applicant = event.applicant.email;
      break;
    case 'proposal.decided':
      add(currentMembers(members), 'informed');
      add([event.subject.id], 'informed');
      break;
    case 'provisioning.started':
    case 'provisioning.step-failed':
      applicant = event.applicant.email;
      operators = true;
      break;
    case 'member.active':
    case 'member.suspended':
    case 'member.removed':
      add(currentMembers(members), 'informed');
      // Also the member itself, whatever the registry read says of it yet.
      add([event.member.id], 'informed');
      break;
    case 'certificate.renewed':
    case 'scaling.changed':
      add([event.member.id], 'informed');
      break;
    case 'certificate.expiring':
    case 'scaling.failed':
      add([event.member.id], 'informed');
      operators = true;
      break;
    case 'channel.failing':
      operators = true;
      break;
  }

  const out: Recipient[] = [...chosen.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([memberId, role]) => ({ kind: 'member', memberId, role }));
  const emails = [...new Set(applicant.map((a) => a.trim()).filter(Boolean))];
  if (emails.length > 0) out.push({ kind: 'applicant', email: emails });
  if (operators) out.push({ kind: 'operators' });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Adaptive Cards (only what these messages use; all of it exists since schema 1.2)

export const ADAPTIVE_CARD_SCHEMA = 'http://adaptivecards.io/schemas/adaptive-card.json';

export interface TextRun {
  type: 'TextRun';
  text: string;
  size?: 'small' | 'medium' | 'large';
  weight?: 'bolder';
  color?: 'good' | 'warning' | 'attention' | 'accent';
  isSubtle?: boolean;
  fontType?: 'monospace';
}
export interface RichTextBlock {
  type: 'RichTextBlock';
  inlines: TextRun[];
  spacing?: 'small' | 'medium';
  separator?: boolean;
}
export interface FactSet {
  type: 'FactSet';
  facts: { title: string; value: string }[];
}
export interface Container {
  type: 'Container';
  style: 'emphasis' | 'good' | 'warning' | 'attention';
  bleed: boolean;
  items: CardElement[];
}
export type CardElement = RichTextBlock | FactSet | Container;
export interface OpenUrlAction {
  type: 'Action.OpenUrl';
  title: string;
  url: string;
}
export interface AdaptiveCard {
  $schema: typeof ADAPTIVE_CARD_SCHEMA;
  type: 'AdaptiveCard';
  version: '1.5';
  body: CardElement[];
  actions?: OpenUrlAction[];
}

/** The body a Teams Workflows webhook takes ("post card in a chat or channel"). */
export interface TeamsMessage {
  type: 'message';
  attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive'; content: AdaptiveCard }];
}

export function teamsMessage(card: AdaptiveCard): TeamsMessage {
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: card }],
  };
}

export interface RenderOptions {
  /** The platform's public base URL (TRUSTNET_PUBLIC_URL). Unset: no links, and commands name no --url. */
  publicUrl?: string;
  /** The consortium's name, for subjects and headers. */
  consortium?: string;
}

export interface RenderedEmail {
  subject: string;
  plainText: string;
  html: string;
}

// ---------------------------------------------------------------------------------------------------------
// Text safety

// A URL runs to the next space: cutting it short at a quote or bracket would leave its query showing.
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/\S+/gi;
// C0/C1 controls, bidi overrides and isolates, zero-width characters, line/paragraph separators.
// eslint-disable-next-line no-control-regex -- removing control characters is the point.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Untrusted text made fit for a one-line field: whitespace runs become one space, invisible and control
 * characters go, every URL is masked (so no link, and no secret a URL may carry), and it is cut at `max`.
 */
function untrusted(text: string, max = 500): string {
  const s = text
    .replace(/\s+/g, ' ')
    .replace(INVISIBLE, '')
    .replace(URL_IN_TEXT, (url) => maskWebhookUrl(url))
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * A FactSet value as markdown that shows the text itself. Backslash escapes are CommonMark's; escaping
 * both `]` and `(` also leaves no `](` for a host that ignores escapes to read as a link.
 */
function markdownLiteral(text: string): string {
  return text
    .replace(/[\\[\]()*`~]/g, '\\$&')
    .replace(/(^|[^A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (m) => m.replace('_', '\\_'))
    .replace(/^([-+#])(?=\s|$)|^>/, '\\$&')
    .replace(/^(\d+)([.)])(?=\s|$)/, '$1\\$2');
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function isoOf(name: string, value: string): string {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw new NotificationError('NOTIFY.INVALID_EVENT', `${name} is not an ISO 8601 time`);
  }
  return new Date(value).toISOString();
}

/** `2026-05-08 12:00 UTC`: the same on every machine, whatever its locale or zone. */
function when(name: string, value: string): string {
  const iso = isoOf(name, value);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function hoursBetween(from: string, to: string): number {
  return Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 3_600_000));
}

function daysBetween(from: string, to: string): number {
  return Math.max(0, Math.floor((Date.parse(to) - Date.parse(from)) / 86_400_000));
}

/** Untrusted text as the end of a sentence: one full stop, whether or not it brought its own. */
const said = (text: string, otherwise: string) =>
  text === '' ? `${otherwise}.` : /[.!?…]$/.test(text) ? text : `${text}.`;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function policyText(p: Policy): string {
  switch (p.kind) {
    case 'majority':
      return 'simple majority, more than half of the eligible members';
    case 'supermajority':
      return 'supermajority, at least two thirds of the eligible members';
    case 'unanimous':
      return 'unanimous, every eligible member';
    case 'threshold':
      return (
        `${p.comparator === '>=' ? 'at least' : 'more than'} ${p.percent}% of the eligible members, ` +
        `with at least ${plural(p.quorum, 'vote')} cast`
      );
  }
}

function tallyText(t: Tally): string {
  return `${t.approve} approve, ${t.reject} reject of ${t.eligible} eligible; ${t.required} approvals needed`;
}

const ACTION_VERB: Record<ProposalAction, string> = {
  suspend: 'suspend',
  reinstate: 'reinstate',
  remove: 'remove',
  'replace-key': 'replace the governance key of',
};

function ballotName(b: BallotRef): string {
  return b.kind === 'request'
    ? `the membership request of ${untrusted(b.applicant.legalName, 200)}`
    : `the proposal to ${ACTION_VERB[b.action]} ${untrusted(b.subject.legalName, 200)}`;
}

// ---------------------------------------------------------------------------------------------------------
// One message, two renderings

type Tone = 'info' | 'good' | 'warning' | 'attention';

interface Section {
  heading: string;
  lines: string[];
  /** Commands and routes: shown monospace, one per line. */
  code: boolean;
}

/** What a notification says, before it is a card or an email. Every string is plain text. */
interface Message {
  tone: Tone;
  title: string;
  paragraphs: string[];
  facts: [string, string][];
  sections: Section[];
  link?: { title: string; url: string };
  /** Why this recipient gets it (the footer). */
  why: string;
}

class Links {
  readonly base: string | undefined;
  constructor(publicUrl: string | undefined) {
    this.base = publicUrl ? publicUrl.replace(/\/+$/, '') : undefined;
  }
  /** The path, absolute when the public URL is known. */
  route(path: string): string {
    return `${this.base ?? ''}${path}`;
  }
  link(title: string, path: string): { title: string; url: string } | undefined {
    return this.base ? { title, url: this.route(path) } : undefined;
  }
}

const seg = (id: string) => encodeURIComponent(id);
const requestPath = (id: string) => `/api/membership-requests/${seg(id)}`;
const proposalPath = (id: string) => `/api/proposals/${seg(id)}`;
const memberPath = (id: string) => `/api/members/${seg(id)}`;
const ballotPath = (b: BallotRef) => (b.kind === 'request' ? requestPath(b.id) : proposalPath(b.id));

function howToVote(
  ballot: { kind: 'request' | 'proposal'; id: string },
  memberId: string,
  links: Links,
): Section[] {
  const proposal = ballot.kind === 'proposal';
  const url = links.base ? ` --url ${links.base}` : '';
  const flag = proposal ? ' --proposal' : '';
  const command = (d: Decision) =>
    `trustnet vote ${ballot.id} ${d} --reason "<why>" --member ${memberId} --key <private-key-file>${flag}${url}`;
  const route = `${proposal ? proposalPath(ballot.id) : requestPath(ballot.id)}/votes`;
  return [
    { heading: 'How to vote (CLI)', lines: [command('approve'), command('reject')], code: true },
    {
      heading: 'Or over HTTP',
      lines: [
        `POST ${links.route(route)}`,
        'Content-Type: application/jose',
        `Body: a compact JWS (ES256 or EdDSA, kid "${memberId}") over`,
        `{ "consortium", "requestId": "${ballot.id}", "voter": "${memberId}", "decision": "approve" | "reject", "reason", "issuedAt" }`,
      ],
      code: true,
    },
  ];
}

function retryOrAbandon(requestId: string, links: Links): Section {
  const path = requestPath(requestId);
  return {
    heading: 'How to resume or give up (an ACTIVE member signs)',
    lines: [
      `POST ${links.route(`${path}/retry`)}`,
      `POST ${links.route(`${path}/abandon`)}`,
      'Content-Type: application/jose',
      `Body: a compact JWS (kid = the member) over { "consortium", "action": "retry" | "abandon", "subject": "${requestId}", "actor", "issuedAt" }`,
    ],
    code: true,
  };
}

function why(recipient: Recipient, detail: string): string {
  switch (recipient.kind) {
    case 'member':
      return `You receive this because ${detail}.`;
    case 'applicant':
      return 'You receive this because your bank asked to join the consortium with this address.';
    case 'operators':
      return "You receive this as an operator of the consortium's TrustNet platform.";
  }
}

function applicantFacts(a: ApplicantRef): [string, string][] {
  return [
    ['Applicant', untrusted(a.id, 100)],
    ['Legal name', untrusted(a.legalName, 200)],
    ['Region', untrusted(a.region, 100)],
    ['Address space', untrusted(a.addressSpace, 100)],
    ['Cost profile', untrusted(a.profile, 100)],
  ];
}

function memberFacts(m: MemberRef): [string, string][] {
  return [
    ['Member', untrusted(m.id, 100)],
    ['Legal name', untrusted(m.legalName, 200)],
  ];
}

const isMember = (r: Recipient, id: string) => r.kind === 'member' && r.memberId === id;
const mustAct = (r: Recipient): r is { kind: 'member'; memberId: string; role: 'must-act' } =>
  r.kind === 'member' && r.role === 'must-act';

function compose(event: NotificationEvent, r: Recipient, links: Links, consortium: string): Message {
  switch (event.kind) {
    case 'request.received': {
      const a = event.applicant;
      const name = untrusted(a.legalName, 200);
      return {
        tone: 'info',
        title: mustAct(r) ? `Vote needed: ${name} asks to join` : `${name} asks to join`,
        paragraphs: [
          `${name} (${untrusted(a.id, 100)}) asks to join ${consortium}. ` +
            (mustAct(r)
              ? `Your bank is an eligible voter: approve or reject it, with a reason, by ${when('deadline', event.deadline)}.`
              : `Eligible members vote on it until ${when('deadline', event.deadline)}.`),
          `Policy: ${policyText(event.policy)}. ${event.tally.required} of ${event.tally.eligible} eligible members must approve; a request that does not get there by the deadline expires.`,
          `Contacts: ${said(untrusted(a.email.join(', '), 300), 'none given')}`,
        ],
        facts: [
          ...applicantFacts(a),
          ['Request', untrusted(event.requestId, 100)],
          ['Tally', tallyText(event.tally)],
          ['Deadline', when('deadline', event.deadline)],
        ],
        sections: mustAct(r) ? howToVote({ kind: 'request', id: event.requestId }, r.memberId, links) : [],
        link: links.link('Open the request', requestPath(event.requestId)),
        why: why(r, 'your bank is an eligible voter on this request'),
      };
    }

    case 'vote.cast': {
      const mine = isMember(r, event.voter);
      const voter = untrusted(event.voter, 100);
      return {
        tone: 'info',
        title: mine
          ? `Your vote to ${event.decision} ${ballotName(event.ballot)} was counted`
          : `${voter} voted to ${event.decision} ${ballotName(event.ballot)}`,
        paragraphs: [
          `${mine ? 'Your bank' : voter} voted to ${event.decision}. Reason: ${said(untrusted(event.reason), 'none given')}`,
          `Tally now: ${tallyText(event.tally)}. Voting closes ${when('deadline', event.deadline)}.`,
        ],
        facts: [
          [event.ballot.kind === 'request' ? 'Request' : 'Proposal', untrusted(event.ballot.id, 100)],
          ['Voter', voter],
          ['Decision', event.decision],
          ['Tally', tallyText(event.tally)],
          ['Deadline', when('deadline', event.deadline)],
        ],
        sections: [],
        link: links.link(
          event.ballot.kind === 'request' ? 'Open the request' : 'Open the proposal',
          ballotPath(event.ballot),
        ),
        why: why(r, mine ? 'your bank cast this vote' : 'your bank is a member of the consortium'),
      };
    }

    case 'request.decided': {
      const a = event.applicant;
      const name = untrusted(a.legalName, 200);
      const own = r.kind === 'applicant';
      const o = event.outcome;
      const tone: Tone =
        o === 'approved' ? 'good' : o === 'rejected' ? 'attention' : o === 'expired' ? 'warning' : 'info';
      const title = own
        ? {
            approved: `Your request to join ${consortium} was approved`,
            rejected: `Your request to join ${consortium} was rejected`,
            expired: `Your request to join ${consortium} expired`,
            withdrawn: `Your request to join ${consortium} was withdrawn`,
          }[o]
        : {
            approved: `Approved: ${name} joins the consortium`,
            rejected: `Rejected: the membership request of ${name}`,
            expired: `Expired: the membership request of ${name}`,
            withdrawn: `Withdrawn: the membership request of ${name}`,
          }[o];
      const next = {
        approved: own
          ? 'Onboarding starts now: TrustNet builds your node in your resource group, issues its certificate and peers it with every member over VPN. You will hear when your bank is active, or if a step fails.'
          : 'Onboarding starts now: its node, certificate and VPN peering with every member are built automatically. You will hear when it is active.',
        rejected: 'The request can no longer reach the approvals the policy needs. Nothing was built.',
        expired:
          'Voting closed before the request reached the approvals the policy needs. Nothing was built.',
        withdrawn: 'The applicant withdrew the request before the vote ended. Nothing was built.',
      }[o];
      return {
        tone,
        title,
        paragraphs: [next, `Final tally: ${tallyText(event.tally)}.`],
        facts: [
          ['Request', untrusted(event.requestId, 100)],
          ['Applicant', untrusted(a.id, 100)],
          ['Legal name', name],
          ['Outcome', o],
          ['Final tally', tallyText(event.tally)],
          ['Decided', when('at', event.at)],
        ],
        sections: [],
        link: links.link(
          o === 'approved' ? 'Follow onboarding' : 'Open the request',
          requestPath(event.requestId),
        ),
        why: why(r, 'your bank is a member of the consortium'),
      };
    }

    case 'deadline.approaching': {
      const hours = hoursBetween(event.at, event.deadline);
      const name = ballotName(event.ballot);
      const voted = new Set(event.voted).size;
      return {
        tone: 'warning',
        title: mustAct(r)
          ? `Vote closing in ${plural(hours, 'hour')}: ${name}`
          : `Voting closes in ${plural(hours, 'hour')} on ${name}`,
        paragraphs: [
          (mustAct(r) ? 'Your bank has not voted yet. ' : '') +
            `Voting on ${name} closes ${when('deadline', event.deadline)}; ${voted} of ${event.eligible.length} eligible members have voted.`,
          `Tally: ${tallyText(event.tally)}. Without ${event.tally.required} approvals by the deadline it expires.`,
        ],
        facts: [
          [event.ballot.kind === 'request' ? 'Request' : 'Proposal', untrusted(event.ballot.id, 100)],
          ['Tally', tallyText(event.tally)],
          ['Votes cast', `${voted} of ${event.eligible.length}`],
          ['Deadline', when('deadline', event.deadline)],
        ],
        sections: mustAct(r) ? howToVote(event.ballot, r.memberId, links) : [],
        link: links.link(
          event.ballot.kind === 'request' ? 'Open the request' : 'Open the proposal',
          ballotPath(event.ballot),
        ),
        why: why(r, 'your bank is an eligible voter that has not voted yet'),
      };
    }

    case 'provisioning.started': {
      const a = event.applicant;
      const name = untrusted(a.legalName, 200);
      const own = r.kind === 'applicant';
      return {
        tone: 'info',
        title: own ? 'Onboarding started: TrustNet is building your node' : `Onboarding started for ${name}`,
        paragraphs: [
          (own
            ? 'The consortium approved your request. In your resource group, TrustNet'
            : `In the resource group of ${name}, TrustNet`) +
            ' now builds the network, the VPN gateway (the longest step, about 45 minutes in Azure), the Key Vault and node certificate, the scale set, and VPN peering with every member.',
          own
            ? 'You will hear when your bank is active, or if a step fails. Keep the resource group delegated to the platform until then.'
            : 'Operators hear of any step that fails.',
        ],
        facts: [
          ['Request', untrusted(event.requestId, 100)],
          ...applicantFacts(a),
          ['Started', when('at', event.at)],
        ],
        sections: [],
        link: links.link('Follow onboarding', requestPath(event.requestId)),
        why: why(r, 'your bank is a member of the consortium'),
      };
    }

    case 'provisioning.step-failed': {
      const a = event.applicant;
      const name = untrusted(a.legalName, 200);
      const own = r.kind === 'applicant';
      const step = untrusted(event.step, 100);
      const code = untrusted(event.error.code, 100);
      const azure = event.error.azureCode ? ` (Azure: ${untrusted(event.error.azureCode, 100)})` : '';
      const until = event.retryUntil ? when('retryUntil', event.retryUntil) : undefined;
      return {
        tone: 'attention',
        title: own ? `Onboarding stopped at step ${step}` : `Onboarding of ${name} failed at step ${step}`,
        paragraphs: [
          `Step ${step} failed on attempt ${event.attempt} with ${code}${azure}: ${said(untrusted(event.error.message, 1000), 'no message')}`,
          own
            ? 'Nothing built so far was removed. The consortium can resume onboarding from this step once the cause is fixed (a quota or a policy in your subscription, for example), or give up and tear down what was built.'
            : 'Nothing built so far was removed. An ACTIVE member can resume onboarding from the failed step once the cause is fixed, or abandon it: that tears down what was built, on the other members too, and revokes its certificate.',
          ...(until ? [`Without a retry by ${until}, onboarding is abandoned by itself.`] : []),
        ],
        facts: [
          ['Request', untrusted(event.requestId, 100)],
          ['Applicant', untrusted(a.id, 100)],
          ['Legal name', name],
          ['Step', step],
          ['Attempt', String(event.attempt)],
          ['Error', code],
          ...(event.error.azureCode
            ? ([['Azure code', untrusted(event.error.azureCode, 100)]] as [string, string][])
            : []),
          ...(until ? ([['Retry until', until]] as [string, string][]) : []),
        ],
        sections: own ? [] : [retryOrAbandon(event.requestId, links)],
        link: links.link('Open the request', requestPath(event.requestId)),
        why: why(r, 'your bank is a member of the consortium'),
      };
    }

    case 'member.active': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      const self = isMember(r, m.id);
      return {
        tone: 'good',
        title: self ? `Welcome: ${name} is now an active member` : `${name} is now an active member`,
        paragraphs: [
          self
            ? 'Your node is running and peered with every member over VPN. Your bank can now vote on membership requests and proposals.'
            : `${name} (${untrusted(m.id, 100)}) finished onboarding: its node is running and peered with yours over VPN. It votes on ballots opened from now on.`,
        ],
        facts: [
          ...memberFacts(m),
          ...(event.requestId ? ([['Request', untrusted(event.requestId, 100)]] as [string, string][]) : []),
          ['Active since', when('at', event.at)],
        ],
        sections: [],
        link: links.link('Open the member', memberPath(m.id)),
        why: why(r, self ? 'this is about your bank' : 'your bank is a member of the consortium'),
      };
    }

    case 'certificate.renewed': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      return {
        tone: 'good',
        title: `Node certificate renewed for ${name}`,
        paragraphs: [
          `The consortium CA issued a new node certificate for ${name}, from a new key made in its own Key Vault; it is valid until ${when('notAfter', event.notAfter)}. Nothing to do.`,
        ],
        facts: [
          ...memberFacts(m),
          ['Serial', untrusted(event.serial, 100)],
          ['Valid until', when('notAfter', event.notAfter)],
        ],
        sections: [],
        link: links.link('Open the member', memberPath(m.id)),
        why: why(r, 'this is about your bank'),
      };
    }

    case 'certificate.expiring': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      const days = daysBetween(event.at, event.notAfter);
      const err = event.error
        ? ` The last renewal failed with ${untrusted(event.error.code, 100)}: ${said(untrusted(event.error.message, 1000), 'no message')}`
        : '';
      return {
        tone: 'warning',
        title: `Node certificate of ${name} expires in ${plural(days, 'day')}`,
        paragraphs: [
          `The node certificate of ${name} expires ${when('notAfter', event.notAfter)} and has not been renewed yet.${err}`,
          r.kind === 'operators'
            ? "The renewal timer tries again on its schedule (TRUSTNET_CERT_RENEWAL_SCHEDULE). Check the platform vault, the consortium CA and the delegation of the bank's resource group."
            : "The platform tries again every day and its operators have been told. Check that your resource group is still delegated to the platform and that it can still reach your bank's Key Vault.",
        ],
        facts: [
          ...memberFacts(m),
          ['Serial', untrusted(event.serial, 100)],
          ['Expires', when('notAfter', event.notAfter)],
          ...(event.error ? ([['Last error', untrusted(event.error.code, 100)]] as [string, string][]) : []),
        ],
        sections: [],
        link: links.link('Open the member', memberPath(m.id)),
        why: why(r, 'this is about your bank'),
      };
    }

    case 'member.suspended':
    case 'member.removed': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      const self = isMember(r, m.id);
      const removed = event.kind === 'member.removed';
      const verb = removed ? 'removed from the consortium' : 'suspended';
      return {
        tone: 'attention',
        title: self ? `Your bank was ${verb}` : `${name} was ${verb}`,
        paragraphs: [
          `The consortium approved proposal ${untrusted(event.proposalId, 100)} to ${removed ? 'remove' : 'suspend'} ${name}. Reason: ${said(untrusted(event.reason), 'none given')}`,
          removed
            ? `${self ? "Your bank's" : 'Its'} node, VPN connections and network rules on every member are torn down, and every certificate it held is revoked (listed on the consortium CRL).`
            : `${self ? 'Your bank' : 'It'} cannot vote until a reinstate proposal passes.`,
        ],
        facts: [
          ...memberFacts(m),
          ['Proposal', untrusted(event.proposalId, 100)],
          ['Since', when('at', event.at)],
        ],
        sections: [],
        link: links.link('Open the proposal', proposalPath(event.proposalId)),
        why: why(r, self ? 'this is about your bank' : 'your bank is a member of the consortium'),
      };
    }

    case 'proposal.opened': {
      const s = event.subject;
      const name = untrusted(s.legalName, 200);
      const verb = ACTION_VERB[event.action];
      const self = isMember(r, s.id);
      return {
        tone: 'info',
        title: mustAct(r)
          ? `Vote needed: proposal to ${verb} ${name}`
          : self
            ? `A proposal to ${verb} your bank is open`
            : `Proposal to ${verb} ${name}`,
        paragraphs: [
          `${untrusted(event.proposer, 100)} proposes to ${verb} ${name} (${untrusted(s.id, 100)}). Reason: ${said(untrusted(event.reason), 'none given')}`,
          mustAct(r)
            ? `Your bank is an eligible voter: approve or reject it, with a reason, by ${when('deadline', event.deadline)}.`
            : self
              ? `Your bank does not vote on it. Eligible members vote until ${when('deadline', event.deadline)}; you will hear the outcome.`
              : `Eligible members vote until ${when('deadline', event.deadline)}.`,
          `Policy: ${policyText(event.policy)}. ${event.tally.required} of ${event.tally.eligible} eligible members must approve.`,
        ],
        facts: [
          ['Proposal', untrusted(event.proposalId, 100)],
          ['Action', event.action],
          ...memberFacts(s),
          ['Proposer', untrusted(event.proposer, 100)],
          ...(event.newKeyThumbprint
            ? ([['New key', untrusted(event.newKeyThumbprint, 100)]] as [string, string][])
            : []),
          ['Tally', tallyText(event.tally)],
          ['Deadline', when('deadline', event.deadline)],
        ],
        sections: mustAct(r) ? howToVote({ kind: 'proposal', id: event.proposalId }, r.memberId, links) : [],
        link: links.link('Open the proposal', proposalPath(event.proposalId)),
        why: why(
          r,
          mustAct(r) ? 'your bank is an eligible voter on this proposal' : 'this is about your bank',
        ),
      };
    }

    case 'proposal.decided': {
      const s = event.subject;
      const name = untrusted(s.legalName, 200);
      const verb = ACTION_VERB[event.action];
      const self = isMember(r, s.id);
      const o = event.outcome;
      return {
        tone: o === 'approved' ? 'good' : o === 'rejected' ? 'attention' : 'warning',
        title: self ? `The proposal to ${verb} your bank was ${o}` : `Proposal to ${verb} ${name}: ${o}`,
        paragraphs: [
          o === 'approved'
            ? `The consortium approved proposal ${untrusted(event.proposalId, 100)} to ${verb} ${name}; it takes effect now.`
            : o === 'rejected'
              ? `Proposal ${untrusted(event.proposalId, 100)} to ${verb} ${name} can no longer pass. Nothing changes.`
              : `Voting on proposal ${untrusted(event.proposalId, 100)} to ${verb} ${name} closed without a decision. Nothing changes.`,
          `Final tally: ${tallyText(event.tally)}.`,
        ],
        facts: [
          ['Proposal', untrusted(event.proposalId, 100)],
          ['Action', event.action],
          ...memberFacts(s),
          ['Outcome', o],
          ['Final tally', tallyText(event.tally)],
          ['Decided', when('at', event.at)],
        ],
        sections: [],
        link: links.link('Open the proposal', proposalPath(event.proposalId)),
        why: why(r, self ? 'this is about your bank' : 'your bank is a member of the consortium'),
      };
    }

    case 'scaling.changed': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      const from = untrusted(event.from, 100);
      const to = untrusted(event.to, 100);
      return {
        tone: 'info',
        title: `${name} moved from ${from} to ${to}`,
        paragraphs: [
          `The node of ${name} now runs at the ${to} cost profile (it was ${from}). Reason: ${said(untrusted(event.reason), 'none given')}`,
        ],
        facts: [...memberFacts(m), ['From', from], ['To', to], ['Changed', when('at', event.at)]],
        sections: [],
        link: links.link('Open the member', memberPath(m.id)),
        why: why(r, 'this is about your bank'),
      };
    }

    case 'scaling.failed': {
      const m = event.member;
      const name = untrusted(m.legalName, 200);
      const from = untrusted(event.from, 100);
      const to = untrusted(event.to, 100);
      return {
        tone: 'attention',
        title: `Scaling ${name} to ${to} failed`,
        paragraphs: [
          `The node of ${name} could not be moved from the ${from} to the ${to} cost profile after its retries; it keeps running as it was, and the scaling timer tries again at its next tick. ${untrusted(event.error.code, 100)}: ${said(untrusted(event.error.message, 1000), 'no message')}`,
        ],
        facts: [...memberFacts(m), ['From', from], ['To', to], ['Failed', when('at', event.at)]],
        sections: [],
        link: links.link('Open the member', memberPath(m.id)),
        why: why(r, 'this is about your bank'),
      };
    }

    case 'channel.failing': {
      const owner = event.owner.kind === 'member' ? untrusted(event.owner.member.id, 100) : 'operators';
      const what = event.channel === 'teams' ? 'Teams webhook' : 'email';
      const target = untrusted(event.target, 200);
      return {
        tone: 'attention',
        title: `Notification channel failing: ${owner} ${what}`,
        paragraphs: [
          `${plural(event.failures, 'delivery', 'deliveries')} in a row to the ${what} of ${owner} (${target}) failed since ${when('since', event.since)}; the last with ${untrusted(event.lastError.code, 100)}: ${said(untrusted(event.lastError.message, 1000), 'no message')}`,
          'Votes and onboarding go on; messages for this channel are not getting through. ' +
            (event.owner.kind === 'member'
              ? `The member can set new channels with PUT ${links.route(`${memberPath(event.owner.member.id)}/channels`)} (signed by its key).`
              : 'Fix the TRUSTNET_OPERATORS_EMAIL or TRUSTNET_OPERATORS_TEAMS_WEBHOOK app setting.'),
        ],
        facts: [
          ['Owner', owner],
          ['Channel', what],
          ['Target', target],
          ['Failures', String(event.failures)],
          ['Since', when('since', event.since)],
          ['Last error', untrusted(event.lastError.code, 100)],
        ],
        sections: [],
        link:
          event.owner.kind === 'member'
            ? links.link('Open the member', memberPath(event.owner.member.id))
            : undefined,
        why: why(r, 'your bank is a member of the consortium'),
      };
    }
  }
}

function message(event: NotificationEvent, recipient: Recipient, opts: RenderOptions): Message {
  isoOf('at', event.at);
  const consortium = opts.consortium ? untrusted(opts.consortium, 100) : 'the consortium';
  return compose(event, recipient, new Links(opts.publicUrl), consortium);
}

const header = (opts: RenderOptions) =>
  opts.consortium ? `TrustNet · ${untrusted(opts.consortium, 100)}` : 'TrustNet';

// ---------------------------------------------------------------------------------------------------------
// Renderings

const CONTAINER_STYLE: Record<Tone, Container['style']> = {
  info: 'emphasis',
  good: 'good',
  warning: 'warning',
  attention: 'attention',
};
const TITLE_COLOR: Record<Tone, TextRun['color']> = {
  info: 'accent',
  good: 'good',
  warning: 'warning',
  attention: 'attention',
};

const HTML_COLOR: Record<Tone, string> = {
  info: '#0f6cbd',
  good: '#107c10',
  warning: '#8a5d00',
  attention: '#c50f1f',
};

const run = (text: string, style: Omit<TextRun, 'type' | 'text'> = {}): TextRun => ({
  type: 'TextRun',
  text,
  ...style,
});
const rich = (inlines: TextRun[], extra: Omit<RichTextBlock, 'type' | 'inlines'> = {}): RichTextBlock => ({
  type: 'RichTextBlock',
  inlines,
  ...extra,
});

/**
 * The card for one recipient. Text is in TextRuns, which hosts never read as markdown; FactSet values,
 * which they do, are escaped.
 */
export function renderCard(
  event: NotificationEvent,
  recipient: Recipient,
  opts: RenderOptions = {},
): AdaptiveCard {
  const m = message(event, recipient, opts);
  const body: CardElement[] = [
    {
      type: 'Container',
      style: CONTAINER_STYLE[m.tone],
      bleed: true,
      items: [
        rich([run(header(opts), { size: 'small', isSubtle: true })]),
        rich([run(m.title, { size: 'large', weight: 'bolder', color: TITLE_COLOR[m.tone] })]),
      ],
    },
    ...m.paragraphs.map((p) => rich([run(p)])),
  ];
  if (m.facts.length > 0) {
    body.push({
      type: 'FactSet',
      facts: m.facts.map(([title, value]) => ({
        title: markdownLiteral(title),
        value: markdownLiteral(value),
      })),
    });
  }
  for (const s of m.sections) {
    body.push(rich([run(s.heading, { weight: 'bolder' })], { separator: true, spacing: 'medium' }));
    for (const line of s.lines)
      body.push(rich([run(line, s.code ? { fontType: 'monospace' } : {})], { spacing: 'small' }));
  }
  body.push(rich([run(m.why, { size: 'small', isSubtle: true })], { separator: true, spacing: 'medium' }));
  const card: AdaptiveCard = { $schema: ADAPTIVE_CARD_SCHEMA, type: 'AdaptiveCard', version: '1.5', body };
  if (m.link) card.actions = [{ type: 'Action.OpenUrl', title: m.link.title, url: m.link.url }];
  return card;
}

/** The email for one recipient: the same message as the card, as plain text and as escaped HTML. */
export function renderEmail(
  event: NotificationEvent,
  recipient: Recipient,
  opts: RenderOptions = {},
): RenderedEmail {
  const m = message(event, recipient, opts);
  const subject = opts.consortium
    ? `[${untrusted(opts.consortium, 100)}] ${m.title}`
    : `TrustNet: ${m.title}`;

  const width = Math.max(0, ...m.facts.map(([t]) => t.length)) + 1;
  const text: string[] = [m.title, '', ...m.paragraphs.flatMap((p) => [p, ''])];
  if (m.facts.length > 0) text.push(...m.facts.map(([t, v]) => `${`${t}:`.padEnd(width)} ${v}`), '');
  for (const s of m.sections) text.push(s.heading, ...s.lines.map((l) => `  ${l}`), '');
  if (m.link) text.push(`${m.link.title}: ${m.link.url}`, '');
  text.push('-- ', `${header(opts)}. ${m.why}`, '');

  const muted = 'color:#616161;font-size:12px';
  const html: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(subject)}</title>`,
    '</head>',
    '<body style="font-family:\'Segoe UI\',Helvetica,Arial,sans-serif;color:#242424;line-height:1.4">',
    `<p style="${muted}">${escapeHtml(header(opts))}</p>`,
    `<h1 style="font-size:20px;color:${HTML_COLOR[m.tone]}">${escapeHtml(m.title)}</h1>`,
    ...m.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
  ];
  if (m.facts.length > 0) {
    html.push('<table role="presentation" style="border-collapse:collapse">');
    for (const [t, v] of m.facts) {
      html.push(
        `<tr><th scope="row" style="text-align:left;padding:2px 16px 2px 0;${muted}">${escapeHtml(t)}</th>` +
          `<td style="padding:2px 0">${escapeHtml(v)}</td></tr>`,
      );
    }
    html.push('</table>');
  }
  for (const s of m.sections) {
    html.push(`<h2 style="font-size:16px">${escapeHtml(s.heading)}</h2>`);
    html.push(
      s.code
        ? `<pre style="background:#f5f5f5;padding:8px;white-space:pre-wrap">${s.lines.map(escapeHtml).join('\n')}</pre>`
        : s.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n'),
    );
  }
  if (m.link) html.push(`<p><a href="${escapeHtml(m.link.url)}">${escapeHtml(m.link.title)}</a></p>`);
  html.push(`<hr>`, `<p style="${muted}">${escapeHtml(m.why)}</p>`, '</body>', '</html>', '');

  return { subject, plainText: text.join('\n'), html: html.join('\n') };
}
