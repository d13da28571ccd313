import { app, type HttpRequest } from '@azure/functions';
import { consortiumCost } from '../core/cost';
import { costOf, costProfiles } from '../orchestrations/scaling';
import { nowMs } from '../runtime/clock';
import { handled, json, notFound } from './edge/http';
import { getRegistry } from './edge/services';

/**
 * Cost this UTC month, so far and projected to its end (by the member's schedule, or holding its current
 * profile when it has none), from
 * each member's scaling history, against running Large all the time. Money is in the cost profiles'
 * currency; removed and pending members are left out.
 */

/** GET /api/members/{id}/cost */
export async function getMemberCost(request: HttpRequest) {
  const id = request.params['id']!;
  const member = await (await getRegistry()).getMember(id);
  if (!member) throw notFound('MEMBER.NOT_FOUND', `No member ${id}.`);
  return json(200, costOf(member, costProfiles(), nowMs()));
}

/** GET /api/cost */
export async function getConsortiumCost() {
  const now = nowMs();
  const profiles = costProfiles();
  const members = (await (await getRegistry()).allMembers())
    .filter((m) => m.status === 'ACTIVE' || m.status === 'SUSPENDED')
    .map((m) => costOf(m, profiles, now));
  return json(200, { ...consortiumCost(members, profiles, now), perMember: members });
}

app.http('memberCost', {
  route: 'members/{id}/cost',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(getMemberCost),
});

app.http('consortiumCost', {
  route: 'cost',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(getConsortiumCost),
});
