import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { Member, MemberStatus } from './membership';
import {
  NOTIFICATION_KINDS,
  NotificationError,
  applicantRef,
  maskWebhookUrl,
  notificationEvent,
  notificationId,
  recipientKey,
  recipientsOf,
  renderCard,
  renderEmail,
  teamsMessage,
  type AdaptiveCard,
  type ApplicantRef,
  type NotificationEvent,
  type NotificationEventInput,
  type Recipient,
  type RenderOptions,
} from './notifications';

// ---------------------------------------------------------------------------------------------------------
// Fixtures: fixed inputs, no clock.

const GOLDEN = join(__dirname, 'notifications', 'golden');
const SCHEMA_FILE = join(__dirname, '..', 'schemas', 'vendor', 'adaptive-card.schema.json');
/** sha256 of the vendored file as copied (schemas/README-vendor.md): a reformat or edit shows here. */
const SCHEMA_SHA256 = '5a7e3dec95334c1b6544e44508d095b784eb3146dd75cc6a794e05288f6ab277';

const OPTS: RenderOptions = { publicUrl: 'https://trustnet.example/', consortium: 'TrustNet Local' };
const AT = '2026-05-01T09:00:00.000Z';
const DEADLINE = '2026-05-08T09:00:00.000Z';
const REQUEST = '6f1c2d3e-4b5a-4c6d-8e7f-901234567890';
const PROPOSAL = '0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b';
const WEBHOOK =
  'https://prod-01.westeurope.logic.azure.com:443/workflows/0a1b2c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3CR3T-S1GNATURE';

function member(id: string, legalName: string, status: MemberStatus): Member {
  return {
    id,
    legalName,
    status,
    governanceKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    keyThumbprint: `tp-${id}`,
    contacts: { email: [`ops@${id}.example`] },
    azure: {
      tenantId: '00000000-0000-4000-8000-000000000000',
      subscriptionId: '00000000-0000-4000-8000-000000000001',
      resourceGroup: `rg-${id}`,
      region: 'westeurope',
      addressSpace: '10.1.0.0/16',
    },
    profile: 'Small',
    joinedAt: '2026-01-01T00:00:00.000Z',
    founder: true,
  };
}

const MEMBERS: Member[] = [
  member('bank-c', 'O=Bank C, L=Paris, C=FR', 'ACTIVE'),
  member('bank-a', 'O=Bank A, L=London, C=GB', 'ACTIVE'),
  member('bank-b', 'O=Bank B, L=Frankfurt, C=DE', 'ACTIVE'),
  member('bank-e', 'O=Bank E, L=Milan, C=IT', 'SUSPENDED'),
  member('bank-f', 'O=Bank F, L=Vienna, C=AT', 'REMOVED'),
];
const ELIGIBLE = ['bank-a', 'bank-b', 'bank-c', 'bank-e'];

const APPLICANT: ApplicantRef = {
  id: 'bank-d',
  legalName: 'O=Bank D, L=Madrid, C=ES',
  email: ['ops@bank-d.example', 'kyc@bank-d.example'],
  region: 'spaincentral',
  addressSpace: '10.4.0.0/16',
  profile: 'Medium',
};
const BANK_C = { id: 'bank-c', legalName: 'O=Bank C, L=Paris, C=FR' };
const BANK_D = { id: 'bank-d', legalName: APPLICANT.legalName };
const OPEN_TALLY = { approve: 0, reject: 0, eligible: 4, required: 3 };

