import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { JWK } from 'jose';
import { main as auditVerify } from '../local/audit-verify';
import { sampleKeyFile } from '../local/sample-consortium';
import { Api } from './api';
import { CliError, EXIT, clean, usageError } from './errors';
import { generateKeyFiles, readPrivateKey, readPublicKey, sign, thumbprint, type SigningKey } from './keys';
import {
  FAILED_PHASES,
  channelsLines,
  costTable,
  fieldLines,
  type ChannelsView,
  type CostView,
  stillMoving,
  membersTable,
  statusLines,
  tallyText,
  watchLine,
  type BallotView,
  type MemberView,
  type Tally,
} from './render';
import { checkUntil, untilDate } from './time';
import { openVaultKey, type VaultKeyOptions } from './vault-key';

/** Where output goes and how requests are sent; tests pass their own. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  fetch?: typeof fetch;
  /** A terminal for `status --watch`'s live bar; without one, progress is printed as plain lines. */
  tty?: NodeJS.WritableStream;
  /** How `--key-vault-key` reaches Key Vault (default: DefaultAzureCredential over the network). */
  vault?: VaultKeyOptions;
}

export const DEFAULT_URL = 'http://127.0.0.1:7071';
const MEMBER_ID = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PROPOSAL_ACTIONS = ['suspend', 'reinstate', 'remove', 'replace-key'] as const;
const PROFILES = ['Small', 'Medium', 'Large'] as const;
const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;

interface Globals {
  url: string;
  functionKey?: string;
  key?: string;
  keyVaultKey?: string;
  as?: string;
  member?: string;
  dataDir: string;
  consortium?: string;
}

function version(): string {
  for (let dir = __dirname, i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'trustnet' && pkg.version) return pkg.version;
    } catch {
      // not here; look one folder up
    }
  }
  return 'unknown';
}

function checkId(id: string, what: string): string {
  if (!UUID.test(id)) throw usageError(`${what} ${clean(id)} is not an id (a UUID)`);
  return id;
}

function checkMemberId(id: string, option: string): string {
  if (!MEMBER_ID.test(id))
    throw usageError(
      `${option} ${clean(id)} is not a member id (3 to 40 lower-case letters, digits and hyphens, starting with a letter)`,
    );
  return id;
}

function interval(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 10 || n > 3_600_000)
    throw new InvalidArgumentError('give a whole number of milliseconds from 10 to 3600000.');
  return n;
}

/** One run of the command line: its options, the way out, and the exit status actions set. */
class Session {
  exitCode: number = EXIT.ok;
  program!: Command;

  constructor(readonly io: Io) {}

  get globals(): Globals {
    return this.program.opts<Globals>();
  }

  out(lines: string | string[]): void {
    for (const line of typeof lines === 'string' ? [lines] : lines) this.io.out(line);
  }

  json(value: unknown): void {
    this.io.out(JSON.stringify(value, null, 2));
  }

  api(): Api {
    const { url, functionKey } = this.globals;
    return new Api({ url, functionKey, fetch: this.io.fetch ?? ((...a) => fetch(...a)) });
  }

  private sampleDir(): string {
    return resolve(this.globals.dataDir, 'consortium');
  }

  private as(): string | undefined {
    const { as } = this.globals;
    return as === undefined ? undefined : checkMemberId(as, '--as');
  }

  /** --consortium, else the local sample's name when signing --as a founder. */
  consortium(): string {
    const { consortium } = this.globals;
    if (consortium) return consortium;
    if (this.as()) {
      const file = join(this.sampleDir(), 'consortium.json');
      let config: unknown;
      try {
        config = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? 'not JSON';
        throw usageError(
          `cannot read the sample consortium ${file}: ${why} (npm start writes it; or pass --data-dir or --consortium)`,
        );
      }
      const name = (config as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name) throw usageError(`${file} has no consortium "name"`);
      return name;
    }
    throw usageError(
      'name the consortium with --consortium <name> (or sign --as a founder of the local sample consortium)',
    );
  }

