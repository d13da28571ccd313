import { app } from '@azure/functions';
import { setProfile, setScaling } from './edge/actions';
import { handled } from './edge/http';

/** PUT /api/members/{id}/scaling — the member's scaling policy, signed by it. */
app.http('memberScalingSet', {
  route: 'members/{id}/scaling',
  methods: ['PUT'],
  authLevel: 'function',
  handler: handled(setScaling),
});

/** POST /api/members/{id}/profile — a manual profile override with an expiry, signed by the member. */
app.http('memberProfileSet', {
  route: 'members/{id}/profile',
  methods: ['POST'],
  authLevel: 'function',
  handler: handled(setProfile),
});
