import { app, type HttpResponseInit } from '@azure/functions';
import { AUDIT_KINDS } from '../core/audit';
import { nowMs } from '../runtime/clock';
import { DASHBOARD_CSP, dashboardPage } from './dashboard/page';

/**
 * GET /api/dashboard: a live view of the consortium for anyone who may read the public API. The page
 * holds no data itself: its script polls the anonymous read routes, so it shows nothing they do not.
 */
export function dashboard(): Promise<HttpResponseInit> {
  return Promise.resolve({
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // The page embeds the server's time for countdowns, so it must not be served from a cache.
      'cache-control': 'no-store',
    },
    body: dashboardPage(nowMs(), AUDIT_KINDS),
  });
}

app.http('dashboard', {
  route: 'dashboard',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: dashboard,
});
