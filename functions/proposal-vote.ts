import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { handled } from './edge/http';
import { castVote } from './edge/vote';

/** POST /api/proposals/{id}/votes — the same vote payload, requestId = proposal id. */
app.http('proposalVote', {
  route: 'proposals/{id}/votes',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: handled((request, context) => castVote('proposal', request, context)),
});
