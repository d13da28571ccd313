import { app, type HttpRequest } from '@azure/functions';
import { handled, json, limitParam } from './edge/http';
import { getRegistry } from './edge/services';
import { memberView } from './edge/views';

/** GET /api/members[?continuation=…][&limit=…]: members with status and public key. */
export async function listMembers(request: HttpRequest) {
  const registry = await getRegistry();
  const page = await registry.listMembers({
    continuation: request.query.get('continuation'),
    limit: limitParam(request),
  });
  return json(200, { items: page.items.map(memberView), continuation: page.continuation });
}

app.http('memberList', {
  route: 'members',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(listMembers),
});
