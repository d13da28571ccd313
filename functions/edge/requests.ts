import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { JWK } from 'jose';
import { canonicalJson } from '../../core/audit';
import { findOverlap, parseCidr } from '../../core/cidr';
import { addDuration, parseDuration } from '../../core/duration';
import { activeMemberIds, claimsOf, type Applicant, type MembershipRequest } from '../../core/membership';
import { keyThumbprint, verifyJws } from '../../core/signed';
import { parseLegalName, sameLegalName, formatLegalName, LegalNameError } from '../../core/x500';
import { BALLOT_ORCHESTRATOR, type BallotRef } from '../../orchestrations/ballot';
import { nowMs } from '../../runtime/clock';
import { positiveIntSetting } from '../../runtime/settings';
import { absoluteUrl, badRequest, conflict, json, tooMany } from './http';
import { getConsortium, getRegistry } from './services';
import { checkPayload, readJws } from './signed';
import { expectBallots } from './vote';

export function fingerprint(payload: unknown, thumbprint: string): string {
  return createHash('sha256')
    .update(canonicalJson({ payload, key: thumbprint }))
    .digest('hex');
}

/** Starts the ballot's orchestration unless it runs already (instance id = ballot id; resubmissions land here). */
export async function startBallot(context: InvocationContext, ref: BallotRef): Promise<void> {
  const client = df.getClient(context);
  const status = await client.getStatus(ref.id).catch(() => undefined);
  if (status && status.runtimeStatus) return;
  try {
    await client.startNew(BALLOT_ORCHESTRATOR, { instanceId: ref.id, input: ref });
  } catch (e) {
    // Started by a concurrent identical submission: fine.
    if (!/409/.test(String((e as Error).message))) throw e;
  }
}

function accepted(request: HttpRequest, id: string): HttpResponseInit {
  const statusUrl = absoluteUrl(request, `/api/membership-requests/${id}`);
  return json(202, { id, statusUrl }, { location: statusUrl });
}

/**
 * POST /api/membership-requests: a bank asks to join. The request id is the ballot's instance id, so a
 * resubmission of the same signed payload lands on the same request.
 */
export async function submitRequest(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const parsed = await readJws(request, 'jwk');
  const key = parsed.jwk as JWK;
  await verifyJws(parsed, key);
  const config = getConsortium();
  const payload = parsed.payload;
  checkPayload('membership-request', payload, config.name);
  const applicant = payload['applicant'] as Applicant;
  const requestId = String(payload['requestId']);

  // What a schema cannot check: the legal name's grammar, the CIDR, the region.
  let legalName;
  try {
    legalName = parseLegalName(applicant.legalName);
  } catch (e) {
    if (!(e instanceof LegalNameError)) throw e;
    throw badRequest('SCHEMA.INVALID', 'The payload has 1 invalid field.', [
      { pointer: '/applicant/legalName', detail: e.message },
    ]);
  }
  let cidr;
  try {
    cidr = parseCidr(applicant.azure.addressSpace);
  } catch (e) {
    throw badRequest('SCHEMA.INVALID', 'The payload has 1 invalid field.', [
      { pointer: '/applicant/azure/addressSpace', detail: (e as Error).message },
    ]);
  }
  if (config.regions && !config.regions.includes(applicant.azure.region)) {
    throw badRequest('SCHEMA.INVALID', 'The payload has 1 invalid field.', [
      {
        pointer: '/applicant/azure/region',
        detail: `is not one of the consortium's regions (${config.regions.join(', ')})`,
      },
    ]);
  }

  const registry = await getRegistry();
  const thumbprint = await keyThumbprint(key);
  const print = fingerprint(payload, thumbprint);
  const existing = await registry.getRequest(requestId);
  if (existing) {
    if (existing.fingerprint !== print)
      throw conflict('REQUEST.CONFLICT', `Request ${requestId} exists with a different payload or key.`);
    await startBallot(context, { kind: 'request', id: requestId });
    return accepted(request, requestId);
  }

  const [members, open] = await Promise.all([registry.allMembers(), registry.openRequests()]);
  const live = members.filter((m) => m.status !== 'REMOVED');
  if (live.some((m) => m.id === applicant.id) || open.some((r) => r.applicant.id === applicant.id)) {
    throw conflict('ID.TAKEN', `Member id ${applicant.id} is taken.`);
  }
  const sameName = (other: string) => {
    try {
      return sameLegalName(parseLegalName(other), legalName);
    } catch {
      return false;
    }
  };
  if (live.some((m) => sameName(m.legalName)) || open.some((r) => sameName(r.applicant.legalName))) {
    throw conflict('NAME.TAKEN', `${formatLegalName(legalName)} is already a member or an applicant.`);
  }
  const spaces = [
    ...live.map((m) => ({ owner: m.id, cidr: parseCidr(m.azure.addressSpace) })),
    ...open.map((r) => ({ owner: r.applicant.id, cidr: parseCidr(r.applicant.azure.addressSpace) })),
  ];
  const clash = findOverlap(cidr, spaces);
  if (clash) throw conflict('ADDRESS.OVERLAP', `${cidr.text} overlaps ${clash.cidr.text} of ${clash.owner}.`);

  if (open.some((r) => r.phase === 'voting' && r.keyThumbprint === thumbprint)) {
    throw tooMany(
      'REQUEST.LIMIT',
      'This key already has an open membership request; withdraw it or wait for its decision.',
    );
  }
  const cap = positiveIntSetting('TRUSTNET_MAX_OPEN_REQUESTS', 20);
  if (open.filter((r) => r.phase === 'voting').length >= cap) {
    throw tooMany(
      'REQUEST.LIMIT',
      `The consortium already has ${cap} open membership requests (TRUSTNET_MAX_OPEN_REQUESTS); try again after some are decided.`,
    );
  }

  const openedAt = new Date(nowMs());
  const active = [...activeMemberIds(members)];
  const record: MembershipRequest = {
    kind: 'request',
    id: requestId,
    applicant: { ...applicant, legalName: formatLegalName(legalName) },
    applicantKey: key,
    keyThumbprint: thumbprint,
    fingerprint: print,
    phase: 'voting',
    policy: config.policy,
    eligible: active,
    openedAt: openedAt.toISOString(),
    deadline: addDuration(openedAt, parseDuration(config.votingWindow)).toISOString(),
    steps: [],
    jws: parsed.jws,
  };
  expectBallots(registry);
  // The request's claims on its id, name and key, created with it, make those checks exact under
  // concurrent submissions.
  const claims = claimsOf(applicant.id, formatLegalName(legalName), thumbprint);
  const { created, request: stored, taken } = await registry.createRequest(record, claims);
  if (taken === 'key') throw tooMany('REQUEST.LIMIT', 'This key already has an open membership request.');
  if (taken)
    throw conflict(
      taken === 'id' ? 'ID.TAKEN' : 'NAME.TAKEN',
      taken === 'id'
        ? `Member id ${applicant.id} is taken.`
        : `${formatLegalName(legalName)} is already an applicant.`,
    );
  if (!created && stored.fingerprint !== print)
    throw conflict('REQUEST.CONFLICT', `Request ${requestId} exists with a different payload or key.`);
  await startBallot(context, { kind: 'request', id: requestId });
  return accepted(request, requestId);
}
