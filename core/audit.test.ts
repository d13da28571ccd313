import {
  CompactSign,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWK,
} from 'jose';
import {
  AUDIT_KINDS,
  GENESIS,
  canonicalJson,
  entryHash,
  seal,
  verifyChain,
  type AuditDraft,
  type AuditEntry,
} from './audit';

interface Signer {
  alg: 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(alg: Signer['alg'] = 'ES256'): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  return { alg, privateKey, jwk: await exportJWK(publicKey) };
}

const bytes = (payload: unknown) => new TextEncoder().encode(JSON.stringify(payload));

/** A member's signature: the key is named by `kid`. */
function byMember(s: Signer, kid: string, payload: unknown): Promise<string> {
  return new CompactSign(bytes(payload)).setProtectedHeader({ alg: s.alg, kid }).sign(s.privateKey);
}

/** An applicant's signature: the public key travels in the header. */
function byApplicant(s: Signer, payload: unknown): Promise<string> {
  return new CompactSign(bytes(payload)).setProtectedHeader({ alg: s.alg, jwk: s.jwk }).sign(s.privateKey);
}

function build(drafts: AuditDraft[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const draft of drafts) out.push(seal(draft, out.at(-1)));
  return out;
}

function draftOf({ seq: _s, prev: _p, hash: _h, ...draft }: AuditEntry): AuditDraft {
  return draft;
}

/** What an attacker with write access would do: re-seal every entry so the hashes line up again. */
function reseal(entries: AuditEntry[]): AuditEntry[] {
  return build(entries.map(draftOf));
}

function at(i: number): string {
  return new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString();
}

const WITHDRAW_R2 = { action: 'withdraw', subject: 'r-2', actor: 'bank-d', reason: 'changed our mind' };

let keys: Record<'a' | 'b' | 'c' | 'applicant2' | 'c2' | 'a2' | 'outsider', Signer>;
let chain: AuditEntry[];
let drafts: AuditDraft[];