  /** The private key that signs: --key, else the local sample's key of --as. */
  async signingKey(purpose: string): Promise<SigningKey> {
    const { key, keyVaultKey } = this.globals;
    if (key && keyVaultKey) throw usageError('give --key or --key-vault-key, not both');
    if (keyVaultKey) return openVaultKey(keyVaultKey, this.io.vault);
    if (key) return readPrivateKey(key);
    const as = this.as();
    if (as) {
      try {
        return await readPrivateKey(sampleKeyFile(join(this.sampleDir(), 'keys'), as));
      } catch (e) {
        if (e instanceof CliError)
          throw usageError(`${e.message} (--as uses the local sample's keys; pass --data-dir or --key)`);
        throw e;
      }
    }
    throw usageError(`${purpose} needs --key <private jwk file>, --key-vault-key <key id> or --as <founder>`);
  }

  /** The signing member's id: --member, else --as. */
  memberId(): string {
    const { member } = this.globals;
    const as = this.as();
    if (member !== undefined) checkMemberId(member, '--member');
    if (member !== undefined && as !== undefined && member !== as)
      throw usageError(`--as ${as} and --member ${member} name different members`);
    const id = member ?? as;
    if (!id) throw usageError('name the signing member with --member <id> (and --key) or --as <founder>');
    return id;
  }

  /** Everything a member-signed command needs, checked before any request is sent. */
  async member(purpose: string) {
    const consortium = this.consortium();
    const id = this.memberId();
    const key = await this.signingKey(purpose);
    const api = this.api();
    const now = await api.platformClock();
    return { consortium, id, key, api, now };
  }

  /**
   * A signed action a member takes on itself (channels, scaling, profile): `{ consortium, action, subject,
   * actor, issuedAt, ...fields }` with kid = the member. `<member>` is the signer; --as or --member, when
   * given, must name the same one.
   */
  async selfAction(
    subject: string,
    action: string,
    fields: (now: Date) => Record<string, unknown>,
  ): Promise<{ api: Api; jws: string }> {
    const { member } = this.globals;
    const as = this.as();
    if (member !== undefined) checkMemberId(member, '--member');
    for (const [flag, v] of [
      ['--member', member],
      ['--as', as],
    ] as const)
      if (v !== undefined && v !== subject)
        throw usageError(`${flag} ${v} cannot sign ${action} for ${subject}: a member signs its own`);
    const consortium = this.consortium();
    const key = await this.signingKey(action);
    const api = this.api();
    const now = (await api.platformClock())();
    const payload = {
      consortium,
      action,
      subject,
      actor: subject,
      issuedAt: now.toISOString(),
      ...fields(now),
    };
    return { api, jws: await sign(payload, key, { kid: subject }) };
  }
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command answers --help, and reports a usage error as one line; run() turns it into exit 2. */
function configure(cmd: Command, io: Io): Command {
  return cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
      outputError: (text, write) =>
        write(
          `trustnet: ${text
            .replace(/^error: /, '')
            .trim()
            .split(/\s*\n\s*/)
            .join(' ')} (see ${commandPath(cmd)} --help)\n`,
        ),
    });
}

/** A 404 for the wrong kind of ballot says which flag was meant. */
function ballotHint(e: unknown, proposal: boolean): unknown {
  if (!(e instanceof CliError)) return e;
  if (!proposal && e.code === 'REQUEST.NOT_FOUND')
    return new CliError(`${e.message} (for a proposal, add --proposal)`, e.exitCode, e.details, e.code);
  if (proposal && e.code === 'PROPOSAL.NOT_FOUND')
    return new CliError(
      `${e.message} (for a membership request, leave out --proposal)`,
      e.exitCode,
      e.details,
    );
  return e;
}

function readJsonFile(path: string): { file: string; value: unknown } {
  const file = resolve(path);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError(code ? `cannot read ${file}: ${code}` : `${file} is not JSON: ${(e as Error).message}`);
  }
  return { file, value };
}

