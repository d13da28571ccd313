import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { handled } from './edge/http';
import { provisioningDecision } from './edge/provisioning';

/** POST /api/membership-requests/{id}/retry — a member resumes a failed onboarding from its failed step. */
app.http('membershipRequestRetry', {
  route: 'membership-requests/{id}/retry',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: handled(provisioningDecision('retry')),
});
