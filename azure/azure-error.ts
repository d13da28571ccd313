import { RestError } from '@azure/core-rest-pipeline';

/**
 * An Azure call that failed, in our terms: a stable `code` the status and the operator can act on, the
 * service's own error code beside it, and whether waiting and trying again can help. Orchestrations
 * retry transient ones and stop a step on the rest.
 */
export class AzureError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail: {
      azureCode?: string;
      status?: number;
      transient: boolean;
      /** From Retry-After on a 429, when Azure said. */
      retryAfterMs?: number;
    },
  ) {
    super(message);
    this.name = 'AzureError';
  }

  get transient(): boolean {
    return this.detail.transient;
  }

  get azureCode(): string | undefined {
    return this.detail.azureCode;
  }

  /** What a step records: no stack, no request, nothing secret. */
  toJSON(): { code: string; message: string; azureCode?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.azureCode ? { azureCode: this.azureCode } : {}),
    };
  }
}

const SYSTEM_ERRORS = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** `QuotaExceeded` → `QUOTA_EXCEEDED`, for codes such as `DEPLOY.QUOTA_EXCEEDED`. */
export function upperSnake(azureCode: string): string {
  return azureCode
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/** The service's `{ error: { code, message } }`, from the SDK's parsed details or the raw body. */
export function serviceErrorBody(e: RestError): { code?: string; message?: string } | undefined {
  const details = e.details as { error?: { code?: string; message?: string } } | undefined;
  if (details?.error) return details.error;
  const body = e.response?.bodyAsText;
  if (body) {
    try {
      const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
      if (parsed.error) return parsed.error;
    } catch {
      // not JSON: the caller falls back to the RestError's own fields
    }
  }
  return undefined;
}

function bodyError(e: RestError): { code?: string; message?: string } {
  return serviceErrorBody(e) ?? { code: e.code, message: e.message };
}

/** Retry-After of a 429, in milliseconds, when the service sent one. */
export function retryAfterMs(e: RestError): number | undefined {
  const h = e.response?.headers.get('retry-after');
  if (!h) return undefined;
  const seconds = Number(h);
  return Number.isFinite(seconds) ? seconds * 1000 : undefined;
}

// Azure messages name resources, not secrets, but they can be long; a status line needs the gist.
function clip(text: string): string {
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/** Translates whatever an SDK call threw. `what` says what we were doing, e.g. "create deployment x". */
export function toAzureError(what: string, e: unknown): AzureError {
  if (e instanceof AzureError) return e;
  if (e instanceof RestError || (e instanceof Error && e.name === 'RestError')) {
    const rest = e as RestError;
    const status = rest.statusCode;
    const { code: azureCode, message } = bodyError(rest);
    const text = clip(`${what} failed: ${message ?? rest.message}`);
    if (status === undefined && rest.code && SYSTEM_ERRORS.has(rest.code))
      return new AzureError('AZURE.UNAVAILABLE', clip(`${what} failed: ${rest.code}`), {
        azureCode: rest.code,
        transient: true,
      });
    if (status === 429)
      return new AzureError('AZURE.THROTTLED', text, {
        azureCode,
        status,
        transient: true,
        retryAfterMs: retryAfterMs(rest),
      });
    if (status === undefined || status >= 500 || status === 408)
      return new AzureError('AZURE.UNAVAILABLE', text, { azureCode, status, transient: true });
    if (status === 404)
      return new AzureError('AZURE.NOT_FOUND', text, { azureCode, status, transient: false });
    if (status === 401 || status === 403)
      return new AzureError('AZURE.FORBIDDEN', text, { azureCode, status, transient: false });
    if (azureCode && /quota/i.test(azureCode))
      return new AzureError('DEPLOY.QUOTA_EXCEEDED', text, { azureCode, status, transient: false });
    if (status === 409)
      return new AzureError('AZURE.CONFLICT', text, { azureCode, status, transient: false });
    return new AzureError('AZURE.INVALID', text, { azureCode, status, transient: false });
  }
  if (
    e instanceof Error &&
    (e.name === 'AbortError' || SYSTEM_ERRORS.has((e as { code?: string }).code ?? ''))
  )
    return new AzureError('AZURE.UNAVAILABLE', clip(`${what} failed: ${e.message}`), { transient: true });
  const message = e instanceof Error ? e.message : String(e);
  // The SDK's poller reports a failed long-running operation as a plain Error naming Azure's code.
  const lro = /long-running operation has failed\.?\s*([A-Za-z]+)/i.exec(message);
  if (lro)
    return new AzureError(`DEPLOY.${upperSnake(lro[1]!)}`, clip(`${what} failed: ${message}`), {
      azureCode: lro[1]!,
      transient: false,
    });
  return new AzureError('AZURE.FAILED', clip(`${what} failed: ${message}`), { transient: false });
}
