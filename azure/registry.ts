import { randomUUID } from 'node:crypto';
import { FreshReads, GroupCommit } from '../runtime/coalesce';
import { inChunks, inParallel } from '../runtime/parallel';
import { RecentMap } from '../runtime/recent';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { submitTransaction, writesOwnTransactions, type TableAction } from './table-transaction';
import type { JWK } from 'jose';
import type { Claim, Member, MemberStatus, MembershipRequest, Proposal, Vote } from '../core/membership';
import {
  decodeToken,
  encodeToken,
  packJson,
  statusOf,
  table,
  unpackJson,
  wrapStorage,
  type Row,
} from './tables';

/**
 * The registry in Table storage: members, membership requests, proposals, votes and the reservations
 * that keep member ids, legal names and applicant keys unique under concurrent requests. Records are
 * JSON in a `Body` property; status fields that lists filter on are kept beside it.
 */

export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface Page<T> {
  items: T[];
  continuation: string | null;
}

const MAX_CAS_ATTEMPTS = 8;
/**
 * Guard rows in each ballot's vote partition (see Registry.openVoting). Their keys start with '~', which
 * no member id does and which sorts after every one, so `VOTE_ROWS` leaves them out of vote queries.
 */
const OPENED_ROW = '~opened';
const OPEN_ROW = '~open';
/** Legacy claims' owners read, and rows moved, at once at start-up (Registry.moveLegacyClaims). */
const LEGACY_PARALLEL = 8;
/** Ballots whose guard-row ETag a registry keeps (see Registry.#guardTags). */
const MAX_GUARD_TAGS = 1024;
const VOTE_ROWS = `RowKey lt '~'`;

/** What writing a vote came to: written, refused as a second vote by its voter, or refused as too late. */
export type VoteWrite = 'created' | 'duplicate' | 'closed';
/** RowKey comparisons per query, with the PartitionKey one under Table storage's limit of 15. */
const MEMBERS_PER_QUERY = 14;

/**
 * A request's claims (its applicant's id, legal name and key) are rows beside the request records, in
 * their partition, so a request and its claims are created in one transaction, and a decision that frees
 * them frees them in the transaction that records it. Their keys start with '~claim:', which no request
 * id does and which sorts after every one, so `REQUEST_ROWS` leaves them out of request queries. Claims
 * were once rows of a Reservations table; Registry.moveLegacyClaims moves them here.
 */
const REQUEST_PK = 'request';
const REQUEST_ROWS = `RowKey lt '~'`;

/**
 * A claim's row key: its kind, then its value as base64url (names and keys may hold characters row keys
 * may not), as `<kind>:<value>` after the prefix.
 */
function claimRow([kind, value]: Claim): string {
  return claimRowOf(`${kind}:${Buffer.from(value).toString('base64url')}`);
}

function claimRowOf(kindAndValue: string): string {
  return `~claim:${kindAndValue}`;
}

/** A string literal inside an OData filter. */
function quote(value: string): string {
  return value.replace(/'/g, "''");
}

async function getRow(client: TableClient, pk: string, rk: string): Promise<Row | undefined> {
  try {
    return (await client.getEntity<Record<string, unknown>>(pk, rk)) as Row;
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    wrapStorage(`read ${client.tableName}/${rk}`, e);
  }
}

async function listPage<T>(
  client: TableClient,
  pk: string,
  map: (row: Row) => T,
  options: { continuation?: string | null; limit?: number; filter?: string },
): Promise<Page<T>> {
  const filter = [`PartitionKey eq '${pk}'`, options.filter].filter(Boolean).join(' and ');
  try {
    const pages = client.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({
      maxPageSize: Math.min(options.limit ?? 100, 1000),
      continuationToken: decodeToken(options.continuation),
    });
    const page = await pages.next();
    if (page.done) return { items: [], continuation: null };
    return { items: (page.value as Row[]).map(map), continuation: encodeToken(page.value.continuationToken) };
  } catch (e) {
    if (e instanceof RangeError) throw e;
    wrapStorage(`list ${client.tableName}`, e);
  }
}

async function listAll<T>(
  client: TableClient,
  pk: string,
  map: (row: Row) => T,
  filter?: string,
): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const row of client.listEntities<Record<string, unknown>>({
      queryOptions: { filter: [`PartitionKey eq '${pk}'`, filter].filter(Boolean).join(' and ') },
    })) {
      out.push(map(row as Row));
    }
  } catch (e) {
    wrapStorage(`list ${client.tableName}`, e);
  }
  return out;
}

