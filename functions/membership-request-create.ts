import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { handled } from './edge/http';
import { submitRequest } from './edge/requests';

/** POST /api/membership-requests — a bank asks to join (application/jose, signed by its own key). */
app.http('membershipRequestCreate', {
  route: 'membership-requests',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: handled(submitRequest),
});