/** One event of every kind, as the orchestrations would raise them. */
const INPUTS: Record<(typeof NOTIFICATION_KINDS)[number], NotificationEventInput> = {
  'request.received': {
    kind: 'request.received',
    at: AT,
    requestId: REQUEST,
    applicant: APPLICANT,
    policy: { kind: 'majority' },
    tally: OPEN_TALLY,
    deadline: DEADLINE,
    eligible: ELIGIBLE,
  },
  'vote.cast': {
    kind: 'vote.cast',
    at: '2026-05-02T10:30:00.000Z',
    ballot: { kind: 'request', id: REQUEST, applicant: BANK_D },
    voter: 'bank-b',
    decision: 'approve',
    reason: 'KYC complete; references checked.',
    tally: { approve: 2, reject: 0, eligible: 4, required: 3 },
    deadline: DEADLINE,
  },
  'request.decided': {
    kind: 'request.decided',
    at: '2026-05-03T14:00:00.000Z',
    requestId: REQUEST,
    applicant: APPLICANT,
    outcome: 'approved',
    tally: { approve: 3, reject: 0, eligible: 4, required: 3 },
  },
  'deadline.approaching': {
    kind: 'deadline.approaching',
    at: '2026-05-07T09:00:00.000Z',
    ballot: { kind: 'request', id: REQUEST, applicant: BANK_D },
    deadline: DEADLINE,
    tally: { approve: 2, reject: 0, eligible: 4, required: 3 },
    eligible: ELIGIBLE,
    voted: ['bank-a', 'bank-b'],
  },
  'provisioning.started': {
    kind: 'provisioning.started',
    at: '2026-05-03T14:00:05.000Z',
    requestId: REQUEST,
    applicant: APPLICANT,
  },
  'provisioning.step-failed': {
    kind: 'provisioning.step-failed',
    at: '2026-05-03T14:20:00.000Z',
    requestId: REQUEST,
    applicant: APPLICANT,
    attempt: 1,
    step: 'node',
    error: {
      code: 'DEPLOY.QUOTA_EXCEEDED',
      message:
        'Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota.',
      azureCode: 'QuotaExceeded',
    },
    retryUntil: '2026-05-10T14:20:00.000Z',
  },
  'member.active': {
    kind: 'member.active',
    at: '2026-05-03T15:10:00.000Z',
    member: BANK_D,
    requestId: REQUEST,
  },
  'certificate.renewed': {
    kind: 'certificate.renewed',
    at: '2026-06-01T03:00:00.000Z',
    member: BANK_C,
    serial: '5f3a9c0e12d4',
    notAfter: '2027-07-01T03:00:00.000Z',
  },
  'certificate.expiring': {
    kind: 'certificate.expiring',
    at: '2026-06-20T03:00:00.000Z',
    member: BANK_C,
    serial: '4e2b8d1f03c5',
    notAfter: '2026-07-01T03:00:00.000Z',
    error: { code: 'ACCESS.DELEGATION_MISSING', message: 'The platform no longer has rights on rg-bank-c.' },
  },
  'member.suspended': {
    kind: 'member.suspended',
    at: '2026-06-02T12:00:00.000Z',
    member: BANK_C,
    proposalId: PROPOSAL,
    reason: 'Unpaid consortium fees for two quarters.',
  },
  'member.removed': {
    kind: 'member.removed',
    at: '2026-09-02T12:00:00.000Z',
    member: { id: 'bank-f', legalName: 'O=Bank F, L=Vienna, C=AT' },
    proposalId: PROPOSAL,
    reason: 'Left the consortium.',
  },
  'proposal.opened': {
    kind: 'proposal.opened',
    at: '2026-05-26T12:00:00.000Z',
    proposalId: PROPOSAL,
    action: 'suspend',
    subject: BANK_C,
    proposer: 'bank-a',
    reason: 'Unpaid consortium fees for two quarters.',
    policy: { kind: 'threshold', percent: 60, comparator: '>=', quorum: 2 },
    tally: { approve: 0, reject: 0, eligible: 2, required: 2 },
    deadline: '2026-06-02T12:00:00.000Z',
    eligible: ['bank-a', 'bank-b'],
  },
  'proposal.decided': {
    kind: 'proposal.decided',
    at: '2026-06-02T12:00:00.000Z',
    proposalId: PROPOSAL,
    action: 'suspend',
    subject: BANK_C,
    outcome: 'approved',
    tally: { approve: 2, reject: 0, eligible: 2, required: 2 },
  },
  'scaling.changed': {
    kind: 'scaling.changed',
    at: '2026-05-04T07:00:00.000Z',
    member: BANK_C,
    from: 'Small',
    to: 'Large',
    reason: 'Weekday business hours schedule (07:00 Europe/Paris).',
  },
  'scaling.failed': {
    kind: 'scaling.failed',
    at: '2026-05-04T07:05:00.000Z',
    member: BANK_C,
    from: 'Small',
    to: 'Large',
    error: { code: 'AZURE.CONFLICT', message: 'Another operation is in progress on the scale set.' },
  },
  'channel.failing': {
    kind: 'channel.failing',
    at: '2026-05-05T08:00:00.000Z',
    owner: { kind: 'member', member: BANK_C },
    channel: 'teams',
    target: maskWebhookUrl(WEBHOOK),
    failures: 5,
    since: '2026-05-04T22:13:00.000Z',
    lastError: {
      code: 'CHANNEL.DEAD',
      message: 'The Teams webhook answered 404: its flow no longer exists.',
    },
  },
};