function readApplicant(path: string): Record<string, unknown> {
  const { file, value } = readJsonFile(path);
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(value)) throw usageError(`${file} must hold { "applicant": {...} } or the applicant object`);
  const applicant = 'applicant' in value ? value['applicant'] : value;
  if (!isObject(applicant)) throw usageError(`${file}: "applicant" must be an object`);
  return applicant;
}

async function watch(
  session: Session,
  api: Api,
  path: string,
  kind: 'request' | 'proposal',
  every: number,
  asJson: boolean,
) {
  const { io } = session;
  let bar: SingleBar | undefined;
  let last = '';
  let body: BallotView;
  try {
    for (;;) {
      body = (await api.get(path)) as BallotView;
      const t: Tally = body.tally ?? { approve: 0, reject: 0, eligible: 0, required: 0 };
      const payload = { phase: clean(body.phase).padEnd(12), reject: t.reject, eligible: t.eligible };
      if (asJson) {
        // Only the final answer is printed, so the output stays one JSON document.
      } else if (io.tty) {
        if (!bar) {
          bar = new SingleBar({
            stream: io.tty,
            format:
              '{phase} [{bar}] {value}/{total} approvals required, {reject} reject, {eligible} eligible',
            barCompleteChar: '\u2588',
            barIncompleteChar: '\u2591',
            barsize: 24,
            hideCursor: false,
            gracefulExit: false,
            linewrap: false,
            fps: 10,
          });
          bar.start(Math.max(t.required, 1), t.approve, payload);
        } else {
          bar.setTotal(Math.max(t.required, 1));
          bar.update(t.approve, payload);
        }
      } else {
        const line = watchLine(body);
        if (line !== last) io.out(line);
        last = line;
      }
      if (!stillMoving(body, kind)) break;
      await sleep(every);
    }
  } finally {
    bar?.stop();
  }
  if (asJson) session.json(body);
  else session.out(statusLines(body, kind));
  if (FAILED_PHASES.has(body.phase)) session.exitCode = EXIT.refused;
}

/** audit-verify's one line of result as JSON. */
function auditSummary(text: string): Record<string, unknown> {
  const ok = /^audit log verified: (\d+) entries, head (\S+)$/.exec(text);
  if (ok) return { verified: true, entries: Number(ok[1]), head: ok[2] };
  const broken = /^audit log BROKEN at entry (\S+): (.*)$/s.exec(text);
  if (broken) return { verified: false, brokenAt: Number(broken[1]), reason: broken[2] };
  return { verified: false, output: text };
}

/** Scaling-policy errors point into the policy: name the file, as `policy.json#/windows/0/from`. */
function inPolicyFile(e: unknown, file: string): unknown {
  if (!(e instanceof CliError) || !e.details.length) return e;
  const policyCode = /SCALING|POLICY/i.test(e.code ?? '');
  const details = e.details.map((line) => {
    const m = /^ {2}(\/[^:]*|\/): (.*)$/.exec(line);
    if (!m) return line;
    const pointer = m[1]!;
    if (pointer === '/policy' || pointer.startsWith('/policy/'))
      return `  ${file}#${pointer.slice('/policy'.length) || '/'}: ${m[2]}`;
    return policyCode ? `  ${file}#${pointer}: ${m[2]}` : line;
  });
  return new CliError(e.message, e.exitCode, details, e.code);
}

