import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { getPlacements } from '../orchestrations/provisioning-services';
import { getCa } from '../orchestrations/vaults';
import { handled } from './edge/http';

/**
 * GET /api/crl — the consortium's certificate revocation list: a DER X.509 CRL signed by the doorman CA,
 * listing every node certificate revoked by a removal or an abandoned onboarding. Nodes fetch it to
 * refuse revoked peers, so it is public.
 */
async function crl(_request: HttpRequest): Promise<HttpResponseInit> {
  const revoked = await getPlacements().revoked();
  const der = await getCa().crl(revoked.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) })));
  return {
    status: 200,
    body: der,
    headers: { 'content-type': 'application/pkix-crl', 'cache-control': 'max-age=300' },
  };
}

app.http('crlGet', { route: 'crl', methods: ['GET'], authLevel: 'anonymous', handler: handled(crl) });
