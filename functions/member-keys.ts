import { app } from '@azure/functions';
import { rotateKey } from './edge/actions';
import { handled } from './edge/http';

/** POST /api/members/{id}/keys — key rotation, signed by the member's current key. */
app.http('memberKeys', {
  route: 'members/{id}/keys',
  methods: ['POST'],
  authLevel: 'function',
  handler: handled(rotateKey),
});
