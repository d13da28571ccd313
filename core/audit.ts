/**
 * The consortium's audit log: an append-only list of entries, each bound to the one before it by a SHA-256
 * hash chain, and each carrying the signed request, vote or proposal that caused it where there is one.
 * Anyone holding a copy of the log can check it with `verifyChain`, without trusting the service: the
 * members' keys come from the log itself (founders seeded from the consortium config, later members
 * admitted by vote, keys replaced by rotation or proposal), so the check replays the log from entry 0.
 */
import { createHash } from 'node:crypto';
import {
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  type CompactJWSHeaderParameters,
  type JWK,
} from 'jose';

export type AuditKind =
  /** A founder from the consortium config; data: { memberId, legalName, governanceKey: JWK }. */
  | 'member.seeded'
  /** jws: the applicant's signed request (`jwk` header); data: { requestId, applicantId, keyThumbprint }. */
  | 'request.received'
  /** jws: the member's signed vote (`kid` = member id); data: { subjectId, voter, decision }. */
  | 'vote.accepted'
  /** jws signed by the applicant (`jwk` header); data: { requestId }. */
  | 'request.withdrawn'
  /** No jws; data: { requestId, outcome: 'approved' | 'rejected' | 'expired' | 'withdrawn', tally }. */
  | 'request.decided'
  /** No jws; data: { memberId, legalName, governanceKey: JWK, requestId }. */
  | 'member.admitted'
  /** jws by a member (`kid`); data: { proposalId, action, subject }. */
  | 'proposal.opened'
  /** No jws; data: { proposalId, outcome, tally }. */
  | 'proposal.decided'
  /** No jws; data: { memberId, from, to, cause }. */
  | 'member.status-changed'
  /** jws by the member's current key (`kid`) for a rotation, none when by proposal; data: { memberId, newKey: JWK, cause }. */
  | 'member.key-replaced'
  /**
   * No jws (the signed request names a webhook URL, a secret); data: { memberId, email: number of
   * addresses, teams: boolean, requestHash: SHA-256 of the member's JWS, base64url }.
   */
  | 'member.channels-set'
  /**
   * No jws; the consortium CA signed a node CA certificate. data: { requestId, memberId, serial, subject,
   * issuer, thumbprint, notAfter, decisionSeq } — decisionSeq is the `request.decided` entry (outcome
   * approved) it was issued against; verification refuses a certificate without one. A founder has no
   * request: its certificate has no requestId, and decisionSeq is the founder's `member.seeded` entry.
   */
  | 'certificate.issued'
  /** No jws; data: { memberId, serial, reason }. The CRL at GET /api/crl lists it. */
  | 'certificate.revoked'
  /** No jws; onboarding stopped. data: { requestId, step, code, azureCode?, message }. */
  | 'provisioning.failed'
  /** No jws; what was built for a bank was deleted. data: { memberId, requestId?, reason, deleted }. */
  | 'provisioning.torn-down'
  /** jws by a member (`kid`): it asks a failed onboarding to resume or to be abandoned; data: { requestId, action }. */
  | 'provisioning.decision'
  /** jws by the member (`kid`): its scaling policy; data: { memberId, policy }. */
  | 'member.scaling-set'
  /** jws by the member (`kid`): a manual profile override; data: { memberId, profile, expiresAt }. */
  | 'member.profile-set'
  /** No jws; the scaling orchestration changed a scale set. data: { memberId, from, to, reason, source }. */
  | 'member.scaled';

export const AUDIT_KINDS: readonly AuditKind[] = [
  'member.seeded',
  'request.received',
  'vote.accepted',
  'request.withdrawn',
  'request.decided',
  'member.admitted',
  'proposal.opened',
  'proposal.decided',
  'member.status-changed',
  'member.key-replaced',
  'member.channels-set',
  'certificate.issued',
  'certificate.revoked',
  'provisioning.failed',
  'provisioning.torn-down',
  'provisioning.decision',
  'member.scaling-set',
  'member.profile-set',
  'member.scaled',
];

