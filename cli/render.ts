import { clean } from './errors';

/** Text views of the API's answers. Everything the server sends is cleaned of control characters. */

export interface Tally {
  approve: number;
  reject: number;
  eligible: number;
  required: number;
}

export interface BallotView {
  id: string;
  phase: string;
  tally?: Tally;
  deadline?: string;
  decidedAt?: string | null;
  outcome?: string | null;
  votes?: { voter: string; decision: string; reason?: string; at?: string }[];
  // Membership requests
  applicant?: {
    id?: string;
    legalName?: string;
    profile?: string;
    azure?: { region?: string; addressSpace?: string };
  };
  steps?: { name: string; state: string; error?: { code?: string; message?: string } }[];
  // Proposals
  action?: string;
  subject?: string;
  proposer?: string;
  reason?: string;
}

export interface MemberView {
  id: string;
  legalName?: string;
  status?: string;
  region?: string;
  keyThumbprint?: string;
}

/** Phases in which a ballot has ended for good without approval. */
export const FAILED_PHASES = new Set(['rejected', 'expired', 'withdrawn', 'failed']);

/** `2/3 approve, 0 reject, 2 required` */
export function tallyText(t: Tally | undefined): string {
  if (!t) return 'no tally';
  return `${clean(t.approve)}/${clean(t.eligible)} approve, ${clean(t.reject)} reject, ${clean(t.required)} required`;
}

function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(10)}${value}`;
}

export function statusLines(b: BallotView, kind: 'request' | 'proposal'): string[] {
  const lines: string[] = [];
  if (kind === 'request') {
    const a = b.applicant ?? {};
    const where = [a.profile, a.azure?.region, a.azure?.addressSpace].filter(Boolean).map(clean).join(', ');
    lines.push(
      `Membership request ${clean(b.id)}: ${clean(a.id ?? '?')} (${clean(a.legalName ?? '?')})${where ? `, ${where}` : ''}`,
    );
  } else {
    lines.push(
      `Proposal ${clean(b.id)}: ${clean(b.action ?? '?')} ${clean(b.subject ?? '?')}, proposed by ${clean(b.proposer ?? '?')}` +
        (b.reason ? ` (${clean(b.reason)})` : ''),
    );
  }
  lines.push(field('phase', clean(b.phase)), field('tally', tallyText(b.tally)));
  if (b.deadline) lines.push(field('deadline', clean(b.deadline)));
  if (b.decidedAt)
    lines.push(field('decided', `${clean(b.decidedAt)}${b.outcome ? ` (${clean(b.outcome)})` : ''}`));
  const votes = b.votes ?? [];
  if (!votes.length) lines.push(field('votes', 'none yet'));
  else {
    lines.push('votes:');
    const width = Math.max(...votes.map((v) => clean(v.voter).length));
    for (const v of votes)
      lines.push(
        `  ${clean(v.voter).padEnd(width)}  ${clean(v.decision).padEnd(7)}  ${clean(v.at ?? '')}  ${clean(v.reason ?? '')}`.trimEnd(),
      );
  }
  if (b.steps?.length) {
    lines.push('steps:');
    for (const s of b.steps)
      lines.push(
        `  ${clean(s.name)}: ${clean(s.state)}${s.error ? ` (${clean(s.error.code ?? '')} ${clean(s.error.message ?? '')})` : ''}`,
      );
  }
  return lines;
}

/** One line for `status --watch` when stdout is not a terminal. */
export function watchLine(b: BallotView): string {
  const steps = b.steps ?? [];
  if (b.phase === 'voting' || steps.length === 0) return `${clean(b.phase)}: ${tallyText(b.tally)}`;
  const done = steps.filter((s) => s.state === 'succeeded' || s.state === 'skipped').length;
  const now = steps
    .filter((s) => s.state === 'running' || s.state === 'failed')
    .map((s) => `${clean(s.name)} ${clean(s.state)}`);
  return `${clean(b.phase)}: ${done}/${steps.length} steps done${now.length ? `, ${now.join(', ')}` : ''}`;
}

/**
 * A request is still moving while it is voted on or provisioned; an approved one whose steps have all
 * settled (a dry run) or that failed has come to rest.
 */
export function stillMoving(b: BallotView, kind: 'request' | 'proposal'): boolean {
  if (b.phase === 'voting') return true;
  if (kind !== 'request') return false;
  if (b.phase === 'provisioning') return true;
  if (b.phase !== 'approved') return false;
  const steps = b.steps ?? [];
  return steps.length === 0 || steps.some((s) => s.state === 'pending' || s.state === 'running');
}

export function membersTable(members: MemberView[]): string[] {
  const header = ['ID', 'STATUS', 'LEGAL NAME', 'REGION', 'KEY THUMBPRINT'];
  const rows = members.map((m) =>
    [m.id, m.status, m.legalName, m.region, m.keyThumbprint].map((v) => clean(v ?? '')),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) =>
    r
      .map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** A JSON value as `path: value` lines, nested keys joined with dots: for views whose shape may grow. */
export function fieldLines(value: unknown, indent = ''): string[] {
  const rows: [string, string][] = [];
  const walk = (v: unknown, path: string) => {
    if (v === null || v === undefined) rows.push([path, 'none']);
    else if (Array.isArray(v)) {
      if (v.length === 0) rows.push([path, 'none']);
      else if (v.every((x) => x === null || typeof x !== 'object'))
        rows.push([path, v.map(clean).join(', ')]);
      else v.forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) rows.push([path, 'none']);
      for (const [k, x] of entries) walk(x, path ? `${path}.${clean(k)}` : clean(k));
    } else rows.push([path, clean(v)]);
  };
  walk(value, '');
  const width = Math.min(28, Math.max(0, ...rows.map(([k]) => k.length + 1)));
  return rows.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)} ${v}`.trimEnd());
}

