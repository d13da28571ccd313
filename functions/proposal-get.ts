import { activeMemberIds } from '../core/membership';
import { app, type HttpRequest } from '@azure/functions';
import { handled, json, notFound } from './edge/http';
import { getRegistry } from './edge/services';
import { proposalView } from './edge/views';

/** GET /api/proposals/{id} */
export async function getProposal(request: HttpRequest) {
  const id = request.params['id']!;
  const registry = await getRegistry();
  const found = await registry.getProposal(id);
  if (!found) throw notFound('PROPOSAL.NOT_FOUND', `No proposal ${id}.`);
  const [votes, members] = await Promise.all([registry.votesOn(id), registry.memberStatusesSince()]);
  const active = activeMemberIds(members);
  return json(200, proposalView(found, votes, active));
}

app.http('proposalGet', {
  route: 'proposals/{id}',
  methods: ['GET'],
  authLevel: 'function',
  handler: handled(getProposal),
});
