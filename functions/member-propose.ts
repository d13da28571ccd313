import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { propose } from './edge/actions';
import { handled } from './edge/http';

/** POST /api/members/{id}/proposals — suspend, reinstate, remove or replace-key; members vote on it. */
app.http('memberPropose', {
  route: 'members/{id}/proposals',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: handled(propose),
});
