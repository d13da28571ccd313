import { activeMemberIds } from '../core/membership';
import { app, type HttpRequest } from '@azure/functions';
import { badRequest, handled, json, limitParam } from './edge/http';
import { getRegistry } from './edge/services';
import { requestView } from './edge/views';

const PHASES = ['voting', 'approved', 'rejected', 'expired', 'withdrawn', 'provisioning', 'active', 'failed'];

/** GET /api/membership-requests[?phase=voting][&continuation=…][&limit=…] */
export async function listRequests(request: HttpRequest) {
  const phase = request.query.get('phase') ?? undefined;
  if (phase && !PHASES.includes(phase))
    throw badRequest('QUERY.INVALID', `phase must be one of ${PHASES.join(', ')}; got "${phase}".`);
  const registry = await getRegistry();
  const page = await registry.listRequests({
    phase,
    continuation: request.query.get('continuation'),
    limit: limitParam(request),
  });
  // Statuses only: a page's views need who is ACTIVE, not every member's keys and contacts.
  const active = activeMemberIds(await registry.memberStatusesSince());
  const items = await Promise.all(
    page.items.map(async (r) => requestView(r, await registry.votesOn(r.id), active)),
  );
  return json(200, { items, continuation: page.continuation });
}

app.http('membershipRequestList', {
  route: 'membership-requests',
  methods: ['GET'],
  authLevel: 'function',
  handler: handled(listRequests),
});
