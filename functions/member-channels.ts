import { app } from '@azure/functions';
import { setChannels } from './edge/actions';
import { handled } from './edge/http';

/** PUT /api/members/{id}/channels — a member's email addresses and Teams webhook, signed by it. */
app.http('memberChannels', {
  route: 'members/{id}/channels',
  methods: ['PUT'],
  authLevel: 'function',
  handler: handled(setChannels),
});