function body<T>(row: Row): T {
  return unpackJson<T>(row, 'Body')!;
}

/** A record as read, with the ETag of the row it was read from. */
export interface Tagged<T> {
  value: T;
  etag: string;
}

async function getTagged<T>(client: TableClient, pk: string, rk: string): Promise<Tagged<T> | undefined> {
  const row = await getRow(client, pk, rk);
  return row ? { value: body<T>(row), etag: String(row.etag) } : undefined;
}

/**
 * Reads a record, applies `change`, writes it back if the ETag still matches; retries on a lost race.
 * `known` (the record as the caller read it) is tried first, saving a read when nothing changed since.
 */
async function update<T extends object>(
  client: TableClient,
  pk: string,
  rk: string,
  change: (current: T) => T | undefined,
  extra: (next: T) => Record<string, unknown>,
  known?: Tagged<T>,
  /**
   * Rows of the same partition to delete in the transaction that writes the change (`deletes`); if one of
   * them is gone, the change is written alone and then `missing` runs.
   */
  also?: { deletes: (next: T) => string[]; missing: (next: T) => Promise<void> },
): Promise<T | undefined> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const row = attempt === 0 && known ? known : await getTagged<T>(client, pk, rk);
    if (!row) return undefined;
    const next = change(row.value);
    if (!next) return row.value;
    const entity = { partitionKey: pk, rowKey: rk, ...packJson('Body', next), ...extra(next) };
    const deletes = also?.deletes(next) ?? [];
    try {
      if (deletes.length) {
        try {
          await submitTransaction(client, [
            ['update', entity, 'Replace', { etag: row.etag }],
            ...deletes.map((d): TransactionAction => ['delete', { partitionKey: pk, rowKey: d }]),
          ]);
          return next;
        } catch (e) {
          // A deleted row is missing, or the record changed: the record alone tells which.
          if (statusOf(e) !== 404 && statusOf(e) !== 412) throw e;
        }
      }
      await client.updateEntity(entity, 'Replace', { etag: row.etag });
    } catch (e) {
      if (statusOf(e) !== 412) wrapStorage(`update ${client.tableName}/${rk}`, e);
      continue;
    }
    if (deletes.length) await also!.missing(next);
    return next;
  }
  throw new ConflictError(`${client.tableName}/${rk} kept changing under concurrent updates.`);
}

export class Registry {
  private constructor(
    private readonly members: TableClient,
    private readonly requests: TableClient,
    private readonly proposals: TableClient,
    private readonly votes: TableClient,
    private readonly reservations: TableClient,
  ) {}

  static async open(env: NodeJS.ProcessEnv = process.env): Promise<Registry> {
    const [m, r, p, v, x] = await Promise.all(
      ['Members', 'Requests', 'Proposals', 'Votes', 'Reservations'].map((s) => table(s, env)),
    );
    return new Registry(m!, r!, p!, v!, x!);
  }

  // ----- members -----

  async getMember(id: string): Promise<Member | undefined> {
    const row = await getRow(this.members, 'member', id);
    return row ? body<Member>(row) : undefined;
  }

