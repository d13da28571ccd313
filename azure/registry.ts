import { randomUUID } from 'node:crypto';
import { afterPendingIo } from '../runtime/coalesce';
import type { TableClient } from '@azure/data-tables';
import type { JWK } from 'jose';
import type { Member, MemberStatus, MembershipRequest, Proposal, Vote } from '../core/membership';
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
/** RowKey comparisons per query, with the PartitionKey one under Table storage's limit of 15. */
const MEMBERS_PER_QUERY = 14;

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

/** Reads a record, applies `change`, writes it back if the ETag still matches; retries on a lost race. */
async function update<T extends object>(
  client: TableClient,
  pk: string,
  rk: string,
  change: (current: T) => T | undefined,
  extra: (next: T) => Record<string, unknown>,
): Promise<T | undefined> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const row = await getRow(client, pk, rk);
    if (!row) return undefined;
    const next = change(body<T>(row));
    if (!next) return body<T>(row);
    try {
      await client.updateEntity(
        { partitionKey: pk, rowKey: rk, ...packJson('Body', next), ...extra(next) },
        'Replace',
        { etag: row.etag },
      );
      return next;
    } catch (e) {
      if (statusOf(e) !== 412) wrapStorage(`update ${client.tableName}/${rk}`, e);
    }
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
   * a strongly consistent read, like getMember, for the vote door's batched voter look-ups.
   */
  async getMembers(ids: string[]): Promise<Map<string, Member>> {
    const out = new Map<string, Member>();
    if (ids.length === 1) {
      // A point read costs the service less than a query.
      const m = await this.getMember(ids[0]!);
      if (m) out.set(m.id, m);
      return out;
    }
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += MEMBERS_PER_QUERY) chunks.push(ids.slice(i, i + MEMBERS_PER_QUERY));
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

  allMembers(): Promise<Member[]> {
    return listAll(this.members, 'member', (r) => body<Member>(r));
  }

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

  /** Creates the request; when one with the same id exists, returns it instead. */
  async createRequest(request: MembershipRequest): Promise<{ created: boolean; request: MembershipRequest }> {
    try {
      await this.requests.createEntity({
        partitionKey: 'request',
        rowKey: request.id,
        Phase: request.phase,
        ...packJson('Body', request),
      });
      return { created: true, request };
    } catch (e) {
      if (statusOf(e) !== 409) wrapStorage(`create request ${request.id}`, e);
      const existing = await this.getRequest(request.id);
      if (!existing) throw new ConflictError(`Request ${request.id} is being created by another call.`);
      return { created: false, request: existing };
    }
  }

  async getRequest(id: string): Promise<MembershipRequest | undefined> {
    const row = await getRow(this.requests, 'request', id);
    return row ? body<MembershipRequest>(row) : undefined;
  }

  listRequests(
    options: { phase?: string; continuation?: string | null; limit?: number } = {},
  ): Promise<Page<MembershipRequest>> {
    return listPage(this.requests, 'request', (r) => body<MembershipRequest>(r), {
      ...options,
      filter: options.phase ? `Phase eq '${options.phase}'` : undefined,
    });
  }

  /** Requests that still hold a name, id or address space: voting, approved or being provisioned. */
  openRequests(): Promise<MembershipRequest[]> {
    return listAll(
      this.requests,
      'request',
      (r) => body<MembershipRequest>(r),
      `(Phase eq 'voting' or Phase eq 'approved' or Phase eq 'provisioning')`,
    );
  }

  updateRequest(
    id: string,
    change: (r: MembershipRequest) => MembershipRequest | undefined,
  ): Promise<MembershipRequest | undefined> {
    return update<MembershipRequest>(this.requests, 'request', id, change, (r) => ({ Phase: r.phase }));
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
      return { created: true, proposal };
    } catch (e) {
      if (statusOf(e) !== 409) wrapStorage(`create proposal ${proposal.id}`, e);
      const existing = await this.getProposal(proposal.id);
      if (!existing) throw new ConflictError(`Proposal ${proposal.id} is being created by another call.`);
      return { created: false, proposal: existing };
    }
  }

  async getProposal(id: string): Promise<Proposal | undefined> {
    const row = await getRow(this.proposals, 'proposal', id);
    return row ? body<Proposal>(row) : undefined;
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

  updateProposal(id: string, change: (p: Proposal) => Proposal | undefined): Promise<Proposal | undefined> {
    return update<Proposal>(this.proposals, 'proposal', id, change, (p) => ({
      Phase: p.phase,
      Subject: p.subject,
    }));
  }

  // ----- votes -----

  /** Records a vote; one row per subject and voter, so a second vote by the same member is refused here. */
  readonly #voteQueue = new Map<
    string,
    { vote: Vote; done: (r: 'created' | 'duplicate' | Error) => void }[]
  >();
  readonly #voteFlushing = new Set<string>();
  /** Tags this registry's vote rows, so its own readers need not read them back (see decisionsSince). */
  readonly #writer = randomUUID();
  readonly #voteListeners = new Set<(vote: Vote) => void>();

  /**
   * Calls `listener` with each vote row this registry creates, as soon as storage has confirmed it and
   * before addVote answers: a door that counts after its own write has seen every earlier vote of this
   * process without reading them back. Returns a function that removes the listener.
   */
  onVoteRecorded(listener: (vote: Vote) => void): () => void {
    this.#voteListeners.add(listener);
    return () => this.#voteListeners.delete(listener);
  }

  #recorded(vote: Vote, result: 'created' | 'duplicate' | Error): 'created' | 'duplicate' | Error {
    if (result === 'created') for (const l of this.#voteListeners) l(vote);
    return result;
  }

  /**
   * Records a vote: one row per ballot and voter, so a second vote by the same member is refused here
   * even under races. Votes on one ballot that arrive while a write is in flight go together in one
   * transaction (group commit); if one of them is a duplicate the batch falls back to one write each.
   */
  addVote(vote: Vote): Promise<'created' | 'duplicate'> {
    return new Promise((resolve, reject) => {
      let queue = this.#voteQueue.get(vote.subjectId);
      if (!queue) this.#voteQueue.set(vote.subjectId, (queue = []));
      queue.push({ vote, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      if (!this.#voteFlushing.has(vote.subjectId)) void this.#flushVotes(vote.subjectId);
    });
  }

  async #flushVotes(subjectId: string): Promise<void> {
    this.#voteFlushing.add(subjectId);
    try {
      // Votes that arrived together go in one transaction, not the first one alone.
      await afterPendingIo();
      for (;;) {
        const queue = this.#voteQueue.get(subjectId);
        if (!queue?.length) break;
        // A voter may appear once per transaction; a second vote by the same voter waits for the next.
        const batch: typeof queue = [];
        const voters = new Set<string>();
        for (let i = 0; i < queue.length && batch.length < 100;) {
          if (voters.has(queue[i]!.vote.voter)) i++;
          else {
            voters.add(queue[i]!.vote.voter);
            batch.push(...queue.splice(i, 1));
          }
        }
        await this.#writeVotes(batch);
      }
    } finally {
      this.#voteFlushing.delete(subjectId);
      if (!this.#voteQueue.get(subjectId)?.length) this.#voteQueue.delete(subjectId);
    }
  }

  async #writeVotes(
    batch: { vote: Vote; done: (r: 'created' | 'duplicate' | Error) => void }[],
  ): Promise<void> {
    const row = (v: Vote) => ({
      partitionKey: v.subjectId,
      rowKey: v.voter,
      Decision: v.decision,
      Writer: this.#writer,
      ...packJson('Body', v),
    });
    const one = async (v: Vote): Promise<'created' | 'duplicate' | Error> => {
      try {
        await this.votes.createEntity(row(v));
        return 'created';
      } catch (e) {
        if (statusOf(e) === 409) return 'duplicate';
        try {
          wrapStorage(`record vote on ${v.subjectId}`, e);
        } catch (wrapped) {
          return wrapped as Error;
        }
      }
    };
    if (batch.length === 1) return batch[0]!.done(this.#recorded(batch[0]!.vote, await one(batch[0]!.vote)));
    let results: ('created' | 'duplicate' | Error)[];
    try {
      await this.votes.submitTransaction(batch.map((b) => ['create', row(b.vote)]));
      results = batch.map(() => 'created');
    } catch {
      // A duplicate (409) or a failed batch: write each on its own to tell who voted twice.
      results = await Promise.all(batch.map((b) => one(b.vote)));
    }
    batch.forEach((b, i) => this.#recorded(b.vote, results[i]!));
    batch.forEach((b, i) => b.done(results[i]!));
  }

  async removeVote(subjectId: string, voter: string): Promise<void> {
    try {
      await this.votes.deleteEntity(subjectId, voter);
    } catch (e) {
      if (statusOf(e) !== 404) wrapStorage(`remove vote on ${subjectId}`, e);
    }
  }

  votesOn(subjectId: string): Promise<Vote[]> {
    return listAll(this.votes, subjectId, (r) => body<Vote>(r));
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

  // ----- reservations -----

  /** Claims `key` in `kind` for `owner`; returns the current owner (the caller when it won). */
  async reserve(kind: 'id' | 'name' | 'key', key: string, owner: string): Promise<string> {
    const rk = Buffer.from(key).toString('base64url');
    try {
      await this.reservations.createEntity({ partitionKey: kind, rowKey: rk, Owner: owner });
      return owner;
    } catch (e) {
      if (statusOf(e) !== 409) wrapStorage(`reserve ${kind}`, e);
      const row = await getRow(this.reservations, kind, rk);
      return row ? String(row['Owner']) : owner;
    }
  }

  async release(kind: 'id' | 'name' | 'key', key: string, owner: string): Promise<void> {
    const rk = Buffer.from(key).toString('base64url');
    const row = await getRow(this.reservations, kind, rk);
    if (!row || row['Owner'] !== owner) return;
    try {
      await this.reservations.deleteEntity(kind, rk, { etag: row.etag });
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 412) wrapStorage(`release ${kind}`, e);
    }
  }
}
