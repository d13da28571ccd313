import { app, type HttpRequest } from '@azure/functions';
import { handled, json, limitParam } from './edge/http';
import { getAudit } from './edge/services';

/** GET /api/audit[?continuation=…][&limit=…]: the hash-chained audit log, oldest first. */
export async function listAudit(request: HttpRequest) {
  const audit = await getAudit();
  const continuation = request.query.get('continuation');
  let after: number | undefined;
  if (continuation) {
    const seq = Number(Buffer.from(continuation, 'base64url').toString('utf8'));
    if (!Number.isInteger(seq) || seq < 0) throw new RangeError('The continuation token is not valid.');
    after = seq - 1;
  }
  return json(200, await audit.list({ after, limit: limitParam(request) }));
}

app.http('auditList', {
  route: 'audit',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(listAudit),
});
