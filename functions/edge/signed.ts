import type { HttpRequest } from '@azure/functions';
import { parseJws, type ParsedJws } from '../../core/signed';
import { nowMs } from '../../runtime/clock';
import { schemaErrors, type SchemaName } from '../../runtime/schemas';
import { ApiProblem, badRequest } from './http';

/** How far `issuedAt` may be from the platform's clock. */
export const MAX_SKEW_MS = 5 * 60 * 1000;

/** 415 unless the body is `application/jose`; 401 unless it is a well-formed compact JWS. */
export async function readJws(request: HttpRequest, signer: 'jwk' | 'kid'): Promise<ParsedJws> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/jose') {
    throw new ApiProblem(
      415,
      'MEDIA.UNSUPPORTED',
      'Unsupported Media Type',
      `Send the compact JWS as Content-Type: application/jose (got "${type || 'none'}").`,
    );
  }
  return parseJws(await request.text(), signer);
}

/** The 400 checks every signed payload gets, in order: schema, consortium, clock. */
export function checkPayload(
  schema: SchemaName,
  payload: Record<string, unknown>,
  consortiumName: string,
): void {
  const errors = schemaErrors(schema, payload);
  if (errors.length)
    throw badRequest(
      'SCHEMA.INVALID',
      `The payload has ${errors.length} invalid field${errors.length > 1 ? 's' : ''}.`,
      errors,
    );
  if (payload['consortium'] !== consortiumName) {
    throw badRequest(
      'CONSORTIUM.MISMATCH',
      `The payload names consortium "${String(payload['consortium'])}"; this platform serves "${consortiumName}".`,
    );
  }
  const issued = Date.parse(String(payload['issuedAt']));
  const skew = issued - nowMs();
  if (Math.abs(skew) > MAX_SKEW_MS) {
    throw badRequest(
      'CLOCK.SKEW',
      `issuedAt is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the platform's clock (${new Date(nowMs()).toISOString()}); at most 300 s is allowed. Sign with the time in the response Date header.`,
    );
  }
}