  /**
   * Several members in one round trip per 14 ids (Table storage allows 15 comparisons in a filter):
   * a strongly consistent read, like getMember, for the vote door's batched voter look-ups. Table storage
   * runs "or" on row keys as a scan of the partition: here the members' one, which holds a consortium (a
   * full VPN mesh keeps that to about a hundred banks), so one scan costs less than a point read per voter.
   */
  async getMembers(ids: string[]): Promise<Map<string, Member>> {
    const out = new Map<string, Member>();
    if (ids.length === 1) {
      // A point read costs the service less than a query.
      const m = await this.getMember(ids[0]!);
      if (m) out.set(m.id, m);
      return out;
    }
    const chunks = inChunks(ids, MEMBERS_PER_QUERY);
    const found = await Promise.all(
      chunks.map((chunk) =>
        listAll(
          this.members,
          'member',
          (r) => body<Member>(r),
          `(${chunk.map((id) => `RowKey eq '${quote(id)}'`).join(' or ')})`,
        ),
      ),
    );
    for (const m of found.flat()) out.set(m.id, m);
    return out;
  }

  /** Id and status of members written at or after `since` (storage time), without their bodies. */
  async memberStatusesSince(
    since?: Date,
  ): Promise<{ id: string; status: MemberStatus; timestamp: string }[]> {
    const out: { id: string; status: MemberStatus; timestamp: string }[] = [];
    const filter = [`PartitionKey eq 'member'`, since ? `Timestamp ge datetime'${since.toISOString()}'` : '']
      .filter(Boolean)
      .join(' and ');
    try {
      for await (const row of this.members.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['RowKey', 'Status', 'Timestamp'] },
      })) {
        out.push({
          id: String(row.rowKey),
          status: row['Status'] as MemberStatus,
          timestamp: String(row['timestamp'] ?? row['Timestamp'] ?? ''),
        });
      }
    } catch (e) {
      wrapStorage(`list ${this.members.tableName}`, e);
    }
    return out;
  }

  listMembers(options: { continuation?: string | null; limit?: number } = {}): Promise<Page<Member>> {
    return listPage(this.members, 'member', (r) => body<Member>(r), options);
  }

  /**
   * Every member, read after the call. Callers at the same time share a read (FreshReads): when many
   * ballots count at once (a burst of decisions, or every open ballot re-counting after a suspension),
   * they cost a read or two of the consortium, not one each. Each caller gets its own array.
   */
  allMembers(): Promise<Member[]> {
    return this.#everyMember.get('all').then((members) => [...members]);
  }

  readonly #everyMember = new FreshReads<'all', Member[]>(() =>
    listAll(this.members, 'member', (r) => body<Member>(r)),
  );

  /** Creates the member unless it exists (founders are seeded at every start). Returns true if created. */
  async addMember(member: Member): Promise<boolean> {
    try {
      await this.members.createEntity({
        partitionKey: 'member',
        rowKey: member.id,
        Status: member.status,
        ...packJson('Body', member),
      });
      return true;
    } catch (e) {
      if (statusOf(e) === 409) return false;
      wrapStorage(`create member ${member.id}`, e);
    }
  }

  setMemberStatus(id: string, from: MemberStatus[], to: MemberStatus): Promise<Member | undefined> {
    return update<Member>(
      this.members,
      'member',
      id,
      (m) => (from.includes(m.status) ? { ...m, status: to } : undefined),
      (m) => ({ Status: m.status }),
    );
  }

  /** Applies `change` to the member with ETag compare-and-swap (undefined from `change`: no write). */
  updateMember(id: string, change: (m: Member) => Member | undefined): Promise<Member | undefined> {
    return update<Member>(this.members, 'member', id, change, (m) => ({ Status: m.status }));
  }

  replaceMemberKey(
    id: string,
    key: JWK,
    thumbprint: string,
    expectedThumbprint?: string,
  ): Promise<Member | undefined> {
    return update<Member>(
      this.members,
      'member',
      id,
      (m) => {
        if (expectedThumbprint && m.keyThumbprint !== expectedThumbprint)
          throw new ConflictError(`${id}'s key changed meanwhile.`);
        return { ...m, governanceKey: key, keyThumbprint: thumbprint };
      },
      (m) => ({ Status: m.status }),
    );
  }

  // ----- membership requests and proposals -----

  /**
   * Creates the request and its claims, all or none, in one transaction. When a request with the same id
   * exists, returns it instead (`created` false). When another request holds one of the claims, nothing is
   * created and `taken` names the first such claim in the order given. The request's own claims from an
   * earlier call count as its own.
   */
  async createRequest(
    request: MembershipRequest,
    claims: Claim[] = [],
  ): Promise<{ created: boolean; request: MembershipRequest; taken?: Claim[0] }> {
    const row = {
      partitionKey: REQUEST_PK,
      rowKey: request.id,
      Phase: request.phase,
      ...packJson('Body', request),
    };
    let missing = claims;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      try {
        if (!missing.length) await this.requests.createEntity(row);
        else
          await submitTransaction(this.requests, [
            ['create', row],
            ...missing.map((c): TransactionAction => [
              'create',
              { partitionKey: REQUEST_PK, rowKey: claimRow(c), Owner: request.id },
            ]),
          ]);
        // Only the call that created it opens voting (once: see openVoting). A vote that comes first finds
        // no guard, reads the phase and opens it itself (functions/edge/vote.ts).
        if (request.phase === 'voting') await this.#openCreated(request);
        return { created: true, request };
      } catch (e) {
        if (statusOf(e) !== 409) wrapStorage(`create request ${request.id}`, e);
      }
      // Refused: the request exists, or a claim does. Reading both at once finds out which.
      const [existing, held] = await Promise.all([
        getRow(this.requests, REQUEST_PK, request.id),
        this.#claimRows(claims),
      ]);
      if (existing) return { created: false, request: body<MembershipRequest>(existing) };
      const taken = claims.find((_, i) => held[i] && held[i]['Owner'] !== request.id);
      if (taken) return { created: false, request, taken: taken[0] };
      missing = claims.filter((_, i) => !held[i]);
    }
    throw new ConflictError(`Request ${request.id} is being created by another call.`);
  }

  async getRequest(id: string): Promise<MembershipRequest | undefined> {
    return (await this.getTaggedRequest(id))?.value;
  }

  /** The request with its row's ETag, for an update that should not read it again (updateRequest). */
  async getTaggedRequest(id: string): Promise<Tagged<MembershipRequest> | undefined> {
    // A claim's row is no request.
    if (id.startsWith('~')) return undefined;
    return getTagged<MembershipRequest>(this.requests, REQUEST_PK, id);
  }

  listRequests(
    options: { phase?: string; continuation?: string | null; limit?: number } = {},
  ): Promise<Page<MembershipRequest>> {
    return listPage(this.requests, REQUEST_PK, (r) => body<MembershipRequest>(r), {
      ...options,
      filter: [REQUEST_ROWS, options.phase ? `Phase eq '${options.phase}'` : undefined]
        .filter(Boolean)
        .join(' and '),
    });
  }

  /** Requests that still hold a name, id or address space: voting, approved or being provisioned. */
  openRequests(): Promise<MembershipRequest[]> {
    return listAll(
      this.requests,
      REQUEST_PK,
      (r) => body<MembershipRequest>(r),
      `${REQUEST_ROWS} and (Phase eq 'voting' or Phase eq 'approved' or Phase eq 'provisioning')`,
    );
  }

  /**
   * Changes the request (see update). `freeing` names the claims the changed request lets go of: they are
   * deleted in the transaction that writes it. A request's claims are its own from its creation until a
   * change frees them, so they are deleted whatever their ETag; if one is missing already, the request is
   * written alone and the claims it still holds are freed after (release).
   */
  updateRequest(
    id: string,
    change: (r: MembershipRequest) => MembershipRequest | undefined,
    known?: Tagged<MembershipRequest>,
    freeing?: (next: MembershipRequest) => Claim[],
  ): Promise<MembershipRequest | undefined> {
    return update<MembershipRequest>(
      this.requests,
      REQUEST_PK,
      id,
      change,
      (r) => ({ Phase: r.phase }),
      known,
      freeing && {
        deletes: (r) => freeing(r).map(claimRow),
        missing: (r) => this.release(freeing(r), id),
      },
    );
  }

  async createProposal(proposal: Proposal): Promise<{ created: boolean; proposal: Proposal }> {
    try {
      await this.proposals.createEntity({
        partitionKey: 'proposal',
        rowKey: proposal.id,
        Phase: proposal.phase,
        Subject: proposal.subject,
        ...packJson('Body', proposal),
      });
      if (proposal.phase === 'voting') await this.#openCreated(proposal);
      return { created: true, proposal };
    } catch (e) {
      if (statusOf(e) !== 409) wrapStorage(`create proposal ${proposal.id}`, e);
      const existing = await this.getProposal(proposal.id);
      if (!existing) throw new ConflictError(`Proposal ${proposal.id} is being created by another call.`);
      return { created: false, proposal: existing };
    }
  }

  async getProposal(id: string): Promise<Proposal | undefined> {
    return (await this.getTaggedProposal(id))?.value;
  }

  /** The proposal with its row's ETag (see getTaggedRequest). */
  getTaggedProposal(id: string): Promise<Tagged<Proposal> | undefined> {
    return getTagged<Proposal>(this.proposals, 'proposal', id);
  }

  /** Only the phase of a request or proposal (undefined if there is none): the vote door's fresh check. */
  async ballotPhase(kind: 'request' | 'proposal', id: string): Promise<string | undefined> {
    const client = kind === 'request' ? this.requests : this.proposals;
    try {
      const row = await client.getEntity<Record<string, unknown>>(kind, id, {
        queryOptions: { select: ['Phase'] },
      });
      return typeof row['Phase'] === 'string' ? row['Phase'] : undefined;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      wrapStorage(`read ${client.tableName}/${id}`, e);
    }
  }

  openProposals(): Promise<Proposal[]> {
    return listAll(this.proposals, 'proposal', (r) => body<Proposal>(r), `Phase eq 'voting'`);
  }

  updateProposal(
    id: string,
    change: (p: Proposal) => Proposal | undefined,
    known?: Tagged<Proposal>,
  ): Promise<Proposal | undefined> {
    return update<Proposal>(
      this.proposals,
      'proposal',
      id,
      change,
      (p) => ({ Phase: p.phase, Subject: p.subject }),
      known,
    );
  }

  // ----- votes -----

  /**
   * Opens a ballot to votes, once: the guard rows OPENED_ROW and OPEN_ROW in its vote partition, created
   * together in one transaction. OPEN_ROW is the guard every vote's transaction touches (so a vote is
   * written only while it exists); OPENED_ROW is never deleted, so once voting has been opened (or
   * closed, see closeVoting) no later call opens it again. Returns false if it had been opened before.
   */
  async openVoting(subjectId: string): Promise<boolean> {
    return (await this.#open(subjectId)) !== false;
  }

  /** Opens voting; answers the new guard row's ETag ('' if storage gave none), or false if opened before. */
  async #open(subjectId: string): Promise<string | false> {
    try {
      const done = await submitTransaction(this.votes, [
        ['create', { partitionKey: subjectId, rowKey: OPENED_ROW }],
        ['create', { partitionKey: subjectId, rowKey: OPEN_ROW }],
      ]);
      return done.subResponses[1]?.etag ?? '';
    } catch (e) {
      if (statusOf(e) === 409) return false;
      wrapStorage(`open voting on ${subjectId}`, e);
    }
  }

  readonly #openListeners = new Set<(ballot: MembershipRequest | Proposal) => void>();

  /**
   * Calls `listener` with each ballot this registry created and opened to votes, as soon as it is open:
   * no vote exists on it then (a vote is written only with the guard row that opening creates), and this
   * registry's first vote transaction on it is a sequel of the opening (see onVoteRecorded). So the vote
   * door need not read the ballot it made, nor the votes of a ballot that has none. Returns a function that
   * removes the listener.
   */
  onVotingOpened(listener: (ballot: MembershipRequest | Proposal) => void): () => void {
    this.#openListeners.add(listener);
    return () => this.#openListeners.delete(listener);
  }

  /** Opens a ballot this registry has just created, and tells the listeners when it was this call that did. */
  async #openCreated(ballot: MembershipRequest | Proposal): Promise<void> {
    const tag = await this.#open(ballot.id);
    if (!tag) return;
    this.#keepGuardTag(ballot.id, tag);
    for (const l of this.#openListeners) l(ballot);
  }

  #keepGuardTag(subjectId: string, tag: string): void {
    // Kept for the ballots written to most recently (a dropped one only costs its next door a read).
    this.#guardTags.set(subjectId, tag);
  }

  /**
   * Closes a ballot to votes for good: after this returns, no vote on it can be written (a vote's
   * transaction fails on the missing guard, and voting can never be opened again). Idempotent.
   */
  async closeVoting(subjectId: string): Promise<void> {
    // One transaction while the ballot is open: OPENED_ROW exists then (openVoting made both rows).
    try {
      await submitTransaction(this.votes, [
        ['upsert', { partitionKey: subjectId, rowKey: OPENED_ROW }, 'Merge'],
        ['delete', { partitionKey: subjectId, rowKey: OPEN_ROW }],
      ]);
      return;
    } catch (e) {
      if (statusOf(e) !== 404) wrapStorage(`close voting on ${subjectId}`, e);
    }
    // No OPEN_ROW: closed already, or never opened, which OPENED_ROW now forbids for good.
    try {
      await this.votes.createEntity({ partitionKey: subjectId, rowKey: OPENED_ROW });
    } catch (e) {
      if (statusOf(e) !== 409) wrapStorage(`close voting on ${subjectId}`, e);
    }
  }

  /**
   * Votes on one ballot written together (see addVote). A voter appears once per transaction (a second
   * vote by the same voter waits for the next), and Table storage takes 100 operations per transaction,
   * the guard row one of them.
   */
  readonly #voteWrites = new GroupCommit<Vote, VoteWrite>(
    (subjectId, votes) => this.#writeVotes(subjectId, votes),
    { max: 99, rowOf: (v) => v.voter },
  );
  /** Tags this registry's vote rows, so its own readers need not read them back (see decisionsSince). */
  readonly #writer = randomUUID();
  readonly #voteListeners = new Set<(vote: Vote, sequel: boolean) => void>();
  /**
   * Per ballot, the guard row's ETag as this registry's last vote transaction left it. Every vote
   * transaction touches the guard row, so a transaction made on that ETag (If-Match) succeeds only if no
   * other writer recorded a vote on the ballot since this registry's previous one.
   */
  readonly #guardTags = new RecentMap<string, string>(MAX_GUARD_TAGS);

  /**
   * Calls `listener` with each vote row this registry creates, as soon as storage has confirmed it and
   * before addVote answers: a door that counts after its own write has seen every earlier vote of this
   * process without reading them back. `sequel` says that no other writer recorded a vote on the ballot
   * between this registry's previous vote transaction on it and this one (see #guardTags): a reader that
   * knew every vote as of the previous one then knows every vote as of this one, unread. Returns a function
   * that removes the listener.
   */
  onVoteRecorded(listener: (vote: Vote, sequel: boolean) => void): () => void {
    this.#voteListeners.add(listener);
    return () => this.#voteListeners.delete(listener);
  }

  #recorded(vote: Vote, result: VoteWrite | Error, sequel: boolean): VoteWrite | Error {
    if (result === 'created') for (const l of this.#voteListeners) l(vote, sequel);
    return result;
  }

  /**
   * Records a vote: one row per ballot and voter, so a second vote by the same member is refused here
   * even under races ('duplicate'); and only while voting is open (see openVoting): the vote's row is
   * written in one transaction with a touch of the ballot's guard row, so a ballot closed before the
   * write refuses it ('closed', which takes precedence over 'duplicate'). Votes on one ballot that
   * arrive while a write is in flight go together in one transaction (group commit); if one of them is
   * refused the batch falls back to one write each.
   */
  addVote(vote: Vote): Promise<VoteWrite> {
    return this.#voteWrites.add(vote.subjectId, vote);
  }

  async #writeVotes(subjectId: string, batch: Vote[]): Promise<(VoteWrite | Error)[]> {
    const row = (v: Vote) => ({
      partitionKey: v.subjectId,
      rowKey: v.voter,
      Decision: v.decision,
      Writer: this.#writer,
      ...packJson('Body', v),
    });
    // The guard first: on a closed ballot the transaction fails on it (404) before any duplicate (409).
    const guard = (etag?: string): TransactionAction =>
      etag
        ? ['update', { partitionKey: subjectId, rowKey: OPEN_ROW }, 'Merge', { etag }]
        : ['update', { partitionKey: subjectId, rowKey: OPEN_ROW }, 'Merge'];
    /** 'stale': made on an ETag (`etag`) that another writer's vote has since replaced. */
    const write = async (votes: Vote[], etag?: string): Promise<VoteWrite | 'stale' | Error> => {
      try {
        const done = await submitTransaction(this.votes, [
          guard(etag),
          ...votes.map((v): TransactionAction => ['create', row(v)]),
        ]);
        const tag = done.subResponses[0]?.etag;
        if (tag) this.#keepGuardTag(subjectId, tag);
        return 'created';
      } catch (e) {
        if (statusOf(e) === 412 && etag) return 'stale';
        if (statusOf(e) === 404) return 'closed';
        if (statusOf(e) === 409) return 'duplicate';
        try {
          wrapStorage(`record vote on ${subjectId}`, e);
        } catch (wrapped) {
          return wrapped as Error;
        }
      }
    };
    const known = this.#guardTags.get(subjectId);
    this.#guardTags.delete(subjectId);
    let sequel = known !== undefined;
    let together = await write(batch, known);
    if (together === 'stale') {
      sequel = false;
      together = await write(batch);
    }
    let results: (VoteWrite | Error)[];
    if (together === 'created' || together === 'closed' || batch.length === 1)
      results = batch.map(() => together as VoteWrite | Error);
    else {
      // A duplicate or a failed batch: write each on its own to tell who voted twice. They run side by
      // side, so which ETag the guard row ends with is not known: the next transaction starts a new chain.
      sequel = false;
      results = (await Promise.all(batch.map((v) => write([v])))) as (VoteWrite | Error)[];
      this.#guardTags.delete(subjectId);
    }
    batch.forEach((v, i) => this.#recorded(v, results[i]!, sequel));
    return results;
  }

  votesOn(subjectId: string): Promise<Vote[]> {
    return listAll(this.votes, subjectId, (r) => body<Vote>(r), VOTE_ROWS);
  }

  /**
   * Voter and decision of votes written at or after `since` (storage time), without their bodies. With
   * `othersOnly`, rows this registry wrote are left out: its onVoteRecorded listeners have seen them.
   */
  async decisionsSince(
    subjectId: string,
    since?: Date,
    othersOnly = false,
  ): Promise<{ voter: string; decision: Vote['decision']; timestamp: string }[]> {
    const out: { voter: string; decision: Vote['decision']; timestamp: string }[] = [];
    const filter = [
      `PartitionKey eq '${quote(subjectId)}'`,
      VOTE_ROWS,
      since ? `Timestamp ge datetime'${since.toISOString()}'` : undefined,
      othersOnly ? `Writer ne '${this.#writer}'` : undefined,
    ]
      .filter(Boolean)
      .join(' and ');
    try {
      for await (const row of this.votes.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['RowKey', 'Decision', 'Timestamp'] },
      })) {
        out.push({
          voter: String(row.rowKey),
          decision: row['Decision'] as Vote['decision'],
          timestamp: String(row['timestamp'] ?? row['Timestamp'] ?? ''),
        });
      }
    } catch (e) {
      wrapStorage(`list votes on ${subjectId}`, e);
    }
    return out;
  }

  // ----- claims -----

  /**
   * The claims' rows, in the claims' order (undefined where there is none): point reads, side by side, since
   * a query with "or" on row keys would scan the partition.
   */
  #claimRows(claims: Claim[]): Promise<(Row | undefined)[]> {
    return Promise.all(claims.map((c) => getRow(this.requests, REQUEST_PK, claimRow(c))));
  }

  /**
   * Frees the claims `owner` holds: read (point reads, side by side), then those still the owner's deleted
   * on their ETags in one transaction, so a claim taken over meanwhile stays with its new owner. Claims are
   * mostly freed with the change that lets go of them (updateRequest); this is for the others.
   */
  async release(claims: Claim[], owner: string): Promise<void> {
    if (!claims.length) return;
    const held = (await this.#claimRows(claims)).filter(
      (r): r is Row => r !== undefined && r['Owner'] === owner && Boolean(r.etag),
    );
    if (!held.length) return;
    const one = async (row: Row) => {
      try {
        await this.requests.deleteEntity(REQUEST_PK, String(row.rowKey), { etag: String(row.etag) });
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 412) wrapStorage('release claims', e);
      }
    };
    // One transaction where this process writes it (the SDK's would delete whatever the ETag).
    if (!writesOwnTransactions(this.requests)) return void (await Promise.all(held.map(one)));
    try {
      await submitTransaction(
        this.requests,
        held.map((r): TableAction => [
          'delete',
          { partitionKey: REQUEST_PK, rowKey: String(r.rowKey) },
          { etag: String(r.etag) },
        ]),
      );
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 412) wrapStorage('release claims', e);
      // Changed since the read: each on its own, leaving any that is no longer the owner's.
      await Promise.all(held.map(one));
    }
  }

  /**
   * Moves the claims of the Reservations table, where they were kept before (a partition per kind, or a
   * `claims` partition), to the request records' partition, keeping their owners. Idempotent, and cheap
   * once done (one query that finds nothing). A claim already moved keeps its owner; the claims of a request
   * decided against are freed instead. Answers how many moved.
   */
  async moveLegacyClaims(): Promise<number> {
    const legacy: Row[] = [];
    try {
      for await (const row of this.reservations.listEntities<Record<string, unknown>>())
        legacy.push(row as Row);
    } catch (e) {
      wrapStorage('read reservations', e);
    }
    // A request decided against kept its claims if its host stopped between recording the decision and
    // freeing them (the two were separate writes): those are freed here, not moved. Owners are read, and
    // rows moved, a few at a time; each row is moved before it is deleted, so a start that stops half-way
    // leaves every claim held in one table or the other.
    const decidedAgainst = new Set<string>();
    await inParallel([...new Set(legacy.map((r) => String(r['Owner'])))], LEGACY_PARALLEL, async (owner) => {
      const phase = (await this.getRequest(owner))?.phase;
      if (phase === 'rejected' || phase === 'expired' || phase === 'withdrawn') decidedAgainst.add(owner);
    });
    let moved = 0;
    await inParallel(legacy, LEGACY_PARALLEL, async (row) => {
      const kindAndValue = row.partitionKey === 'claims' ? row.rowKey : `${row.partitionKey}:${row.rowKey}`;
      if (!decidedAgainst.has(String(row['Owner'])))
        try {
          await this.requests.createEntity({
            partitionKey: REQUEST_PK,
            rowKey: claimRowOf(kindAndValue),
            Owner: row['Owner'],
          });
          moved++;
        } catch (e) {
          if (statusOf(e) !== 409) wrapStorage('move claims', e);
        }
      try {
        await this.reservations.deleteEntity(row.partitionKey, row.rowKey, { etag: String(row.etag) });
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 412) wrapStorage('move claims', e);
      }
    });
    return moved;
  }
}
