import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { SignedPayloadError } from '../../core/signed';
import { ConflictError } from '../../azure/registry';
import { StorageError } from '../../azure/tables';
import { problemResponse } from '../../runtime/problem';
import { logEvent, telemetry } from '../../runtime/telemetry';
import { ConfigError } from '../../runtime/settings';
import type { FieldError } from '../../runtime/schemas';
import { AzureError } from '../../azure/azure-error';
import { VaultError } from '../../azure/key-vault';

/** An answer other than success: becomes `application/problem+json` with a stable `code`. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

export const notFound = (code: string, detail: string) => new ApiProblem(404, code, 'Not Found', detail);
export const badRequest = (code: string, detail: string, errors?: FieldError[]) =>
  new ApiProblem(400, code, 'Bad Request', detail, errors);
export const forbidden = (code: string, detail: string) => new ApiProblem(403, code, 'Forbidden', detail);
export const conflict = (code: string, detail: string) => new ApiProblem(409, code, 'Conflict', detail);
export const tooMany = (code: string, detail: string) =>
  new ApiProblem(429, code, 'Too Many Requests', detail);

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Runs a handler and turns every failure into problem+json; unexpected ones are logged, not echoed. */
export function handled(handler: Handler): Handler {
  return async (request, context) => {
    const answer = await answered(handler, request, context);
    const status = answer.status ?? 200;
    telemetry.request(context.functionName, status);
    // Refusals are findable by invocation id and code; never the body or the detail (they quote input).
    if (status >= 400) {
      const code = typeof answer.body === 'string' ? /"code":"([A-Z_.]+)"/.exec(answer.body)?.[1] : undefined;
      logEvent(context, 'http.problem', { function: context.functionName, status, code });
    }
    return answer;
  };
}

async function answered(
  handler: Handler,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    return await handler(request, context);
  } catch (e) {
    if (e instanceof ApiProblem) {
      return problemResponse({
        status: e.status,
        code: e.code,
        title: e.title,
        detail: e.message,
        ...(e.errors ? { errors: e.errors } : {}),
      });
    }
    if (e instanceof SignedPayloadError) {
      return problemResponse({ status: 401, code: e.code, title: 'Unauthorized', detail: e.message });
    }
    if (e instanceof RangeError && /continuation/i.test(e.message)) {
      return problemResponse({
        status: 400,
        code: 'QUERY.INVALID',
        title: 'Bad Request',
        detail: e.message,
      });
    }
    if (e instanceof ConflictError) {
      return problemResponse({
        status: 409,
        code: 'REQUEST.CONFLICT',
        title: 'Conflict',
        detail: e.message,
      });
    }
    if (e instanceof AzureError || e instanceof VaultError) {
      // Azure said no or was unreachable: name the code, never the request.
      context.error(`${context.functionName} (${context.invocationId}): ${e.code} ${e.message}`);
      return problemResponse({
        status: e.transient ? 503 : 502,
        code: e.code,
        title: e.transient ? 'Service Unavailable' : 'Bad Gateway',
        detail: e.message,
      });
    }
    if (e instanceof StorageError || e instanceof ConfigError) {
      context.error(`${context.functionName} (${context.invocationId}): ${e.message}`);
      return problemResponse(
        { status: 503, code: e.code, title: 'Service Unavailable', detail: e.message },
        { 'retry-after': '5' },
      );
    }
    context.error(`${context.functionName} (${context.invocationId}) failed: ${(e as Error)?.stack ?? e}`);
    return problemResponse({
      status: 500,
      code: 'INTERNAL',
      title: 'Internal Server Error',
      detail: `The request failed (invocation ${context.invocationId}); the platform log has the error.`,
    });
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers };
}

/** The URL a client polls, built from the request's own origin. */
export function absoluteUrl(request: HttpRequest, path: string): string {
  return new URL(path, request.url).toString();
}

export function limitParam(request: HttpRequest): number {
  const raw = request.query.get('limit');
  if (raw === null) return 100;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
    throw badRequest('QUERY.INVALID', `limit must be a whole number from 1 to 1000; got "${raw}".`);
  return Number(raw);
}
