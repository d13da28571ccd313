import type { HttpResponseInit } from '@azure/functions';

/** RFC 9457 problem details; `code` is TrustNet's stable error code that clients switch on. */
export interface Problem {
  status: number;
  code: string;
  title: string;
  detail?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemBody(p: Problem): Record<string, unknown> {
  const { status, code, title, detail, ...extensions } = p;
  return {
    type: `urn:trustnet:problem:${code}`,
    title,
    status,
    code,
    ...(detail ? { detail } : {}),
    ...extensions,
  };
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status: p.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
    body: JSON.stringify(problemBody(p)),
  };
}
