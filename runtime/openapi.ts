import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appVersion } from './version';

/**
 * The API description (OpenAPI 3.1), built from the JSON Schemas in schemas/ and the operation table
 * below, served at GET /api/openapi.json. A test holds the table and the app's routes together, and
 * checks that every problem code the handlers raise is documented.
 *
 * Signed routes take `application/jose`: a compact JWS whose decoded payload is the named schema; the
 * description says which header (`jwk` for an applicant, `kid` for a member) names the key.
 */

type Method = 'get' | 'post' | 'put';

interface Operation {
  method: Method;
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** A signed body: the payload schema and who signs. */
  signed?: { payload: string; by: 'applicant' | 'member' };
  query?: { name: string; description: string; schema: object }[];
  /** Success status and what the body is. */
  ok: { status: number; description: string; contentType?: string };
  /** Problem answers: status → codes (with what each means, briefly). */
  problems: Record<number, string[]>;
}

const SIGNED_PROBLEMS: Record<number, string[]> = {
  400: ['SCHEMA.INVALID', 'CONSORTIUM.MISMATCH', 'CLOCK.SKEW', 'PAYLOAD.MISMATCH'],
  401: ['JWS.INVALID', 'JWS.SIGNATURE'],
  413: ['HOST.BODY_TOO_LARGE'],
  415: ['MEDIA.UNSUPPORTED'],
};
const ALWAYS: Record<number, string[]> = {
  500: ['INTERNAL'],
  503: ['STORAGE.FAILED', 'CONFIG.MISSING', 'CONFIG.INVALID'],
};
const PAGE_QUERY = [
  {
    name: 'limit',
    description: 'Page size, 1 to 1000 (default 100).',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
  },
  { name: 'continuation', description: 'Token from the previous page.', schema: { type: 'string' } },
];