export interface ChannelsView {
  email?: number | string[];
  teams?: { configured?: boolean; url?: string } | null;
  setByMember?: boolean;
  updatedAt?: string;
}

/** A member's notification channels; the Teams webhook only as the server masks it. */
export function channelsLines(memberId: string, c: ChannelsView | undefined): string[] {
  if (!c) return [`${clean(memberId)} has no channels set`];
  const email = Array.isArray(c.email)
    ? c.email.map(clean).join(', ') || 'none'
    : `${clean(c.email ?? 0)} address${c.email === 1 ? '' : 'es'}`;
  const teams = c.teams?.configured ? clean(c.teams.url ?? 'configured') : 'none';
  return [
    `Channels of ${clean(memberId)}${c.setByMember === false ? ' (from its application)' : ''}`,
    field('email', email),
    field('teams', teams),
    ...(c.updatedAt ? [field('updated', clean(c.updatedAt))] : []),
  ];
}

interface UsageView {
  vmHours?: number;
  monitoringHours?: number;
  monitoringCost?: number;
  cost?: number;
}

export interface CostView {
  memberId?: string;
  currency?: string;
  period?: { startMs?: number; endMs?: number; nowMs?: number };
  projection?: string;
  members?: number | CostView[];
  items?: CostView[];
  /** GET /api/cost lists each member's cost here. */
  perMember?: CostView[];
  toDate?: UsageView;
  projected?: UsageView;
  staticLarge?: { toDate?: UsageView; projected?: UsageView };
  savings?: { toDate?: number; projected?: number; toDatePercent?: number; projectedPercent?: number };
}

const num = (v: unknown, digits: number) =>
  typeof v === 'number' && Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '?';

/** A table of month-to-date and projected cost, per member then the total, against running Large always. */
export function costTable(body: CostView): string[] {
  const perMember = Array.isArray(body.perMember)
    ? body.perMember
    : Array.isArray(body.items)
      ? body.items
      : Array.isArray(body.members)
        ? body.members
        : [];
  const currency = clean(body.currency ?? perMember[0]?.currency ?? '');
  const iso = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : '?');
  const p = body.period ?? {};
  const title =
    (typeof p.startMs === 'number' && typeof p.nowMs === 'number' && typeof p.endMs === 'number'
      ? `Cost ${iso(p.startMs).slice(0, 10)} to ${iso(p.nowMs).replace(/:\d\d\.\d{3}Z$/, 'Z')}` +
        `, projected to ${iso(p.endMs).slice(0, 10)}`
      : 'Cost this month') +
    (currency ? `, in ${currency}` : '') +
    (body.projection ? ` (projection: ${clean(body.projection)})` : '');
  const header = ['MEMBER', 'VM-HOURS', 'MONITORING', 'TO DATE', 'PROJECTED', 'STATIC LARGE', 'SAVED'];
  const row = (name: string, c: CostView) => [
    name,
    num(c.toDate?.vmHours, 1),
    num(c.toDate?.monitoringCost, 2),
    num(c.toDate?.cost, 2),
    num(c.projected?.cost, 2),
    num(c.staticLarge?.projected?.cost, 2),
    `${num(c.savings?.projected, 2)} (${num(c.savings?.projectedPercent, 0)}%)`,
  ];
  const rows = [
    ...perMember.map((m) => row(clean(m.memberId ?? '?'), m)),
    row(body.memberId !== undefined ? clean(body.memberId) : 'TOTAL', body),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Names left, figures right, as a spreadsheet shows them.
  const line = (r: string[]) =>
    r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [title, line(header), ...rows.map(line)];
}