export interface AuditEntry {
  seq: number;
  /** ISO 8601 time the entry was appended. */
  at: string;
  kind: AuditKind;
  /** What the entry is about: a request, proposal or member id. */
  subject: string;
  /** Who caused it: a member id, the applicant id, or the system. */
  actor: string;
  /** Compact JWS that authorises the entry, for the kinds that have one. */
  jws?: string;
  data: Record<string, unknown>;
  /** Hash of the entry before this one; GENESIS for seq 0. */
  prev: string;
  /** sha256 hex of canonicalJson(entry without hash). */
  hash: string;
}

/** An entry before it is placed in the chain. */
export interface AuditDraft {
  at: string;
  kind: AuditKind;
  subject: string;
  actor: string;
  jws?: string;
  data: Record<string, unknown>;
}

export const GENESIS = '0'.repeat(64);

/**
 * JSON with object keys sorted (by UTF-16 code unit, recursively) and no whitespace, so equal values give
 * equal text. As in JSON.stringify: undefined, function and symbol members are dropped (null in arrays),
 * toJSON is honoured, non-finite numbers become null; a cycle or a bigint throws a TypeError.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set()) ?? 'null';
}

function write(value: unknown, path: Set<object>): string | undefined {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (path.has(value)) throw new TypeError('canonicalJson: the value contains a cycle');
  path.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((item) => write(item, path) ?? 'null').join(',')}]`;
    const members: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const text = write((value as Record<string, unknown>)[key], path);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    path.delete(value);
  }
}

export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  // A full entry may be passed at run time; its own hash is never part of what is hashed.
  const { hash: _hash, ...body } = entry as Partial<AuditEntry>;
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

/** Places a draft after `previous` (or first, when there is none) and computes its hash. */
export function seal(draft: AuditDraft, previous: Pick<AuditEntry, 'seq' | 'hash'> | undefined): AuditEntry {
  const body: Omit<AuditEntry, 'hash'> = {
    seq: previous ? previous.seq + 1 : 0,
    at: draft.at,
    kind: draft.kind,
    subject: draft.subject,
    actor: draft.actor,
    ...(draft.jws !== undefined ? { jws: draft.jws } : {}),
    // Stored as it will read back from JSON, so a reloaded entry is equal to the sealed one.
    data: JSON.parse(canonicalJson(draft.data)) as Record<string, unknown>,
    prev: previous ? previous.hash : GENESIS,
  };
  return { ...body, hash: entryHash(body) };
}

export interface Verification {
  ok: boolean;
  /** Entries checked, the broken one included. */
  entries: number;
  firstBroken?: { seq: number; reason: string };
}

const ALGORITHMS = ['ES256', 'EdDSA'];
/** Kinds whose JWS is by a member, named by `kid`, and checked with the key the chain gives that member. */
const MEMBER_SIGNED = new Set<AuditKind>([
  'vote.accepted',
  'proposal.opened',
  'member.key-replaced',
  'provisioning.decision',
  'member.scaling-set',
  'member.profile-set',
]);
/** Kinds whose JWS is by an applicant, who is not a member yet and carries the key in a `jwk` header. */
const APPLICANT_SIGNED = new Set<AuditKind>(['request.received', 'request.withdrawn']);
/** Kinds that are only valid with a JWS (a key replacement may also come from a decided proposal). */
const JWS_REQUIRED = new Set<AuditKind>([
  'request.received',
  'vote.accepted',
  'request.withdrawn',
  'proposal.opened',
  'provisioning.decision',
  'member.scaling-set',
  'member.profile-set',
]);

/** What replaying the chain so far says: each member's current key, and the key behind each request. */
interface ChainState {
  members: Map<string, JWK>;
  requestKeys: Map<string, string>;
  /** Request id → seq of its `request.decided` entry with outcome approved. */
  approvals: Map<string, number>;
  /** Founder id → seq of its `member.seeded` entry (what a founder's certificate is issued against). */
  seeded: Map<string, number>;
}

