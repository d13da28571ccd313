import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { handled } from './edge/http';
import { provisioningDecision } from './edge/provisioning';

/** POST /api/membership-requests/{id}/abandon — a member gives up a failed onboarding; it is torn down. */
app.http('membershipRequestAbandon', {
  route: 'membership-requests/{id}/abandon',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: handled(provisioningDecision('abandon')),
});