const EVENTS = NOTIFICATION_KINDS.map((k) => notificationEvent(INPUTS[k]) as NotificationEvent);

type RoleName = 'must-act' | 'informed' | 'applicant' | 'operators';
const roleName = (r: Recipient): RoleName => (r.kind === 'member' ? r.role : r.kind);

// ---------------------------------------------------------------------------------------------------------
// The vendored Adaptive Card schema

let validateCard: ValidateFunction;

beforeAll(() => {
  const { id, ...rest } = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as { id: string } & object;
  // Draft-06 names its id `$id`; this file uses draft-04's `id`, which ajv 8 refuses as a keyword.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(draft06);
  addFormats(ajv);
  validateCard = ajv.compile({ $id: id, ...rest });
});

function expectValidCard(card: AdaptiveCard): void {
  const ok = validateCard(card);
  if (!ok)
    throw new Error(
      `card fails the Adaptive Card schema: ${JSON.stringify(validateCard.errors?.slice(0, 5))}`,
    );
}

describe('vendored Adaptive Card schema', () => {
  it('is the file recorded in schemas/README-vendor.md, unchanged', () => {
    const bytes = readFileSync(SCHEMA_FILE);
    const readme = readFileSync(join(__dirname, '..', 'schemas', 'README-vendor.md'), 'utf8');
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(readme).toContain(sha);
    expect(sha).toBe(SCHEMA_SHA256);
  });

  it('accepts a minimal 1.5 card and refuses broken ones', () => {
    const base = {
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      type: 'AdaptiveCard',
      version: '1.5',
    };
    expect(validateCard({ ...base, body: [{ type: 'TextBlock', text: 'hi' }] })).toBe(true);
    expect(validateCard({ ...base, body: [{ type: 'FactSet', facts: [{ title: 'no value' }] }] })).toBe(
      false,
    );
    expect(validateCard({ ...base, body: [{ type: 'TextBlok', text: 'typo' }] })).toBe(false);
    expect(validateCard({ ...base, body: [{ type: 'TextBlock', text: 'x', colour: 'good' }] })).toBe(false);
    expect(validateCard({ ...base, actions: [{ type: 'Action.OpenUrl', title: 'no url' }] })).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Golden files: every kind × every role its recipients have.

const EXPECTED_ROLES: Record<(typeof NOTIFICATION_KINDS)[number], RoleName[]> = {
  'request.received': ['must-act'],
  'vote.cast': ['informed'],
  'request.decided': ['informed', 'applicant'],
  'deadline.approaching': ['must-act'],
  'provisioning.started': ['applicant', 'operators'],
  'provisioning.step-failed': ['applicant', 'operators'],
  'member.active': ['informed'],
  'certificate.renewed': ['informed'],
  'certificate.expiring': ['informed', 'operators'],
  'member.suspended': ['informed'],
  'member.removed': ['informed'],
  'proposal.opened': ['must-act', 'informed'],
  'proposal.decided': ['informed'],
  'scaling.changed': ['informed'],
  'scaling.failed': ['informed', 'operators'],
  'channel.failing': ['operators'],
};

/** The first recipient of each role, in recipientsOf's order. */
function samples(event: NotificationEvent): Map<RoleName, Recipient> {
  const out = new Map<RoleName, Recipient>();
  for (const r of recipientsOf(event, MEMBERS)) if (!out.has(roleName(r))) out.set(roleName(r), r);
  return out;
}

const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const written = new Set<string>();

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    throw new Error(
      `missing golden file ${name}: run UPDATE_GOLDEN=1 npx jest core/notifications and review it`,
    );
  }
  expect(actual).toBe(expected);
}

describe('golden cards and emails', () => {
  it.each(EVENTS.map((e) => [e.kind, e] as const))('%s', (kind, event) => {
    const byRole = samples(event);
    expect([...byRole.keys()]).toEqual(EXPECTED_ROLES[kind]);
    for (const [role, recipient] of byRole) {
      const card = renderCard(event, recipient, OPTS);
      expectValidCard(card);
      const email = renderEmail(event, recipient, OPTS);
      const files: [string, string][] = [
        [`${kind}.${role}.card.json`, `${JSON.stringify(card, null, 2)}\n`],
        [`${kind}.${role}.email.txt`, `Subject: ${email.subject}\n\n${email.plainText}`],
        [`${kind}.${role}.email.html`, email.html],
      ];
      // Named before comparing, so one mismatch does not also read as stale files below.
      for (const [name] of files) written.add(name);
      for (const [name, actual] of files) golden(name, actual);
    }
  });

  it('leaves no stale golden file behind', () => {
    // Runs after the goldens above (jest keeps declaration order within a file).
    expect(written.size).toBeGreaterThan(NOTIFICATION_KINDS.length * 3);
    const present = readdirSync(GOLDEN).sort();
    expect(present).toEqual([...written].sort());
  });
});

// ---------------------------------------------------------------------------------------------------------
// Recipients

describe('recipientsOf', () => {
  const of = (kind: (typeof NOTIFICATION_KINDS)[number], patch: Partial<NotificationEventInput> = {}) =>
    recipientsOf(
      notificationEvent({ ...INPUTS[kind], ...patch } as NotificationEventInput) as NotificationEvent,
      MEMBERS,
    );
  const member = (memberId: string, role: 'must-act' | 'informed'): Recipient => ({
    kind: 'member',
    memberId,
    role,
  });
  const applicant: Recipient = { kind: 'applicant', email: APPLICANT.email };

  it('asks every eligible voter still ACTIVE to act on a new request, and nobody else', () => {
    // bank-e was eligible but has been suspended since: it can no longer vote.
    expect(of('request.received')).toEqual([
      member('bank-a', 'must-act'),
      member('bank-b', 'must-act'),
      member('bank-c', 'must-act'),
    ]);
  });

  it('reminds only the eligible voters who have not voted', () => {
    expect(of('deadline.approaching')).toEqual([member('bank-c', 'must-act')]);
    expect(of('deadline.approaching', { voted: [] } as Partial<NotificationEventInput>)).toEqual([
      member('bank-a', 'must-act'),
      member('bank-b', 'must-act'),
      member('bank-c', 'must-act'),
    ]);
    expect(
      of('deadline.approaching', {
        voted: ['bank-a', 'bank-b', 'bank-c'],
      } as Partial<NotificationEventInput>),
    ).toEqual([]);
  });

  it('tells every current member and the applicant of a decision', () => {
    expect(of('request.decided')).toEqual([
      member('bank-a', 'informed'),
      member('bank-b', 'informed'),
      member('bank-c', 'informed'),
      member('bank-e', 'informed'),
      applicant,
    ]);
  });

  it('writes to each applicant address once, and to none when it gave none', () => {
    const dup = { ...APPLICANT, email: [' ops@bank-d.example', 'ops@bank-d.example', ''] };
    expect(of('request.decided', { applicant: dup } as Partial<NotificationEventInput>).at(-1)).toEqual({
      kind: 'applicant',
      email: ['ops@bank-d.example'],
    });
    const none = { ...APPLICANT, email: [] };
    expect(
      of('request.decided', { applicant: none } as Partial<NotificationEventInput>).map(recipientKey),
    ).not.toContain('applicant');
  });

  it('asks the eligible voters to act on a proposal and tells its subject', () => {
    expect(of('proposal.opened')).toEqual([
      member('bank-a', 'must-act'),
      member('bank-b', 'must-act'),
      member('bank-c', 'informed'),
    ]);
  });

  it('tells a removed subject of the decision about it, though it is no longer a member', () => {
    const removal = { action: 'remove', subject: { id: 'bank-f', legalName: 'O=Bank F, L=Vienna, C=AT' } };
    expect(of('proposal.decided', removal as Partial<NotificationEventInput>).map(recipientKey)).toEqual([
      'member:bank-a',
      'member:bank-b',
      'member:bank-c',
      'member:bank-e',
      'member:bank-f',
    ]);
    expect(of('member.removed').map(recipientKey)).toContain('member:bank-f');
  });

  it('tells every member, and the new member itself, that a bank is active', () => {
    // bank-d is not in this registry read yet.
    expect(of('member.active').map(recipientKey)).toEqual([
      'member:bank-a',
      'member:bank-b',
      'member:bank-c',
      'member:bank-d',
      'member:bank-e',
    ]);
  });

  it('sends onboarding news and failures to the operators and the applicant only', () => {
    expect(of('provisioning.started')).toEqual([applicant, { kind: 'operators' }]);
    expect(of('provisioning.step-failed')).toEqual([applicant, { kind: 'operators' }]);
  });

  it('sends channel failures to the operators only', () => {
    expect(of('channel.failing')).toEqual([{ kind: 'operators' }]);
  });

  it('sends certificate and scaling news to that member, expiry to the operators too', () => {
    expect(of('certificate.renewed')).toEqual([member('bank-c', 'informed')]);
    expect(of('certificate.expiring')).toEqual([member('bank-c', 'informed'), { kind: 'operators' }]);
    expect(of('scaling.changed')).toEqual([member('bank-c', 'informed')]);
  });

  it('gives the voter a receipt and nobody else a message per vote', () => {
    expect(of('vote.cast')).toEqual([member('bank-b', 'informed')]);
  });

  it('never names a member twice, and must-act wins over informed', () => {
    // The subject listed as eligible (a caller's mistake) still gets one entry, as a voter.
    const r = of('proposal.opened', {
      eligible: ['bank-a', 'bank-c', 'bank-a'],
    } as Partial<NotificationEventInput>);
    expect(r).toEqual([member('bank-a', 'must-act'), member('bank-c', 'must-act')]);
    for (const e of EVENTS) {
      const keys = recipientsOf(e, MEMBERS).map(recipientKey);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Ids

describe('event ids', () => {
  it('are the documented dedupe keys', () => {
    expect(Object.fromEntries(EVENTS.map((e) => [e.kind, e.id]))).toEqual({
      'request.received': `request.received:${REQUEST}`,
      'vote.cast': `vote.cast:${REQUEST}:bank-b`,
      'request.decided': `request.decided:${REQUEST}`,
      'deadline.approaching': `deadline.approaching:${REQUEST}`,
      'provisioning.started': `provisioning.started:${REQUEST}`,
      'provisioning.step-failed': `provisioning.step-failed:${REQUEST}:1:node`,
      'member.active': 'member.active:bank-d',
      'certificate.renewed': 'certificate.renewed:bank-c:5f3a9c0e12d4',
      'certificate.expiring': 'certificate.expiring:bank-c:4e2b8d1f03c5',
      'member.suspended': `member.suspended:bank-c:${PROPOSAL}`,
      'member.removed': `member.removed:bank-f:${PROPOSAL}`,
      'proposal.opened': `proposal.opened:${PROPOSAL}`,
      'proposal.decided': `proposal.decided:${PROPOSAL}`,
      'scaling.changed': 'scaling.changed:bank-c:2026-05-04T07:00:00.000Z',
      'scaling.failed': 'scaling.failed:bank-c:2026-05-04T07:05:00.000Z',
      'channel.failing': 'channel.failing:bank-c:teams:2026-05-04T22:13:00.000Z',
    });
    expect(new Set(EVENTS.map((e) => e.id)).size).toBe(EVENTS.length);
  });

  it('do not change with when the event is sent or what it says, only with what it is', () => {
    const vote = INPUTS['vote.cast'];
    const later = {
      ...vote,
      at: '2026-05-02T11:00:00.000Z',
      reason: 'changed my wording',
    } as NotificationEventInput;
    expect(notificationId(later)).toBe(notificationId(vote));
    expect(notificationId({ ...vote, voter: 'bank-c' } as NotificationEventInput)).not.toBe(
      notificationId(vote),
    );
    const failed = INPUTS['provisioning.step-failed'];
    expect(notificationId({ ...failed, attempt: 2 } as NotificationEventInput)).toBe(
      `provisioning.step-failed:${REQUEST}:2:node`,
    );
    // The same instant written two ways is the same run of failures.
    const since = { ...INPUTS['channel.failing'], since: '2026-05-04T22:13:00Z' } as NotificationEventInput;
    expect(notificationId(since)).toBe('channel.failing:bank-c:teams:2026-05-04T22:13:00.000Z');
    const ops = {
      ...INPUTS['channel.failing'],
      owner: { kind: 'operators' },
      channel: 'email',
    } as NotificationEventInput;
    expect(notificationId(ops)).toBe('channel.failing:operators:email:2026-05-04T22:13:00.000Z');
  });

  it('refuse an event that cannot have a stable id', () => {
    const bad = [
      { ...INPUTS['request.received'], requestId: ' ' },
      { ...INPUTS['provisioning.step-failed'], attempt: 0 },
      { ...INPUTS['provisioning.step-failed'], attempt: 1.5 },
      { ...INPUTS['scaling.changed'], at: 'yesterday' },
      { ...INPUTS['vote.cast'], at: 'not a time' },
    ] as NotificationEventInput[];
    for (const input of bad) {
      expect(() => notificationEvent(input)).toThrow(NotificationError);
      try {
        notificationEvent(input);
      } catch (e) {
        expect((e as NotificationError).code).toBe('NOTIFY.INVALID_EVENT');
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Safety: escaping, no links of theirs, no secrets

const EVIL_NAME =
  'O=<script>alert(1)</script> **Bank** [click here](https://evil.example/pay?sig=abc123), L=Paris, C=FR';

/** Every string of the card, split by whether hosts read it as markdown (Fact) or not (TextRun). */
function strings(card: AdaptiveCard): { markdown: string[]; plain: string[] } {
  const markdown: string[] = [];
  const plain: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o['type'] === 'TextRun') plain.push(String(o['text']));
    if (o['type'] === 'TextBlock') markdown.push(String(o['text']));
    if (o['type'] === 'FactSet')
      for (const f of o['facts'] as { title: string; value: string }[]) markdown.push(f.title, f.value);
    Object.values(o).forEach(walk);
  };
  walk(card);
  return { markdown, plain };
}

/** What a markdown reader could turn into a link, escapes honoured or not. */
function hasLink(markdown: string): boolean {
  return /\]\(/.test(markdown) || /(^|[^\\])\[/.test(markdown) || /<https?:/i.test(markdown);
}

describe('untrusted text', () => {
  const evilApplicant = { ...APPLICANT, legalName: EVIL_NAME, email: ['a@evil.example', '<b@evil.example>'] };
  const received = notificationEvent({
    ...INPUTS['request.received'],
    applicant: evilApplicant,
  }) as NotificationEvent;
  const decided = notificationEvent({
    ...INPUTS['request.decided'],
    applicant: evilApplicant,
  }) as NotificationEvent;
  const voter: Recipient = { kind: 'member', memberId: 'bank-a', role: 'must-act' };
  const applicant: Recipient = { kind: 'applicant', email: evilApplicant.email };

  it('is escaped in email HTML', () => {
    for (const [event, to] of [
      [received, voter],
      [decided, applicant],
    ] as const) {
      const { html, subject, plainText } = renderEmail(event, to, OPTS);
      expect(html).not.toMatch(/<script/i);
      expect(html).toContain('O=&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(subject).not.toMatch(/[\r\n]/);
      // Plain text is plain: it shows the name as written, but still without the link.
      expect(plainText).toContain('O=<script>alert(1)</script>');
    }
    const { html } = renderEmail(received, voter, OPTS);
    expect(html).not.toContain('<b@evil.example>');
    expect(html).toContain('Contacts: a@evil.example, &lt;b@evil.example&gt;.');
  });

  it('cannot make a link, or bold, in a card', () => {
    const card = renderCard(received, voter, OPTS);
    expectValidCard(card);
    const { markdown, plain } = strings(card);
    expect(markdown.filter(hasLink)).toEqual([]);
    expect(markdown).toContain(
      // A URL runs to the next space, so the masking takes its closing bracket and comma too.
      'O=<script>alert\\(1\\)</script> \\*\\*Bank\\*\\* \\[click here\\]\\(https://evil.example/… L=Paris, C=FR',
    );
    // TextRuns are never markdown, so the name is shown as written there, URL masked.
    expect(plain.some((t) => t.includes('[click here](https://evil.example/… L=Paris'))).toBe(true);
    // The only link in the card is ours.
    expect(card.actions).toEqual([
      {
        type: 'Action.OpenUrl',
        title: 'Open the request',
        url: `https://trustnet.example/api/membership-requests/${REQUEST}`,
      },
    ]);
  });

  it('keeps no URL of theirs: every one is masked to its scheme and host', () => {
    for (const out of [
      JSON.stringify(renderCard(received, voter, OPTS)),
      JSON.stringify(renderEmail(received, voter, OPTS)),
      JSON.stringify(renderEmail(decided, applicant, OPTS)),
    ]) {
      expect(out).not.toContain('evil.example/pay');
      expect(out).not.toContain('abc123');
      expect(out).toContain('https://evil.example/…');
    }
  });

  it('drops control and bidi characters and joins lines', () => {
    const event = notificationEvent({
      ...INPUTS['vote.cast'],
      reason: 'fine\r\n\u202egnp.exe\u202c\u0007 ok\u200b',
    }) as NotificationEvent;
    const email = renderEmail(event, { kind: 'member', memberId: 'bank-b', role: 'informed' }, OPTS);
    expect(email.plainText).toContain('Reason: fine gnp.exe ok.');
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point.
    expect(email.plainText).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u200b-\u200f\u202a-\u202e]/);
  });

  it('holds for any text: cards stay valid, no links appear, no secret from a URL survives', () => {
    const recipients: Recipient[] = [voter, { kind: 'member', memberId: 'bank-c', role: 'informed' }];
    fc.assert(
      fc.property(
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 80 }),
        fc.webUrl(),
        (name, reason, url) => {
          const secretUrl = `${url}${url.includes('?') ? '&' : '?'}sig=T0PSECRET`;
          const legalName = `${name} ${secretUrl}`;
          const events = [
            notificationEvent({ ...INPUTS['request.received'], applicant: { ...APPLICANT, legalName } }),
            notificationEvent({ ...INPUTS['proposal.opened'], reason: `${reason} ${secretUrl}` }),
          ] as NotificationEvent[];
          for (const event of events) {
            for (const r of recipients) {
              const card = renderCard(event, r, OPTS);
              expect(validateCard(card)).toBe(true);
              expect(strings(card).markdown.filter(hasLink)).toEqual([]);
              const all = JSON.stringify(card) + JSON.stringify(renderEmail(event, r, OPTS));
              expect(all).not.toContain('T0PSECRET');
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('webhook URLs', () => {
  it('are masked to scheme and host', () => {
    expect(maskWebhookUrl(WEBHOOK)).toBe('https://prod-01.westeurope.logic.azure.com/…');
    expect(maskWebhookUrl('https://user:pw@hooks.example:8443/x?sig=1')).toBe('https://hooks.example:8443/…');
    expect(maskWebhookUrl('not a url')).not.toContain('not a url');
  });

  it('never appear in full in any message, even when a caller passes one', () => {
    const leaky = notificationEvent({
      ...INPUTS['channel.failing'],
      target: WEBHOOK,
      lastError: { code: 'CHANNEL.DEAD', message: `POST ${WEBHOOK} answered 404` },
    }) as NotificationEvent;
    const ops: Recipient = { kind: 'operators' };
    for (const out of [
      JSON.stringify(renderCard(leaky, ops, OPTS)),
      JSON.stringify(renderEmail(leaky, ops, OPTS)),
    ]) {
      expect(out).not.toContain('S3CR3T');
      expect(out).not.toContain('/workflows/');
      expect(out).toContain('https://prod-01.westeurope.logic.azure.com/…');
    }
  });

  it('appear in no golden message', () => {
    for (const e of EVENTS) {
      for (const r of recipientsOf(e, MEMBERS)) {
        const out = JSON.stringify(renderCard(e, r, OPTS)) + JSON.stringify(renderEmail(e, r, OPTS));
        expect(out).not.toContain('sig=');
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Wording per recipient, links, envelope

describe('rendering', () => {
  const text = (e: NotificationEvent, r: Recipient, opts = OPTS) => renderEmail(e, r, opts).plainText;
  const byKind = (k: (typeof NOTIFICATION_KINDS)[number]) => EVENTS.find((e) => e.kind === k)!;

  it('tells a voter how to vote, by CLI and by HTTP, as itself', () => {
    const t = text(byKind('request.received'), { kind: 'member', memberId: 'bank-b', role: 'must-act' });
    expect(t).toContain(
      `trustnet vote ${REQUEST} approve --reason "<why>" --member bank-b --key <private-key-file> --url https://trustnet.example`,
    );
    expect(t).toContain(`trustnet vote ${REQUEST} reject --reason`);
    expect(t).toContain(`POST https://trustnet.example/api/membership-requests/${REQUEST}/votes`);
    expect(t).toContain('spaincentral');
    expect(t).toContain('10.4.0.0/16');
    expect(t).toContain('Medium');
    expect(t).toContain('2026-05-08 09:00 UTC');
    // Informed readers get no instructions.
    expect(
      text(byKind('request.received'), { kind: 'member', memberId: 'bank-e', role: 'informed' }),
    ).not.toContain('trustnet vote');
  });

  it('puts --proposal in a proposal vote command', () => {
    const t = text(byKind('proposal.opened'), { kind: 'member', memberId: 'bank-a', role: 'must-act' });
    expect(t).toContain(`trustnet vote ${PROPOSAL} approve --reason "<why>" --member bank-a`);
    expect(t).toContain('--proposal');
    expect(t).toContain(`POST https://trustnet.example/api/proposals/${PROPOSAL}/votes`);
  });

  it('tells the operators how to retry or abandon a failed step, and the applicant what failed', () => {
    const failed = byKind('provisioning.step-failed');
    const ops = text(failed, { kind: 'operators' });
    expect(ops).toContain(`POST https://trustnet.example/api/membership-requests/${REQUEST}/retry`);
    expect(ops).toContain(`POST https://trustnet.example/api/membership-requests/${REQUEST}/abandon`);
    expect(ops).toContain('DEPLOY.QUOTA_EXCEEDED');
    const own = text(failed, { kind: 'applicant', email: APPLICANT.email });
    expect(own).toContain('QuotaExceeded');
    expect(own).not.toContain('/retry');
  });

  it('speaks to the member a message is about', () => {
    const self = { kind: 'member', memberId: 'bank-c', role: 'informed' } as const;
    const other = { kind: 'member', memberId: 'bank-a', role: 'informed' } as const;
    expect(renderEmail(byKind('member.suspended'), self, OPTS).subject).toBe(
      '[TrustNet Local] Your bank was suspended',
    );
    expect(renderEmail(byKind('member.suspended'), other, OPTS).subject).toBe(
      '[TrustNet Local] O=Bank C, L=Paris, C=FR was suspended',
    );
    const active = byKind('member.active');
    expect(
      renderEmail(active, { kind: 'member', memberId: 'bank-d', role: 'informed' }, OPTS).subject,
    ).toContain('Welcome');
    expect(
      renderEmail(byKind('vote.cast'), { kind: 'member', memberId: 'bank-b', role: 'informed' }, OPTS)
        .subject,
    ).toBe(
      '[TrustNet Local] Your vote to approve the membership request of O=Bank D, L=Madrid, C=ES was counted',
    );
  });

  it('words every outcome of a request for the applicant', () => {
    const applicant: Recipient = { kind: 'applicant', email: APPLICANT.email };
    const subjects = (['approved', 'rejected', 'expired', 'withdrawn'] as const).map(
      (outcome) =>
        renderEmail(
          notificationEvent({
            ...INPUTS['request.decided'],
            outcome,
          } as NotificationEventInput) as NotificationEvent,
          applicant,
          OPTS,
        ).subject,
    );
    expect(subjects).toEqual([
      '[TrustNet Local] Your request to join TrustNet Local was approved',
      '[TrustNet Local] Your request to join TrustNet Local was rejected',
      '[TrustNet Local] Your request to join TrustNet Local expired',
      '[TrustNet Local] Your request to join TrustNet Local was withdrawn',
    ]);
  });

  it('counts the hours left before a deadline from the event, not the clock', () => {
    const e = byKind('deadline.approaching');
    expect(renderEmail(e, { kind: 'member', memberId: 'bank-c', role: 'must-act' }, OPTS).subject).toContain(
      'Vote closing in 24 hours',
    );
  });

  it('without a public URL, has no buttons and relative routes', () => {
    const e = byKind('request.received');
    const r: Recipient = { kind: 'member', memberId: 'bank-a', role: 'must-act' };
    const card = renderCard(e, r, { consortium: 'TrustNet Local' });
    expect(card.actions).toBeUndefined();
    expectValidCard(card);
    const t = text(e, r, { consortium: 'TrustNet Local' });
    expect(t).not.toContain('--url');
    expect(t).toContain(`POST /api/membership-requests/${REQUEST}/votes`);
    expect(renderEmail(e, r, {}).subject).toBe(
      'TrustNet: Vote needed: O=Bank D, L=Madrid, C=ES asks to join',
    );
  });

  it('renders the same event the same way every time', () => {
    const e = byKind('proposal.opened');
    const r: Recipient = { kind: 'member', memberId: 'bank-a', role: 'must-act' };
    expect(renderCard(e, r, OPTS)).toEqual(renderCard(structuredClone(e), r, OPTS));
    expect(renderEmail(e, r, OPTS)).toEqual(renderEmail(structuredClone(e), r, OPTS));
  });

  it('wraps a card in the envelope a Teams Workflows webhook takes', () => {
    const card = renderCard(
      byKind('member.active'),
      { kind: 'member', memberId: 'bank-a', role: 'informed' },
      OPTS,
    );
    expect(teamsMessage(card)).toEqual({
      type: 'message',
      attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: card }],
    });
    expect(card.$schema).toBe('http://adaptivecards.io/schemas/adaptive-card.json');
    expect(card.version).toBe('1.5');
  });

  it('maps a registry applicant to the event field', () => {
    expect(
      applicantRef({
        id: 'bank-d',
        legalName: APPLICANT.legalName,
        contacts: { email: APPLICANT.email },
        azure: {
          tenantId: 't',
          subscriptionId: 's',
          resourceGroup: 'rg',
          region: 'spaincentral',
          addressSpace: '10.4.0.0/16',
        },
        profile: 'Medium',
      }),
    ).toEqual(APPLICANT);
  });
});