beforeAll(async () => {
  keys = {
    a: await signer('ES256'),
    b: await signer('EdDSA'),
    c: await signer('ES256'),
    applicant2: await signer('ES256'),
    c2: await signer('ES256'),
    a2: await signer('ES256'),
    outsider: await signer('ES256'),
  };
  const thumb = (s: Signer) => calculateJwkThumbprint(s.jwk, 'sha256');
  let i = 0;
  const d = (
    kind: AuditDraft['kind'],
    subject: string,
    actor: string,
    data: Record<string, unknown>,
    jws?: string,
  ) => ({ at: at(i++), kind, subject, actor, data, ...(jws ? { jws } : {}) }) as AuditDraft;
  drafts = [
    /* 0 */ d('member.seeded', 'bank-a', 'config', {
      memberId: 'bank-a',
      legalName: 'Bank A',
      governanceKey: keys.a.jwk,
    }),
    /* 1 */ d('member.seeded', 'bank-b', 'config', {
      memberId: 'bank-b',
      legalName: 'Bank B',
      governanceKey: keys.b.jwk,
    }),
    /* 2 */ d(
      'request.received',
      'r-1',
      'applicant:bank-c',
      { requestId: 'r-1', applicantId: 'bank-c', keyThumbprint: await thumb(keys.c) },
      await byApplicant(keys.c, { requestId: 'r-1', applicant: { id: 'bank-c', legalName: 'Bank C' } }),
    ),
    /* 3 */ d(
      'vote.accepted',
      'r-1',
      'bank-a',
      { subjectId: 'r-1', voter: 'bank-a', decision: 'approve' },
      await byMember(keys.a, 'bank-a', { requestId: 'r-1', voter: 'bank-a', decision: 'approve' }),
    ),
    /* 4 */ d(
      'vote.accepted',
      'r-1',
      'bank-b',
      { subjectId: 'r-1', voter: 'bank-b', decision: 'approve' },
      await byMember(keys.b, 'bank-b', { requestId: 'r-1', voter: 'bank-b', decision: 'approve' }),
    ),
    /* 5 */ d('request.decided', 'r-1', 'system', {
      requestId: 'r-1',
      outcome: 'approved',
      tally: { approve: 2, reject: 0 },
    }),
    /* 6 */ d('member.admitted', 'bank-c', 'system', {
      memberId: 'bank-c',
      legalName: 'Bank C',
      governanceKey: keys.c.jwk,
      requestId: 'r-1',
    }),
    /* 7 */ d(
      'request.received',
      'r-2',
      'applicant:bank-d',
      { requestId: 'r-2', applicantId: 'bank-d', keyThumbprint: await thumb(keys.applicant2) },
      await byApplicant(keys.applicant2, { requestId: 'r-2', applicant: { id: 'bank-d' } }),
    ),
    /* 8 */ d(
      'request.withdrawn',
      'r-2',
      'applicant:bank-d',
      { requestId: 'r-2' },
      await byApplicant(keys.applicant2, WITHDRAW_R2),
    ),
    /* 9 */ d('request.decided', 'r-2', 'system', { requestId: 'r-2', outcome: 'withdrawn', tally: {} }),
    /* 10 */ d(
      'proposal.opened',
      'bank-c',
      'bank-a',
      { proposalId: 'p-1', action: 'replace-key', subject: 'bank-c' },
      await byMember(keys.a, 'bank-a', { proposalId: 'p-1', action: 'replace-key', subject: 'bank-c' }),
    ),
    /* 11 */ d(
      'vote.accepted',
      'p-1',
      'bank-b',
      { subjectId: 'p-1', voter: 'bank-b', decision: 'approve' },
      await byMember(keys.b, 'bank-b', { proposalId: 'p-1', voter: 'bank-b', decision: 'approve' }),
    ),
    /* 12 */ d('proposal.decided', 'p-1', 'system', {
      proposalId: 'p-1',
      outcome: 'approved',
      tally: { approve: 2 },
    }),
    /* 13 */ d('member.key-replaced', 'bank-c', 'system', {
      memberId: 'bank-c',
      newKey: keys.c2.jwk,
      cause: 'p-1',
    }),
    /* 14 */ d('member.status-changed', 'bank-b', 'system', {
      memberId: 'bank-b',
      from: 'active',
      to: 'suspended',
      cause: 'p-1',
    }),
    /* 15 */ d(
      'member.key-replaced',
      'bank-a',
      'bank-a',
      { memberId: 'bank-a', newKey: keys.a2.jwk, cause: 'rotation' },
      await byMember(keys.a, 'bank-a', {
        action: 'rotate-key',
        subject: 'bank-a',
        actor: 'bank-a',
        newKey: keys.a2.jwk,
      }),
    ),
    /* 16 */ d(
      'proposal.opened',
      'bank-b',
      'bank-a',
      { proposalId: 'p-2', action: 'reinstate', subject: 'bank-b' },
      await byMember(keys.a2, 'bank-a', {
        proposalId: 'p-2',
        action: 'reinstate',
        subject: 'bank-b',
        actor: 'bank-a',
      }),
    ),
    /* 17 */ d(
      'vote.accepted',
      'p-2',
      'bank-c',
      { subjectId: 'p-2', voter: 'bank-c', decision: 'approve' },
      await byMember(keys.c2, 'bank-c', { requestId: 'p-2', voter: 'bank-c', decision: 'approve' }),
    ),
    /* 18 */ d('certificate.issued', 'bank-c', 'platform', {
      requestId: 'r-1',
      memberId: 'bank-c',
      serial: '0a1b',
      subject: 'O=Bank C, L=Paris, C=FR',
      issuer: 'CN=Doorman',
      thumbprint: 'ab',
      notAfter: '2026-01-01T00:00:00.000Z',
      decisionSeq: 5,
    }),
    /* 19 */ d('provisioning.failed', 'r-1', 'platform', { requestId: 'r-1', step: 'gateway', code: 'X' }),
    /* 20 */ d('certificate.revoked', 'bank-c', 'platform', {
      memberId: 'bank-c',
      serial: '0a1b',
      reason: 'x',
    }),
    /* 21 */ d('provisioning.torn-down', 'bank-c', 'platform', {
      memberId: 'bank-c',
      reason: 'x',
      deleted: 3,
    }),
    /* 22 */ d(
      'provisioning.decision',
      'r-1',
      'bank-a',
      { requestId: 'r-1', action: 'retry' },
      await byMember(keys.a2, 'bank-a', { action: 'retry', subject: 'r-1', actor: 'bank-a' }),
    ),
    /* 23 */ d('member.channels-set', 'bank-a', 'bank-a', {
      memberId: 'bank-a',
      email: 2,
      teams: true,
      requestHash: 'x'.repeat(43),
    }),
    /* 24 */ d(
      'member.scaling-set',
      'bank-a',
      'bank-a',
      { memberId: 'bank-a', policy: { timeZone: 'Europe/London', defaultProfile: 'Small', windows: [] } },
      await byMember(keys.a2, 'bank-a', {
        action: 'set-scaling',
        subject: 'bank-a',
        actor: 'bank-a',
        policy: { timeZone: 'Europe/London', defaultProfile: 'Small', windows: [] },
      }),
    ),
    /* 25 */ d(
      'member.profile-set',
      'bank-a',
      'bank-a',
      { memberId: 'bank-a', profile: 'Large', expiresAt: '2026-01-02T00:00:00.000Z' },
      await byMember(keys.a2, 'bank-a', {
        action: 'set-profile',
        subject: 'bank-a',
        actor: 'bank-a',
        profile: 'Large',
        expiresAt: '2026-01-02T00:00:00.000Z',
      }),
    ),
    /* 26 */ d('member.scaled', 'bank-a', 'platform', {
      memberId: 'bank-a',
      from: 'Small',
      to: 'Large',
      reason: 'override',
      source: 'override',
    }),
  ];
  chain = build(drafts);
});