export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/api/health',
    operationId: 'health',
    summary: 'Liveness and what the platform can reach (storage, consortium file).',
    tag: 'platform',
    ok: { status: 200, description: 'Healthy; 503 with the same body when a dependency is down.' },
    problems: {},
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    operationId: 'openApi',
    summary: 'This description.',
    tag: 'platform',
    ok: { status: 200, description: 'OpenAPI 3.1 document.' },
    problems: {},
  },
  {
    method: 'post',
    path: '/api/membership-requests',
    operationId: 'membershipRequestCreate',
    summary: 'A bank asks to join (signed by its own key, carried in the `jwk` header).',
    tag: 'governance',
    signed: { payload: 'membership-request', by: 'applicant' },
    ok: {
      status: 202,
      description: '`{ id, statusUrl }`, Location header; the same request again answers the same.',
    },
    problems: {
      409: ['REQUEST.CONFLICT', 'ID.TAKEN', 'NAME.TAKEN', 'ADDRESS.OVERLAP'],
      429: ['REQUEST.LIMIT'],
    },
  },
  {
    method: 'get',
    path: '/api/membership-requests',
    operationId: 'membershipRequestList',
    summary: 'Membership requests, newest first, optionally by phase.',
    tag: 'governance',
    query: [
      {
        name: 'phase',
        description: 'Only requests in this phase.',
        schema: {
          enum: [
            'voting',
            'approved',
            'rejected',
            'expired',
            'withdrawn',
            'provisioning',
            'active',
            'failed',
          ],
        },
      },
      ...PAGE_QUERY,
    ],
    ok: { status: 200, description: '`{ items, continuation }`.' },
    problems: { 400: ['QUERY.INVALID'] },
  },
  {
    method: 'get',
    path: '/api/membership-requests/{id}',
    operationId: 'membershipRequestGet',
    summary: 'A request: applicant, phase, tally, deadline, votes and provisioning steps.',
    tag: 'governance',
    ok: { status: 200, description: 'The request.' },
    problems: { 404: ['REQUEST.NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/api/membership-requests/{id}/votes',
    operationId: 'membershipRequestVote',
    summary: "A member's vote, signed with its governance key (`kid` = member id).",
    tag: 'governance',
    signed: { payload: 'vote', by: 'member' },
    ok: { status: 202, description: '`{ id, voter, decision, tally }`.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE', 'VOTER.IS_SUBJECT'],
      404: ['REQUEST.NOT_FOUND'],
      409: ['VOTE.DUPLICATE', 'VOTE.CLOSED'],
    },
  },
  {
    method: 'post',
    path: '/api/membership-requests/{id}/withdraw',
    operationId: 'membershipRequestWithdraw',
    summary: 'The applicant withdraws its request (signed action `withdraw`, `jwk` header).',
    tag: 'governance',
    signed: { payload: 'action', by: 'applicant' },
    ok: { status: 202, description: '`{ id, statusUrl }`.' },
    problems: { 403: ['ACTOR.NOT_APPLICANT'], 404: ['REQUEST.NOT_FOUND'], 409: ['VOTE.CLOSED'] },
  },
  {
    method: 'post',
    path: '/api/membership-requests/{id}/retry',
    operationId: 'membershipRequestRetry',
    summary: 'Resume a failed onboarding from its failed step (signed action `retry` by an ACTIVE member).',
    tag: 'provisioning',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 202, description: '`{ id, statusUrl }`.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['REQUEST.NOT_FOUND'],
      409: ['PROVISIONING.NOT_FAILED'],
    },
  },
  {
    method: 'post',
    path: '/api/membership-requests/{id}/abandon',
    operationId: 'membershipRequestAbandon',
    summary: 'Tear down a failed onboarding (signed action `abandon` by an ACTIVE member).',
    tag: 'provisioning',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 202, description: '`{ id, statusUrl }`.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['REQUEST.NOT_FOUND'],
      409: ['PROVISIONING.NOT_FAILED'],
    },
  },
  {
    method: 'get',
    path: '/api/members',
    operationId: 'memberList',
    summary: 'Members with status and public key.',
    tag: 'members',
    query: PAGE_QUERY,
    ok: { status: 200, description: '`{ items, continuation }`.' },
    problems: { 400: ['QUERY.INVALID'] },
  },
  {
    method: 'get',
    path: '/api/members/{id}',
    operationId: 'memberGet',
    summary: 'One member: status, key, profile, channels (masked, with health).',
    tag: 'members',
    ok: { status: 200, description: 'The member.' },
    problems: { 404: ['MEMBER.NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/api/members/{id}/keys',
    operationId: 'memberKeys',
    summary: 'Rotate a member’s governance key (signed action `rotate-key` with its current key).',
    tag: 'members',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 200, description: '`{ id, keyThumbprint, previousKeyThumbprint }`.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['MEMBER.NOT_FOUND'],
      409: ['REQUEST.CONFLICT'],
    },
  },
  {
    method: 'put',
    path: '/api/members/{id}/channels',
    operationId: 'memberChannels',
    summary:
      'A member sets its notification channels (signed action `set-channels`); the webhook URL is kept in Key Vault.',
    tag: 'notifications',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 200, description: '`{ id, channels }` with the webhook masked.' },
    problems: {
      400: ['CHANNEL.INVALID'],
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['MEMBER.NOT_FOUND'],
    },
  },
  {
    method: 'post',
    path: '/api/members/{id}/proposals',
    operationId: 'memberPropose',
    summary: 'Propose to suspend, reinstate, remove a member or replace its key; voted like a request.',
    tag: 'governance',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 202, description: '`{ id, statusUrl }`, Location header.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE', 'VOTER.IS_SUBJECT'],
      404: ['MEMBER.NOT_FOUND'],
      409: ['REQUEST.CONFLICT'],
    },
  },
  {
    method: 'get',
    path: '/api/proposals/{id}',
    operationId: 'proposalGet',
    summary: 'A proposal: action, subject, phase, tally, votes.',
    tag: 'governance',
    ok: { status: 200, description: 'The proposal.' },
    problems: { 404: ['PROPOSAL.NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/api/proposals/{id}/votes',
    operationId: 'proposalVote',
    summary: 'A vote on a proposal (payload as a request vote; `requestId` names the proposal).',
    tag: 'governance',
    signed: { payload: 'vote', by: 'member' },
    ok: { status: 202, description: '`{ id, voter, decision, tally }`.' },
    problems: {
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE', 'VOTER.IS_SUBJECT'],
      404: ['PROPOSAL.NOT_FOUND'],
      409: ['VOTE.DUPLICATE', 'VOTE.CLOSED'],
    },
  },
  {
    method: 'put',
    path: '/api/members/{id}/scaling',
    operationId: 'memberScalingSet',
    summary:
      'A member sets its scaling policy (signed action `set-scaling` with `policy`: time zone, default profile, schedule windows, load rule).',
    tag: 'scaling',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 200, description: 'The policy, the profile it gives now and its next change.' },
    problems: {
      400: ['SCALING_POLICY.INVALID'],
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['MEMBER.NOT_FOUND'],
    },
  },
  {
    method: 'post',
    path: '/api/members/{id}/profile',
    operationId: 'memberProfileSet',
    summary: 'A member overrides its profile until `expiresAt` (signed action `set-profile`).',
    tag: 'scaling',
    signed: { payload: 'action', by: 'member' },
    ok: { status: 200, description: 'The override and the desired profile.' },
    problems: {
      400: ['OVERRIDE.INVALID'],
      403: ['VOTER.NOT_MEMBER', 'VOTER.NOT_ACTIVE'],
      404: ['MEMBER.NOT_FOUND'],
    },
  },
  {
    method: 'get',
    path: '/api/members/{id}/cost',
    operationId: 'memberCost',
    summary:
      'A member’s VM-hours, monitoring and money this month so far and projected, against static Large.',
    tag: 'scaling',
    ok: { status: 200, description: 'The member’s cost.' },
    problems: { 404: ['MEMBER.NOT_FOUND'] },
  },
  {
    method: 'get',
    path: '/api/cost',
    operationId: 'consortiumCost',
    summary:
      'The consortium’s cost this month so far and projected, per member and in total, against static Large.',
    tag: 'scaling',
    ok: { status: 200, description: 'Per member and totals.' },
    problems: {},
  },
  {
    method: 'get',
    path: '/api/dashboard',
    operationId: 'dashboard',
    summary:
      'The live dashboard (HTML): members, requests with tallies, onboarding timelines, scaling, the audit log.',
    tag: 'platform',
    ok: { status: 200, description: 'An HTML page.', contentType: 'text/html' },
    problems: {},
  },
  {
    method: 'get',
    path: '/api/audit',
    operationId: 'auditList',
    summary: 'The hash-chained audit log, a page at a time (verify it with `trustnet audit verify`).',
    tag: 'audit',
    query: [
      {
        name: 'after',
        description: 'Only entries with a greater seq.',
        schema: { type: 'integer', minimum: -1 },
      },
      ...PAGE_QUERY,
    ],
    ok: { status: 200, description: '`{ items, continuation }`.' },
    problems: { 400: ['QUERY.INVALID'] },
  },
  {
    method: 'get',
    path: '/api/crl',
    operationId: 'crlGet',
    summary: 'The consortium CRL, signed by the doorman CA.',
    tag: 'provisioning',
    ok: { status: 200, description: 'DER.', contentType: 'application/pkix-crl' },
    problems: {},
  },
];

