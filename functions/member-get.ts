import { app, type HttpRequest } from '@azure/functions';
import { handled, json, notFound } from './edge/http';
import { getRegistry } from './edge/services';
import { memberView } from './edge/views';
import { channelHealthOf } from '../orchestrations/notify';
import { scalingView } from '../orchestrations/scaling';
import { nowMs } from '../runtime/clock';

/** GET /api/members/{id} */
export async function getMember(request: HttpRequest) {
  const id = request.params['id']!;
  const member = await (await getRegistry()).getMember(id);
  if (!member) throw notFound('MEMBER.NOT_FOUND', `No member ${id}.`);
  const view = memberView(member);
  // How its channels have been doing: a channel that keeps failing shows here (and alerts operators).
  const health = await channelHealthOf(id).catch(() => undefined);
  if (view['channels'] && health) view['channels'] = { ...(view['channels'] as object), health };
  // Current and desired profile, why, the policy, a live override and the schedule's next change.
  view['scaling'] = scalingView(member, nowMs());
  return json(200, view);
}

app.http('memberGet', {
  route: 'members/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(getMember),
});