/** The chain with entry `index` replaced by `draft`, re-sealed from there on so only the content is wrong. */
function withDraft(index: number, draft: AuditDraft): AuditEntry[] {
  const copy = chain.map(draftOf);
  copy[index] = draft;
  return build(copy);
}

describe('canonicalJson', () => {
  it('sorts keys recursively and leaves no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('drops undefined members, and writes undefined in arrays as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1], c: null })).toBe('{"b":[null,1],"c":null}');
  });

  it('gives the same text for the same value whatever the key order', () => {
    expect(canonicalJson({ x: 1, y: { p: 1, q: 2 } })).toBe(canonicalJson({ y: { q: 2, p: 1 }, x: 1 }));
  });

  it('agrees with JSON.parse for strings, numbers and dates', () => {
    const value = { s: 'é"\n\u2028😀', n: [0, -0, 1.5, 1e21, NaN], d: new Date(0) };
    expect(canonicalJson(value)).toBe(
      `{"d":"1970-01-01T00:00:00.000Z","n":[0,0,1.5,1e+21,null],"s":${JSON.stringify(value.s)}}`,
    );
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
  });

  it('rejects cycles', () => {
    const a: Record<string, unknown> = {};
    a['self'] = a;
    expect(() => canonicalJson(a)).toThrow(TypeError);
  });
});

