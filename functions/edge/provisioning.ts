import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { verifyJws } from '../../core/signed';
import { ABANDON_EVENT, RETRY_EVENT, provisionInstanceId } from '../../orchestrations/provision';
import { nowMs } from '../../runtime/clock';
import { absoluteUrl, badRequest, conflict, forbidden, json, notFound } from './http';
import { getAudit, getConsortium, getRegistry } from './services';
import { checkPayload, readJws } from './signed';

/**
 * POST /api/membership-requests/{id}/retry and /abandon: any ACTIVE member decides what happens to an
 * onboarding that stopped (phase `failed`). Retry resumes from the failed step; abandon tears down what
 * was built. Signed like every action, and audited with the member's JWS.
 */
export function provisioningDecision(action: 'retry' | 'abandon') {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const parsed = await readJws(request, 'kid');
    const registry = await getRegistry();
    const signer = await registry.getMember(parsed.kid!);
    if (signer) await verifyJws(parsed, signer.governanceKey);
    const id = request.params['id']!;
    const found = await registry.getRequest(id);
    if (!found) throw notFound('REQUEST.NOT_FOUND', `No membership request ${id}.`);
    checkPayload('action', parsed.payload, getConsortium().name);
    const p = parsed.payload;
    if (p['action'] !== action)
      throw badRequest(
        'PAYLOAD.MISMATCH',
        `This route takes action "${action}"; the payload says "${String(p['action'])}".`,
      );
    if (p['subject'] !== id)
      throw badRequest(
        'PAYLOAD.MISMATCH',
        `The payload's subject (${String(p['subject'])}) is not ${id} from the URL.`,
      );
    if (p['actor'] !== parsed.kid)
      throw badRequest(
        'PAYLOAD.MISMATCH',
        `The payload's actor (${String(p['actor'])}) is not the signer named by kid (${String(parsed.kid)}).`,
      );
    if (!signer) throw forbidden('VOTER.NOT_MEMBER', `${parsed.kid} is not a member of this consortium.`);
    if (signer.status !== 'ACTIVE')
      throw forbidden(
        'VOTER.NOT_ACTIVE',
        `${signer.id} is ${signer.status} and cannot decide on onboarding.`,
      );
    if (found.phase !== 'failed')
      throw conflict(
        'PROVISIONING.NOT_FAILED',
        `Request ${id} is ${found.phase}; ${action} applies only to an onboarding that failed.`,
      );
    // A teardown that Azure refused part-way is finished by abandoning again; nothing else follows one.
    const teardown = (found.steps ?? []).find((s) => s.name === 'teardown');
    if (teardown && !(action === 'abandon' && teardown.state === 'failed'))
      throw conflict(
        'PROVISIONING.NOT_FAILED',
        teardown.state === 'succeeded'
          ? `Request ${id} was abandoned and torn down; the bank may apply again with a new request.`
          : teardown.state === 'failed'
            ? `Request ${id} is being abandoned and its teardown stopped part-way; abandon it again to finish.`
            : `Request ${id} is being torn down.`,
      );
    await (
      await getAudit()
    ).append(
      {
        kind: 'provisioning.decision',
        subject: id,
        actor: signer.id,
        jws: parsed.jws,
        data: { requestId: id, action },
      },
      () => new Date(nowMs()),
    );
    await df
      .getClient(context)
      .raiseEvent(provisionInstanceId(id), action === 'retry' ? RETRY_EVENT : ABANDON_EVENT, {
        by: signer.id,
      });
    const statusUrl = absoluteUrl(request, `/api/membership-requests/${id}`);
    return json(202, { id, statusUrl }, { location: statusUrl });
  };
}