/**
 * Checks, entry by entry: seq runs 0, 1, 2…; prev is the previous entry's hash (GENESIS for seq 0); the
 * hash recomputes; the JWS, if any, verifies (ES256 or EdDSA) with the right key and names the same subject
 * and actor as the entry. Stops at the first entry that fails, whose seq is the position where the chain
 * breaks (the entries before it verify).
 */
export async function verifyChain(entries: AuditEntry[]): Promise<Verification> {
  const state: ChainState = {
    members: new Map(),
    requestKeys: new Map(),
    approvals: new Map(),
    seeded: new Map(),
  };
  let previous: AuditEntry | undefined;
  for (const [index, entry] of entries.entries()) {
    const reason = await check(entry, index, previous, state);
    if (reason !== undefined) return { ok: false, entries: index + 1, firstBroken: { seq: index, reason } };
    previous = entry;
  }
  return { ok: true, entries: entries.length };
}

async function check(
  entry: AuditEntry,
  index: number,
  previous: AuditEntry | undefined,
  state: ChainState,
): Promise<string | undefined> {
  if (entry === null || typeof entry !== 'object') return 'entry is not an object';
  if (entry.seq !== index) {
    return `found seq ${String(entry.seq)} where seq ${index} was expected: an entry is missing or out of order`;
  }
  if (previous === undefined ? entry.prev !== GENESIS : entry.prev !== previous.hash) {
    return previous === undefined
      ? 'prev of entry 0 is not the genesis value'
      : `prev does not match entry ${previous.seq}`;
  }
  if (typeof entry.hash !== 'string' || entryHash(entry) !== entry.hash)
    return 'hash mismatch: entry was altered';
  if (!AUDIT_KINDS.includes(entry.kind)) return `unknown kind ${String(entry.kind)}`;
  if (entry.data === null || typeof entry.data !== 'object' || Array.isArray(entry.data)) {
    return 'data is not an object';
  }
  if (entry.jws !== undefined) {
    const reason = await checkSignature(entry, state);
    if (reason !== undefined) return reason;
  } else if (JWS_REQUIRED.has(entry.kind)) {
    return `${entry.kind} entry has no jws`;
  }
  return apply(entry, state);
}

/** Carries the entry's effect on members' keys and requests into the state. */
function apply(entry: AuditEntry, state: ChainState): string | undefined {
  const { data } = entry;
  switch (entry.kind) {
    case 'member.seeded':
    case 'member.admitted':
    case 'member.key-replaced': {
      const field = entry.kind === 'member.key-replaced' ? 'newKey' : 'governanceKey';
      const memberId = data['memberId'];
      const key = data[field];
      if (typeof memberId !== 'string' || memberId === '') return `${entry.kind} data has no memberId`;
      if (!isJwk(key)) return `${entry.kind} data.${field} is not a JWK`;
      if (entry.kind === 'member.key-replaced' && !state.members.has(memberId)) {
        return `member ${memberId} is not a member at this point`;
      }
      state.members.set(memberId, key);
      if (entry.kind === 'member.seeded') state.seeded.set(memberId, entry.seq);
      return undefined;
    }
    case 'request.received': {
      const requestId = data['requestId'];
      const thumbprint = data['keyThumbprint'];
      if (typeof requestId === 'string' && typeof thumbprint === 'string') {
        state.requestKeys.set(requestId, thumbprint);
      }
      return undefined;
    }
    case 'request.decided': {
      if (data['outcome'] === 'approved' && typeof data['requestId'] === 'string')
        state.approvals.set(data['requestId'], entry.seq);
      return undefined;
    }
    case 'certificate.issued': {
      // Every certificate the consortium CA signs maps to the approval that allowed it, or for a
      // founder (no request) to the founder's seed entry.
      const requestId = data['requestId'];
      if (requestId === undefined) {
        const memberId = data['memberId'];
        const seed = typeof memberId === 'string' ? state.seeded.get(memberId) : undefined;
        if (seed === undefined)
          return `certificate ${String(data['serial'])} was issued without an approved decision or a founder's seed entry for ${String(memberId)}`;
        if (data['decisionSeq'] !== seed)
          return `certificate ${String(data['serial'])} names decision ${String(data['decisionSeq'])}, but founder ${String(memberId)} was seeded at entry ${seed}`;
        return undefined;
      }
      const decision = typeof requestId === 'string' ? state.approvals.get(requestId) : undefined;
      if (decision === undefined)
        return `certificate ${String(data['serial'])} was issued without an approved decision on request ${String(requestId)}`;
      if (data['decisionSeq'] !== decision)
        return `certificate ${String(data['serial'])} names decision ${String(data['decisionSeq'])}, but request ${String(requestId)} was approved at entry ${decision}`;
      return undefined;
    }
    default:
      return undefined;
  }
}

