import { app, type HttpRequest } from '@azure/functions';
import { handled, json, notFound } from './edge/http';
import { getRegistry } from './edge/services';
import { memberView } from './edge/views';

/** GET /api/members/{id} */
export async function getMember(request: HttpRequest) {
  const id = request.params['id']!;
  const member = await (await getRegistry()).getMember(id);
  if (!member) throw notFound('MEMBER.NOT_FOUND', `No member ${id}.`);
  return json(200, memberView(member));
}

app.http('memberGet', {
  route: 'members/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(getMember),
});
