import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { handled } from './edge/http';
import { castVote } from './edge/vote';

/** POST /api/membership-requests/{id}/votes — a member's signed vote (kid = member id). */
app.http('membershipRequestVote', {
  route: 'membership-requests/{id}/votes',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: handled((request, context) => castVote('request', request, context)),
});