async function checkSignature(entry: AuditEntry, state: ChainState): Promise<string | undefined> {
  const jws = entry.jws as string;
  if (typeof jws !== 'string' || jws.split('.').length !== 3) return 'jws is not a compact JWS';
  let header: CompactJWSHeaderParameters;
  try {
    header = decodeProtectedHeader(jws) as CompactJWSHeaderParameters;
  } catch {
    return 'jws is not a compact JWS';
  }
  if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
    return `jws algorithm ${String(header.alg)} is not allowed (ES256 or EdDSA only)`;
  }
  const byMember = MEMBER_SIGNED.has(entry.kind)
    ? true
    : APPLICANT_SIGNED.has(entry.kind)
      ? false
      : header.jwk === undefined && header.kid !== undefined;

  let key: JWK;
  let keyName: string;
  let kid: string | undefined;
  if (byMember) {
    if (typeof header.kid !== 'string' || header.kid === '') {
      return `${entry.kind} jws must name the signing member in a kid header`;
    }
    kid = header.kid;
    const memberKey = state.members.get(kid);
    if (memberKey === undefined) return `kid ${kid} is not a member at this point`;
    key = publicPart(memberKey);
    keyName = `${kid}'s key`;
  } else {
    if (!isJwk(header.jwk)) return `${entry.kind} jws must carry the signer's public key in a jwk header`;
    if ('d' in header.jwk) return 'jwk header carries a private key';
    key = header.jwk;
    keyName = 'the key in its jwk header';
  }

  let payloadBytes: Uint8Array;
  try {
    const imported = await importJWK(key, header.alg);
    ({ payload: payloadBytes } = await compactVerify(jws, imported, { algorithms: ALGORITHMS }));
  } catch {
    return `signature does not verify with ${keyName}`;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes));
  } catch {
    return 'jws payload is not JSON';
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return 'jws payload is not a JSON object';
  }
  return checkBinding(entry, payload as Record<string, unknown>, key, kid, state);
}

/**
 * The signed payload must be about the same thing, by the same actor, as the entry that records it. Payload
 * shapes (schemas/): a membership request names `requestId` and `applicant.id`; a vote `requestId` (or
 * `proposalId`), `voter` and `decision`; a signed action (withdraw, proposal, rotate-key) `action`,
 * `subject`, `actor` and for keys `newKey`.
 */
