import { activeMemberIds } from '../core/membership';
import { app, type HttpRequest } from '@azure/functions';
import { handled, json, notFound } from './edge/http';
import { getRegistry } from './edge/services';
import { requestView } from './edge/views';

/** GET /api/membership-requests/{id}: phase, tally, deadline, votes and provisioning steps. */
export async function getRequest(request: HttpRequest) {
  const id = request.params['id']!;
  const registry = await getRegistry();
  const found = await registry.getRequest(id);
  if (!found) throw notFound('REQUEST.NOT_FOUND', `No membership request ${id}.`);
  const [votes, members] = await Promise.all([registry.votesOn(id), registry.memberStatusesSince()]);
  const active = activeMemberIds(members);
  return json(200, requestView(found, votes, active));
}

app.http('membershipRequestGet', {
  route: 'membership-requests/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(getRequest),
});