function schemasDir(): string {
  for (const rel of ['../../schemas', '../schemas']) {
    const dir = join(__dirname, rel);
    try {
      if (readdirSync(dir).some((f) => f.endsWith('.schema.json'))) return dir;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`schemas/ not found next to ${__dirname}`);
}

/** `urn:trustnet:schema:defs` → `defs`: the component name of each schema. */
const componentName = (id: string) => id.replace(/^urn:trustnet:schema:/, '');

let built: object | undefined;

export function openApiDocument(): object {
  if (built) return built;
  const dir = schemasDir();
  const schemas: Record<string, object> = {
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details, with a stable `code`.',
      required: ['type', 'title', 'status', 'code'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        code: { type: 'string' },
        detail: { type: 'string' },
        errors: {
          type: 'array',
          items: { type: 'object', properties: { pointer: { type: 'string' }, detail: { type: 'string' } } },
        },
      },
    },
  };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { $id: string };
    schemas[componentName(schema.$id)] = schema;
  }
  const paths: Record<string, Record<string, object>> = {};
  for (const op of OPERATIONS) {
    const problems: Record<number, string[]> = { ...ALWAYS, ...(op.signed ? SIGNED_PROBLEMS : {}) };
    for (const [status, codes] of Object.entries(op.problems))
      problems[Number(status)] = [...(problems[Number(status)] ?? []), ...codes];
    const responses: Record<string, object> = {
      [op.ok.status]: {
        description: op.ok.description,
        content: { [op.ok.contentType ?? 'application/json']: { schema: {} } },
      },
    };
    for (const [status, codes] of Object.entries(problems))
      responses[status] = {
        description: `Problem codes: ${codes.join(', ')}.`,
        content: {
          'application/problem+json': {
            schema: {
              allOf: [{ $ref: '#/components/schemas/Problem' }, { properties: { code: { enum: codes } } }],
            },
          },
        },
      };
    const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: [op.tag],
      parameters: [...pathParams, ...(op.query ?? []).map((q) => ({ ...q, in: 'query', required: false }))],
      ...(op.signed
        ? {
            requestBody: {
              required: true,
              description:
                `A compact JWS (ES256, or EdDSA for keys held outside Key Vault) whose payload is ` +
                `\`${op.signed.payload}\` (x-jws-payload). ` +
                (op.signed.by === 'applicant'
                  ? 'The protected header carries the applicant’s public key as `jwk`.'
                  : 'The protected header names the signing member as `kid`.'),
              content: {
                'application/jose': {
                  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' },
                  'x-jws-payload': { $ref: `#/components/schemas/${op.signed.payload}` },
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  built = {
    openapi: '3.1.0',
    info: {
      title: 'TrustNet',
      version: appVersion,
      description:
        'Provisioning and governance of a consortium’s private Corda network on Azure. Errors are application/problem+json with a stable `code`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: { schemas },
  };
  return built;
}