async function checkBinding(
  entry: AuditEntry,
  payload: Record<string, unknown>,
  key: JWK,
  kid: string | undefined,
  state: ChainState,
): Promise<string | undefined> {
  const { data } = entry;
  if (kid !== undefined && kid !== entry.actor) return `kid ${kid} does not match actor ${entry.actor}`;
  for (const field of ['actor', 'voter']) {
    const value = payload[field];
    // An applicant is not a member yet, so its entries may name it as `applicant:<id>`.
    const matches =
      same(value, entry.actor) ||
      (kid === undefined && typeof value === 'string' && entry.actor === `applicant:${value}`);
    if (value !== undefined && !matches)
      return `jws payload ${field} ${show(value)} does not match actor ${entry.actor}`;
  }
  const mismatch = (
    payloadField: string,
    dataField: string,
    required: boolean,
    value = payload[payloadField],
  ) => {
    if (value === undefined) return required ? `jws payload has no ${payloadField}` : undefined;
    return same(value, data[dataField])
      ? undefined
      : `jws payload ${payloadField} ${show(value)} does not match data.${dataField} ${show(data[dataField])}`;
  };
  const action = (wanted: string) =>
    payload['action'] === undefined || payload['action'] === wanted
      ? undefined
      : `jws payload action ${show(payload['action'])} is not ${wanted}`;

  switch (entry.kind) {
    case 'request.received': {
      const thumbprint = await calculateJwkThumbprint(key, 'sha256');
      if (thumbprint !== data['keyThumbprint']) {
        return `key thumbprint ${thumbprint} does not match data.keyThumbprint ${show(data['keyThumbprint'])}`;
      }
      const applicant = payload['applicant'];
      const applicantId =
        payload['applicantId'] ??
        (applicant !== null && typeof applicant === 'object'
          ? (applicant as { id?: unknown }).id
          : undefined);
      return (
        mismatch('requestId', 'requestId', true) ?? mismatch('applicantId', 'applicantId', false, applicantId)
      );
    }
    case 'request.withdrawn': {
      const requestId = data['requestId'];
      const requestKey = typeof requestId === 'string' ? state.requestKeys.get(requestId) : undefined;
      if (requestKey === undefined) return `request ${show(requestId)} was not received earlier in the chain`;
      if ((await calculateJwkThumbprint(key, 'sha256')) !== requestKey) {
        return `withdrawal is not signed by the key that submitted request ${show(requestId)}`;
      }
      // A withdrawal is a signed action whose subject is the request, or names it as requestId.
      const field =
        payload['requestId'] === undefined && payload['subject'] !== undefined ? 'subject' : 'requestId';
      return action('withdraw') ?? mismatch(field, 'requestId', true);
    }
    case 'vote.accepted': {
      if (data['voter'] !== kid) return `kid ${String(kid)} does not match data.voter ${show(data['voter'])}`;
      // A vote names what it is on: a membership request, or a governance proposal.
      const field =
        payload['requestId'] === undefined && payload['proposalId'] !== undefined
          ? 'proposalId'
          : 'requestId';
      return mismatch(field, 'subjectId', true) ?? mismatch('decision', 'decision', false);
    }
    case 'provisioning.decision':
      return mismatch('subject', 'requestId', true) ?? mismatch('action', 'action', true);
    case 'member.scaling-set':
      return (
        action('set-scaling') ?? mismatch('subject', 'memberId', true) ?? mismatch('policy', 'policy', true)
      );
    case 'member.profile-set':
      return (
        action('set-profile') ??
        mismatch('subject', 'memberId', true) ??
        mismatch('profile', 'profile', true) ??
        mismatch('expiresAt', 'expiresAt', true)
      );
    case 'proposal.opened':
      return (
        mismatch('subject', 'subject', true) ??
        mismatch('proposalId', 'proposalId', false) ??
        mismatch('action', 'action', false)
      );
    case 'member.key-replaced': {
      if (data['memberId'] !== kid) {
        return `kid ${String(kid)} does not match data.memberId ${show(data['memberId'])}`;
      }
      const named =
        action('rotate-key') ??
        mismatch('memberId', 'memberId', false) ??
        mismatch('subject', 'memberId', false);
      if (named !== undefined) return named;
      // The rotation must be signed for this new key, or an old signature could install any key.
      const newKey = data['newKey'];
      if (!isJwk(newKey)) return 'member.key-replaced data.newKey is not a JWK';
      const wanted = await calculateJwkThumbprint(publicPart(newKey), 'sha256');
      let signed: string | undefined;
      if (isJwk(payload['newKey']))
        signed = await calculateJwkThumbprint(publicPart(payload['newKey']), 'sha256');
      else if (typeof payload['newKeyThumbprint'] === 'string') signed = payload['newKeyThumbprint'];
      if (signed === undefined) return 'jws payload has no newKey';
      return signed === wanted ? undefined : 'jws payload newKey does not match data.newKey';
    }
    default:
      return undefined;
  }
}

function isJwk(value: unknown): value is JWK {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    typeof (value as { kty?: unknown }).kty === 'string'
  );
}

function publicPart(jwk: JWK): JWK {
  const { d: _d, ...rest } = jwk;
  return rest;
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : canonicalJson(value);
}