function build(session: Session): Command {
  const { io } = session;
  const program = configure(new Command('trustnet'), io)
    .description(
      'Take part in a TrustNet consortium: ask to join, vote, propose, rotate keys and follow decisions.\n' +
        "Every request and vote is signed here with your governance key, on the platform's clock.",
    )
    .version(version(), '-V, --version')
    .addOption(new Option('--url <base>', "TrustNet's base address").env('TRUSTNET_URL').default(DEFAULT_URL))
    .addOption(
      new Option('--function-key <key>', 'Azure Functions key, sent as x-functions-key').env(
        'TRUSTNET_FUNCTION_KEY',
      ),
    )
    .option('--key <file>', 'private JWK file to sign with')
    .addOption(
      new Option(
        '--key-vault-key <key id>',
        'sign with an EC P-256 key held in your Key Vault, by its key id (https://<vault>.vault.azure.net/keys/<name>); the private key never leaves the vault',
      ).env('TRUSTNET_KEY_VAULT_KEY'),
    )
    .option(
      '--as <founder>',
      'sign as a founder of the local sample consortium (its key and consortium name)',
    )
    .option('--member <id>', 'the signing member (default: --as)')
    .addOption(
      new Option('--consortium <name>', "consortium name (default with --as: the local sample's)").env(
        'TRUSTNET_CONSORTIUM',
      ),
    )
    .option('--data-dir <dir>', 'where npm start keeps the local sample consortium', '.trustnet')
    .addHelpText(
      'after',
      `
Exit status: 0 done, 1 refused by the server (or a watched ballot not approved), 2 bad usage or an
unreadable file, 3 the server could not be reached.

Examples:
  trustnet keys generate --out keys --name bank-d
  trustnet request bank-d.json --key keys/bank-d.private.jwk.json --consortium "TrustNet Local"
  trustnet vote <id> approve --reason "KYC done" --as bank-a
  trustnet status <id> --watch
  trustnet members
  trustnet vote <id> approve --reason "ok" --member bank-d --key-vault-key https://kv-d.vault.azure.net/keys/gov
  trustnet channels bank-a --email ops@bank-a.example --no-teams --as bank-a
  trustnet profile bank-a Large --until PT8H --as bank-a
  trustnet cost
  trustnet audit verify`,
    );
  session.program = program;
  const add = (parent: Command, name: string) => configure(parent.command(name), io);

  // keys generate
  const keys = add(program, 'keys').description('governance key files');
  add(keys, 'generate')
    .description(
      'make a new P-256 (ES256) key pair: <name>.private.jwk.json (mode 600) and <name>.public.jwk.json',
    )
    .requiredOption('--out <dir>', 'folder for the key files (created if missing)')
    .option('--name <name>', 'file name prefix', 'governance')
    .option('--json', 'print the file names, public key and thumbprint as JSON')
    .action(async (o: { out: string; name: string; json?: boolean }) => {
      const made = await generateKeyFiles(o.out, o.name);
      if (o.json) return session.json(made);
      session.out([
        `private key: ${made.privateFile} (mode 600: keep it secret, it never leaves this machine)`,
        `public key:  ${made.publicFile}`,
        `thumbprint:  ${made.thumbprint}`,
      ]);
    });

  add(keys, 'public')
    .description(
      'show the public key of the signing key (--key, --key-vault-key or --as), e.g. to rotate to a key held in Key Vault',
    )
    .option('--out <file>', 'also write it as a public JWK file (never overwrites)')
    .option('--json', 'print the public JWK, thumbprint and where the key is as JSON')
    .action(async (o: { out?: string; json?: boolean }) => {
      const key = await session.signingKey('keys public');
      const print = await thumbprint(key.publicJwk);
      const publicJwk = { ...key.publicJwk, alg: key.alg };
      let written: string | undefined;
      if (o.out !== undefined) {
        written = resolve(o.out);
        try {
          writeFileSync(written, JSON.stringify(publicJwk, null, 2) + '\n', { flag: 'wx' });
        } catch (e) {
          throw usageError(
            `cannot write ${written}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          );
        }
      }
      const source = key.kind === 'file' ? { file: key.file } : { keyId: key.keyId };
      if (o.json)
        return session.json({
          ...source,
          publicJwk,
          thumbprint: print,
          ...(written ? { publicFile: written } : {}),
        });
      session.out([
        key.kind === 'file' ? `key file:   ${key.file}` : `vault key:  ${key.keyId}`,
        `thumbprint: ${print}`,
        `public JWK: ${JSON.stringify(publicJwk)}`,
        ...(written ? [`written to: ${written}`] : []),
      ]);
    });

  // request
  add(program, 'request')
    .description('ask to join: sign the applicant in <file> with --key and submit it')
    .argument('<file>', 'JSON file: { "applicant": {...} } or the applicant object itself')
    .option(
      '--request-id <uuid>',
      'the request id (default: a new one); resubmitting with the same id is safe',
    )
    .option('--json', "print the server's JSON answer")
    .action(async (file: string, o: { requestId?: string; json?: boolean }) => {
      const applicant = readApplicant(file);
      const requestId = o.requestId === undefined ? randomUUID() : checkId(o.requestId, '--request-id');
      const consortium = session.consortium();
      const key = await session.signingKey('request');
      const api = session.api();
      const now = await api.platformClock();
      const payload = { consortium, requestId, applicant, issuedAt: now().toISOString() };
      const body = (await api.post(
        '/api/membership-requests',
        await sign(payload, key, { jwk: key.publicJwk }),
      )) as { id: string; statusUrl: string };
      if (o.json) return session.json(body);
      session.out([
        `request ${clean(body.id)} submitted for ${clean(applicant['id'] ?? '?')}`,
        `status:  ${clean(body.statusUrl)}`,
        `follow it with: trustnet status ${clean(body.id)} --watch`,
      ]);
    });

  // vote
  add(program, 'vote')
    .description('vote on a membership request (or, with --proposal, on a proposal), signed as a member')
    .argument('<id>', 'the request or proposal id')
    .addArgument(new Argument('<decision>', 'approve or reject').choices(['approve', 'reject']))
    .requiredOption('--reason <text>', 'why; recorded with the vote')
    .option('--proposal', 'vote on a proposal rather than a membership request')
    .option('--json', "print the server's JSON answer")
    .action(
      async (id: string, decision: string, o: { reason: string; proposal?: boolean; json?: boolean }) => {
        checkId(id, o.proposal ? 'proposal' : 'request');
        const { consortium, id: voter, key, api, now } = await session.member('vote');
        const payload = {
          consortium,
          requestId: id,
          voter,
          decision,
          reason: o.reason,
          issuedAt: now().toISOString(),
        };
        const path = `/api/${o.proposal ? 'proposals' : 'membership-requests'}/${encodeURIComponent(id)}/votes`;
        let body: { voter: string; decision: string; tally: Tally };
        try {
          body = (await api.post(path, await sign(payload, key, { kid: voter }))) as typeof body;
        } catch (e) {
          throw ballotHint(e, o.proposal === true);
        }
        if (o.json) return session.json(body);
        session.out(
          `${clean(body.voter)} voted ${clean(body.decision)} on ${o.proposal ? 'proposal' : 'request'} ${id}: ${tallyText(body.tally)}`,
        );
      },
    );

  // withdraw
  add(program, 'withdraw')
    .description("withdraw your membership request, signed with the applicant's key (--key)")
    .argument('<id>', 'the request id')
    .option('--applicant <id>', 'the applicant id (default: read from the request)')
    .option('--json', "print the server's JSON answer")
    .action(async (id: string, o: { applicant?: string; json?: boolean }) => {
      checkId(id, 'request');
      if (o.applicant !== undefined) checkMemberId(o.applicant, '--applicant');
      const consortium = session.consortium();
      const key = await session.signingKey('withdraw');
      const api = session.api();
      const path = `/api/membership-requests/${encodeURIComponent(id)}`;
      const applicant = o.applicant ?? String(((await api.get(path)) as BallotView).applicant?.id ?? '');
      const now = await api.platformClock();
      const payload = {
        consortium,
        action: 'withdraw',
        subject: id,
        actor: applicant,
        issuedAt: now().toISOString(),
      };
      const body = (await api.post(`${path}/withdraw`, await sign(payload, key, { jwk: key.publicJwk }))) as {
        statusUrl?: string;
      };
      if (o.json) return session.json(body);
      session.out(`withdrawal of request ${id} accepted; status: ${clean(body.statusUrl ?? '')}`);
    });

  // propose
  add(program, 'propose')
    .description('propose to suspend, reinstate, remove a member or replace its key; members then vote')
    .argument('<member>', 'the member the proposal is about')
    .addArgument(new Argument('<action>', PROPOSAL_ACTIONS.join(', ')).choices(PROPOSAL_ACTIONS))
    .requiredOption('--reason <text>', 'why; shown to the members who vote')
    .option('--new-key <file>', 'public JWK file: the replacement key (replace-key only)')
    .option('--json', "print the server's JSON answer")
    .action(
      async (subject: string, action: string, o: { reason: string; newKey?: string; json?: boolean }) => {
        checkMemberId(subject, 'member');
        if ((action === 'replace-key') !== (o.newKey !== undefined))
          throw usageError(
            action === 'replace-key'
              ? 'replace-key needs --new-key <public jwk file>'
              : `--new-key goes only with replace-key`,
          );
        const newKey: JWK | undefined = o.newKey === undefined ? undefined : readPublicKey(o.newKey);
        const { consortium, id, key, api, now } = await session.member('propose');
        const payload = {
          consortium,
          action,
          subject,
          actor: id,
          reason: o.reason,
          issuedAt: now().toISOString(),
          ...(newKey ? { newKey } : {}),
        };
        const body = (await api.post(
          `/api/members/${encodeURIComponent(subject)}/proposals`,
          await sign(payload, key, { kid: id }),
        )) as { id: string; statusUrl: string };
        if (o.json) return session.json(body);
        session.out([
          `proposal ${clean(body.id)} opened: ${action} ${subject}`,
          `status:   ${clean(body.statusUrl)}`,
          `vote with: trustnet vote ${clean(body.id)} approve --proposal --reason <text>`,
        ]);
      },
    );

  // rotate-key
  add(program, 'rotate-key')
    .description("replace the signing member's governance key, signed with its current key")
    .requiredOption('--new-key <file>', 'public JWK file of the new key')
    .option('--json', "print the server's JSON answer")
    .action(async (o: { newKey: string; json?: boolean }) => {
      const newKey = readPublicKey(o.newKey);
      const { consortium, id, key, api, now } = await session.member('rotate-key');
      const payload = {
        consortium,
        action: 'rotate-key',
        subject: id,
        actor: id,
        newKey,
        issuedAt: now().toISOString(),
      };
      const body = (await api.post(
        `/api/members/${encodeURIComponent(id)}/keys`,
        await sign(payload, key, { kid: id }),
      )) as {
        keyThumbprint?: string;
        previousKeyThumbprint?: string;
      };
      if (o.json) return session.json(body);
      session.out(
        `${id} now signs with key ${clean(body.keyThumbprint ?? '?')} (was ${clean(body.previousKeyThumbprint ?? '?')}); sign with its private key from now on`,
      );
    });

  // channels
  add(program, 'channels')
    .description(
      "set a member's notification email and Teams webhook (signed by it); without options, show them",
    )
    .argument('<member>', 'the member; it signs for itself')
    .option('--email <list>', 'comma-separated email addresses; replaces the current ones')
    .option(
      '--teams-webhook <url>',
      'Teams Workflows webhook URL (kept in Key Vault, only ever shown masked)',
    )
    .option('--no-teams', 'remove the Teams webhook')
    .option('--json', "print the server's JSON answer")
    .action(
      async (
        member: string,
        o: { email?: string; teamsWebhook?: string; teams: boolean; json?: boolean },
      ) => {
        checkMemberId(member, 'member');
        const path = `/api/members/${encodeURIComponent(member)}`;
        if (o.email === undefined && o.teamsWebhook === undefined && o.teams) {
          const view = (await session.api().get(path)) as { channels?: ChannelsView };
          if (o.json) return session.json(view.channels ?? null);
          return session.out(channelsLines(member, view.channels));
        }
        if (o.email === undefined)
          throw usageError('setting channels replaces them all: give --email <list> too');
        if (o.teamsWebhook !== undefined && !o.teams)
          throw usageError('give --teams-webhook <url> or --no-teams, not both');
        if (o.teamsWebhook === undefined && o.teams)
          throw usageError(
            'setting channels replaces the Teams webhook too: give --teams-webhook <url> or --no-teams',
          );
        const email = o.email
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean);
        if (!email.length) throw usageError('--email needs at least one address');
        for (const a of email)
          if (!EMAIL.test(a)) throw usageError(`--email: ${clean(a)} is not an email address`);
        if (new Set(email.map((a) => a.toLowerCase())).size !== email.length)
          throw usageError('--email lists an address twice');
        const webhook = o.teamsWebhook ?? null;
        if (webhook !== null && !/^https?:\/\/[^\s/]+\/\S*$/i.test(webhook))
          // The URL is a secret (whoever has it can post to the channel): not repeated here.
          throw usageError('--teams-webhook is not an http(s) URL (not shown: a webhook URL is a secret)');
        const { api, jws } = await session.selfAction(member, 'set-channels', () => ({
          channels: { email, teamsWebhook: webhook },
        }));
        const body = (await api.put(`${path}/channels`, jws)) as { id?: string; channels?: ChannelsView };
        if (o.json) return session.json(body);
        session.out(channelsLines(String(body.id ?? member), body.channels));
      },
    );

  // scaling
  add(program, 'scaling')
    .description("show a member's scaling, or set its scaling policy from a JSON file (signed by it)")
    .argument('<member>', 'the member; it signs for itself')
    .option(
      '--policy <file>',
      'JSON file: the scaling policy (time zone, default profile, windows, load rule)',
    )
    .option('--json', "print the server's JSON answer")
    .action(async (member: string, o: { policy?: string; json?: boolean }) => {
      checkMemberId(member, 'member');
      const path = `/api/members/${encodeURIComponent(member)}`;
      if (o.policy === undefined) {
        const view = (await session.api().get(path)) as { scaling?: unknown };
        if (o.json) return session.json(view.scaling ?? null);
        if (view.scaling === undefined || view.scaling === null)
          return session.out(`${member} has no scaling view yet`);
        return session.out([`Scaling of ${member}`, ...fieldLines(view.scaling, '  ')]);
      }
      const { file, value: policy } = readJsonFile(o.policy);
      if (policy === null || typeof policy !== 'object' || Array.isArray(policy))
        throw usageError(`${file} must hold the scaling policy object`);
      const { api, jws } = await session.selfAction(member, 'set-scaling', () => ({ policy }));
      let body: unknown;
      try {
        body = await api.put(`${path}/scaling`, jws);
      } catch (e) {
        throw inPolicyFile(e, file);
      }
      if (o.json) return session.json(body);
      session.out([`${member} scaling policy set from ${file}`, ...fieldLines(body, '  ')]);
    });

  // profile
  add(program, 'profile')
    .description('run a member at a cost profile until a given time, over its schedule (signed by it)')
    .argument('<member>', 'the member; it signs for itself')
    .addArgument(new Argument('<profile>', PROFILES.join(', ')).choices(PROFILES))
    .requiredOption(
      '--until <when>',
      "when the override ends: a date-time with a zone, or a duration from the platform's now (PT8H, P1D)",
    )
    .option('--json', "print the server's JSON answer")
    .action(async (member: string, profile: string, o: { until: string; json?: boolean }) => {
      checkMemberId(member, 'member');
      checkUntil(o.until);
      let expiresAt = '';
      const { api, jws } = await session.selfAction(member, 'set-profile', (now) => {
        expiresAt = untilDate(o.until, now).toISOString();
        return { profile, expiresAt };
      });
      const body = await api.post(`/api/members/${encodeURIComponent(member)}/profile`, jws);
      if (o.json) return session.json(body);
      session.out(`${member} runs ${profile} until ${expiresAt}, then follows its schedule again`);
    });

  // cost
  add(program, 'cost')
    .description(
      "this month's cost of the consortium or of one member: to date, projected, and against static Large",
    )
    .argument('[member]', 'one member (default: the whole consortium)')
    .option('--json', "print the server's JSON answer")
    .action(async (member: string | undefined, o: { json?: boolean }) => {
      if (member !== undefined) checkMemberId(member, 'member');
      const path = member === undefined ? '/api/cost' : `/api/members/${encodeURIComponent(member)}/cost`;
      const body = (await session.api().get(path)) as CostView;
      if (o.json) return session.json(body);
      session.out(costTable(body));
    });

  // status
  add(program, 'status')
    .description('show a membership request (or, with --proposal, a proposal): phase, tally, deadline, votes')
    .argument('<id>', 'the request or proposal id')
    .option('--proposal', 'show a proposal rather than a membership request')
    .option(
      '--watch',
      'follow it until voting ends: exit 0 if approved, 1 if rejected, expired, withdrawn or failed',
    )
    .option('--interval <ms>', 'how often --watch asks', interval, 1000)
    .option('--json', "print the server's JSON answer")
    .action(
      async (id: string, o: { proposal?: boolean; watch?: boolean; interval: number; json?: boolean }) => {
        const kind = o.proposal ? 'proposal' : 'request';
        checkId(id, kind);
        const api = session.api();
        const path = `/api/${o.proposal ? 'proposals' : 'membership-requests'}/${encodeURIComponent(id)}`;
        try {
          if (o.watch) return await watch(session, api, path, kind, o.interval, o.json === true);
          const body = (await api.get(path)) as BallotView;
          if (o.json) return session.json(body);
          session.out(statusLines(body, kind));
        } catch (e) {
          throw ballotHint(e, o.proposal === true);
        }
      },
    );

  // members
  add(program, 'members')
    .description('list the members: id, status, legal name, region and key thumbprint')
    .option('--json', 'print the members as JSON, as the server sends them')
    .action(async (o: { json?: boolean }) => {
      const items = (await session.api().all('/api/members')) as MemberView[];
      if (o.json) return session.json(items);
      session.out(membersTable(items));
    });

  // audit verify
  const audit = add(program, 'audit').description("TrustNet's hash-chained audit log");
  add(audit, 'verify')
    .description('check the audit log: its hash chain and every signed request, vote and proposal in it')
    .option(
      '--file <path>',
      'check a saved log (a GET /api/audit page or an array of entries) instead of --url',
    )
    .option(
      '--json',
      'print the result as JSON: { verified, entries, head } or { verified, brokenAt, reason }',
    )
    .action(async (o: { file?: string; json?: boolean }) => {
      let unreachable = false;
      const lines: string[] = [];
      const { functionKey } = session.globals;
      const base = session.api().base;
      const send = io.fetch ?? ((...a) => fetch(...a));
      const code = await auditVerify(o.file !== undefined ? ['--file', o.file] : ['--url', base], {
        out: (line) => (o.json ? lines.push(line) : io.out(line)),
        err: (line) => io.err(line.replace(/^audit-verify: /, 'trustnet: ')),
        fetch: async (input, init) => {
          const headers = new Headers(init?.headers);
          if (functionKey) headers.set('x-functions-key', functionKey);
          try {
            return await send(input, { ...init, headers });
          } catch (e) {
            unreachable = true;
            throw e;
          }
        },
      });
      session.exitCode = code === EXIT.usage && unreachable ? EXIT.unreachable : code;
      if (o.json && lines.length) session.json(auditSummary(lines.join('\n')));
    });

  return program;
}

/** Runs `trustnet` with the user's arguments (process.argv without node and the script); the exit status. */
export async function run(argv: string[], io: Io): Promise<number> {
  const session = new Session(io);
  const program = build(session);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return session.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      io.err(`trustnet: ${e.message}`);
      for (const line of e.details) io.err(line);
      return e.exitCode;
    }
    io.err(`trustnet: ${clean((e as Error)?.message ?? e)}`);
    return EXIT.refused;
  }
}