describe('seal and entryHash', () => {
  it('numbers entries from 0 and links each to the hash before it', () => {
    expect(chain.map((e) => e.seq)).toEqual(drafts.map((_, i) => i));
    expect(chain[0]!.prev).toBe(GENESIS);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.prev).toBe(chain[i - 1]!.hash);
    expect(chain[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes the entry without its hash, the same whatever is in the hash field', () => {
    const entry = chain[3]!;
    expect(entryHash(entry)).toBe(entry.hash);
    const otherHash: AuditEntry = { ...entry, hash: 'x'.repeat(64) };
    expect(entryHash(otherHash)).toBe(entry.hash);
    expect(entryHash({ ...entry, actor: 'bank-b' })).not.toBe(entry.hash);
  });

  it('keeps data as it reads back from JSON, so a reloaded entry is equal', () => {
    const entry = seal(
      { at: at(0), kind: 'request.decided', subject: 'r', actor: 's', data: { a: undefined, b: 1 } },
      undefined,
    );
    expect(entry.data).toEqual({ b: 1 });
    expect('jws' in entry).toBe(false);
    expect(JSON.parse(JSON.stringify(entry))).toEqual(entry);
  });
});

describe('verifyChain', () => {
  it('accepts a chain with every kind of entry, ES256 and EdDSA signatures and a key rotation', async () => {
    expect(new Set(chain.map((e) => e.kind))).toEqual(new Set(AUDIT_KINDS));
    await expect(verifyChain(chain)).resolves.toEqual({ ok: true, entries: chain.length });
  });

  it('accepts an empty chain', async () => {
    await expect(verifyChain([])).resolves.toEqual({ ok: true, entries: 0 });
  });

  it('survives a JSON round trip', async () => {
    await expect(verifyChain(JSON.parse(JSON.stringify(chain)))).resolves.toMatchObject({ ok: true });
  });

  describe('finds the first broken entry', () => {
    const broken = async (entries: AuditEntry[], seq: number, reason: string) => {
      await expect(verifyChain(entries)).resolves.toEqual({
        ok: false,
        entries: seq + 1,
        firstBroken: { seq, reason },
      });
    };

    it('when a certificate was issued without an approved decision', async () => {
      const entries = withDraft(18, {
        ...draftOf(chain[18]!),
        data: { ...chain[18]!.data, requestId: 'r-2' },
      });
      await broken(entries, 18, 'certificate 0a1b was issued without an approved decision on request r-2');
    });

    it('when a certificate without a request is not a founder’s, or names another seed entry', async () => {
      const founder: Record<string, unknown> = { ...chain[18]!.data, memberId: 'bank-a', decisionSeq: 0 };
      delete founder['requestId'];
      // A founder's certificate, issued against its seed entry: accepted.
      await expect(
        verifyChain(withDraft(18, { ...draftOf(chain[18]!), data: founder })),
      ).resolves.toMatchObject({ ok: true });
      await broken(
        withDraft(18, { ...draftOf(chain[18]!), data: { ...founder, decisionSeq: 1 } }),
        18,
        'certificate 0a1b names decision 1, but founder bank-a was seeded at entry 0',
      );
      // bank-c was admitted by vote, not seeded: without its request the certificate maps to nothing.
      await broken(
        withDraft(18, { ...draftOf(chain[18]!), data: { ...founder, memberId: 'bank-c', decisionSeq: 5 } }),
        18,
        "certificate 0a1b was issued without an approved decision or a founder's seed entry for bank-c",
      );
    });

    it('when a retry is recorded for another request than it signed', async () => {
      const entries = withDraft(22, { ...draftOf(chain[22]!), data: { requestId: 'r-2', action: 'retry' } });
      await broken(entries, 22, 'jws payload subject r-1 does not match data.requestId r-2');
    });

    it('when a certificate names the wrong decision', async () => {
      const entries = withDraft(18, { ...draftOf(chain[18]!), data: { ...chain[18]!.data, decisionSeq: 9 } });
      await broken(entries, 18, 'certificate 0a1b names decision 9, but request r-1 was approved at entry 5');
    });

    it('when data was changed', async () => {
      const entries = structuredClone(chain);
      entries[5]!.data['outcome'] = 'rejected';
      await broken(entries, 5, 'hash mismatch: entry was altered');
    });

    it('when an entry was changed and its hash recomputed', async () => {
      const entries = structuredClone(chain);
      entries[6]!.data['legalName'] = 'Bank Evil';
      entries[6]!.hash = entryHash(entries[6]!);
      await broken(entries, 7, 'prev does not match entry 6');
    });

    it('when the first entry does not start from genesis', async () => {
      const entries = structuredClone(chain);
      entries[0]!.prev = '1'.repeat(64);
      entries[0]!.hash = entryHash(entries[0]!);
      await broken(entries, 0, 'prev of entry 0 is not the genesis value');
    });

    it('when entries were reordered', async () => {
      const entries = [...chain];
      [entries[3], entries[4]] = [entries[4]!, entries[3]!];
      await broken(entries, 3, 'found seq 4 where seq 3 was expected: an entry is missing or out of order');
    });

    it('when an entry was dropped', async () => {
      await broken(
        chain.filter((e) => e.seq !== 9),
        9,
        'found seq 10 where seq 9 was expected: an entry is missing or out of order',
      );
    });

    it('when the last entry was dropped only the length tells, so the chain verifies as a prefix', async () => {
      await expect(verifyChain(chain.slice(0, -1))).resolves.toEqual({ ok: true, entries: chain.length - 1 });
    });

    it('when a vote was changed and the whole chain re-sealed: the signed payload disagrees', async () => {
      const entries = structuredClone(chain);
      entries[4]!.data['decision'] = 'reject';
      await broken(reseal(entries), 4, 'jws payload decision approve does not match data.decision reject');
    });

    it('when a vote was moved to another request and re-sealed', async () => {
      const entries = structuredClone(chain);
      entries[3]!.data['subjectId'] = 'r-2';
      entries[3]!.subject = 'r-2';
      await broken(reseal(entries), 3, 'jws payload requestId r-1 does not match data.subjectId r-2');
    });

    it('when a founder was dropped and the chain re-sealed: its votes have no key', async () => {
      await broken(reseal(chain.filter((e) => e.seq !== 1)), 3, 'kid bank-b is not a member at this point');
    });

    it('when a vote is forged with another key', async () => {
      const jws = await byMember(keys.outsider, 'bank-b', {
        requestId: 'r-1',
        voter: 'bank-b',
        decision: 'approve',
      });
      await broken(withDraft(4, { ...drafts[4]!, jws }), 4, "signature does not verify with bank-b's key");
    });

    it("when a signature is swapped for another entry's", async () => {
      await broken(
        withDraft(4, { ...drafts[4]!, jws: drafts[3]!.jws }),
        4,
        'kid bank-a does not match actor bank-b',
      );
    });

    it('when a member signs with its old key after rotating', async () => {
      const jws = await byMember(keys.a, 'bank-a', {
        proposalId: 'p-2',
        action: 'reinstate',
        subject: 'bank-b',
      });
      await broken(withDraft(16, { ...drafts[16]!, jws }), 16, "signature does not verify with bank-a's key");
    });

    it('when a member signs with its new key before rotating', async () => {
      const jws = await byMember(keys.a2, 'bank-a', {
        proposalId: 'p-1',
        action: 'replace-key',
        subject: 'bank-c',
      });
      await broken(withDraft(10, { ...drafts[10]!, jws }), 10, "signature does not verify with bank-a's key");
    });

    it('when a member signs with its key after a proposal replaced it', async () => {
      const jws = await byMember(keys.c, 'bank-c', {
        requestId: 'p-2',
        voter: 'bank-c',
        decision: 'approve',
      });
      await broken(withDraft(17, { ...drafts[17]!, jws }), 17, "signature does not verify with bank-c's key");
    });

    it('when a rotation is signed by the new key instead of the current one', async () => {
      const jws = await byMember(keys.a2, 'bank-a', { memberId: 'bank-a', newKey: keys.a2.jwk });
      await broken(withDraft(15, { ...drafts[15]!, jws }), 15, "signature does not verify with bank-a's key");
    });

    it("when a rotation's new key is not the one signed for", async () => {
      const draft = { ...drafts[15]!, data: { ...drafts[15]!.data, newKey: keys.outsider.jwk } };
      await broken(withDraft(15, draft), 15, 'jws payload newKey does not match data.newKey');
    });

    it('when a request names a key thumbprint other than the signing key', async () => {
      const thumbprint = await calculateJwkThumbprint(keys.outsider.jwk, 'sha256');
      const draft = { ...drafts[2]!, data: { ...drafts[2]!.data, keyThumbprint: thumbprint } };
      const own = await calculateJwkThumbprint(keys.c.jwk, 'sha256');
      await broken(
        withDraft(2, draft),
        2,
        `key thumbprint ${own} does not match data.keyThumbprint ${thumbprint}`,
      );
    });

    it("when a request's signature does not match the key in its header", async () => {
      const jws = await new CompactSign(bytes({ requestId: 'r-1', applicantId: 'bank-c' }))
        .setProtectedHeader({ alg: 'ES256', jwk: keys.c.jwk })
        .sign(keys.outsider.privateKey);
      await broken(
        withDraft(2, { ...drafts[2]!, jws }),
        2,
        'signature does not verify with the key in its jwk header',
      );
    });

    it('when someone other than the applicant withdraws a request', async () => {
      const jws = await byApplicant(keys.outsider, WITHDRAW_R2);
      await broken(
        withDraft(8, { ...drafts[8]!, jws }),
        8,
        'withdrawal is not signed by the key that submitted request r-2',
      );
    });

    it('when a withdrawal is signed for another action', async () => {
      const jws = await byApplicant(keys.applicant2, { ...WITHDRAW_R2, action: 'suspend' });
      await broken(withDraft(8, { ...drafts[8]!, jws }), 8, 'jws payload action suspend is not withdraw');
    });

    it('when a withdrawal is recorded against another request', async () => {
      const draft = { ...drafts[8]!, data: { requestId: 'r-1' } };
      await broken(withDraft(8, draft), 8, 'withdrawal is not signed by the key that submitted request r-1');
    });

    it('when a withdrawal names a request that was never received', async () => {
      const draft = { ...drafts[8]!, data: { requestId: 'r-9' } };
      await broken(withDraft(8, draft), 8, 'request r-9 was not received earlier in the chain');
    });

    it('when a request is recorded for another applicant', async () => {
      const draft = { ...drafts[2]!, data: { ...drafts[2]!.data, applicantId: 'bank-z' } };
      await broken(
        withDraft(2, draft),
        2,
        'jws payload applicantId bank-c does not match data.applicantId bank-z',
      );
    });

    it('when a rotation is recorded for another member', async () => {
      const draft = { ...drafts[15]!, data: { ...drafts[15]!.data, memberId: 'bank-c' } };
      await broken(withDraft(15, draft), 15, 'kid bank-a does not match data.memberId bank-c');
    });

    it('when a vote is by a kid that never joined', async () => {
      const jws = await byMember(keys.outsider, 'bank-x', {
        requestId: 'r-1',
        voter: 'bank-x',
        decision: 'approve',
      });
      const draft = {
        ...drafts[4]!,
        actor: 'bank-x',
        data: { subjectId: 'r-1', voter: 'bank-x', decision: 'approve' },
        jws,
      };
      await broken(withDraft(4, draft), 4, 'kid bank-x is not a member at this point');
    });

    it('when a vote carries its key in a jwk header instead of naming the member', async () => {
      const jws = await byApplicant(keys.outsider, {
        requestId: 'r-1',
        voter: 'bank-b',
        decision: 'approve',
      });
      await broken(
        withDraft(4, { ...drafts[4]!, jws }),
        4,
        'vote.accepted jws must name the signing member in a kid header',
      );
    });

    it('when a vote has no signature', async () => {
      const { jws: _jws, ...unsigned } = drafts[4]!;
      await broken(withDraft(4, unsigned), 4, 'vote.accepted entry has no jws');
    });

    it('when the payload names a different actor', async () => {
      const jws = await byMember(keys.b, 'bank-b', {
        requestId: 'r-1',
        voter: 'bank-a',
        decision: 'approve',
      });
      await broken(
        withDraft(4, { ...drafts[4]!, jws }),
        4,
        'jws payload voter bank-a does not match actor bank-b',
      );
    });

    it('when a proposal is recorded against another subject', async () => {
      const draft = { ...drafts[10]!, data: { ...drafts[10]!.data, subject: 'bank-b' } };
      await broken(withDraft(10, draft), 10, 'jws payload subject bank-c does not match data.subject bank-b');
    });

    it('when the algorithm is not ES256 or EdDSA', async () => {
      const secret = new Uint8Array(32).fill(7);
      const jws = await new CompactSign(bytes({ requestId: 'r-1', voter: 'bank-b', decision: 'approve' }))
        .setProtectedHeader({ alg: 'HS256', kid: 'bank-b' })
        .sign(secret);
      await broken(
        withDraft(4, { ...drafts[4]!, jws }),
        4,
        'jws algorithm HS256 is not allowed (ES256 or EdDSA only)',
      );
    });

    it('when the jws is not a compact JWS', async () => {
      await broken(withDraft(4, { ...drafts[4]!, jws: 'not-a-jws' }), 4, 'jws is not a compact JWS');
    });

    it('when the kind is unknown', async () => {
      await broken(
        withDraft(5, { ...drafts[5]!, kind: 'member.deleted' as AuditDraft['kind'] }),
        5,
        'unknown kind member.deleted',
      );
    });
  });
});
