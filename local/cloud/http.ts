import {
  createHttpHeaders,
  RestError,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import type { AccessToken, TokenCredential } from '@azure/core-auth';

/**
 * The seam between the real Azure SDK clients and the in-process emulators: every SDK client takes an
 * `httpClient` option, so in local mode the request never leaves the process but still goes through the
 * SDK's whole pipeline (retries, LRO polling, Key Vault's auth challenge).
 */

export interface CloudRequest {
  method: string;
  url: URL;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** The raw body text, when there is one. */
  text: string | undefined;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  json: unknown;
}

export interface CloudResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
}

export type CloudHandler = (request: CloudRequest) => Promise<CloudResponse>;

async function bodyText(request: PipelineRequest): Promise<string | undefined> {
  const body = request.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  if (typeof (body as Blob).text === 'function') return (body as Blob).text();
  throw new Error('The local cloud accepts string, buffer or blob request bodies only.');
}

/** Makes an SDK `httpClient` that hands each request to `handler`. */
export function cloudHttpClient(handler: CloudHandler): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const text = await bodyText(request);
      let json: unknown;
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of request.headers) headers[name.toLowerCase()] = value;
      const res = await handler({ method: request.method, url: new URL(request.url), headers, text, json });
      const out = createHttpHeaders(res.headers);
      let bodyAsText: string | undefined;
      if (res.body !== undefined) {
        bodyAsText = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
        if (!out.has('content-type'))
          out.set('content-type', typeof res.body === 'string' ? 'text/plain' : 'application/json');
      }
      if (!out.has('x-ms-request-id')) out.set('x-ms-request-id', crypto.randomUUID());
      return { request, status: res.status, headers: out, bodyAsText };
    },
  };
}

/**
 * A timeout as the SDK sees one from its own HTTP client: a RestError with a system error code, which
 * its retry policy treats as transient.
 */
export function timeoutError(request: CloudRequest): RestError {
  return new RestError(`The request to ${request.url.host} timed out.`, { code: 'ETIMEDOUT' });
}

/** Tokens for the emulators, which accept any bearer token (they check only that one is sent). */
export class LocalCloudCredential implements TokenCredential {
  getToken(): Promise<AccessToken> {
    return Promise.resolve({ token: 'local-cloud-token', expiresOnTimestamp: Date.now() + 3_600_000 });
  }
}

export function armError(status: number, code: string, message: string, headers?: Record<string, string>) {
  return { status, headers, body: { error: { code, message } } } satisfies CloudResponse;
}
