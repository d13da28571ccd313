import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { withdraw } from './edge/actions';
import { handled } from './edge/http';

/** POST /api/membership-requests/{id}/withdraw — the applicant withdraws (signed with its own key). */
app.http('membershipRequestWithdraw', {
  route: 'membership-requests/{id}/withdraw',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: handled(withdraw),
});
