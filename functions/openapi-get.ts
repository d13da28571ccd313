import { app } from '@azure/functions';
import { handled, json } from './edge/http';
import { openApiDocument } from '../runtime/openapi';

/** GET /api/openapi.json — the API description, built from schemas/ (runtime/openapi.ts). */
app.http('openApi', {
  route: 'openapi.json',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handled(async () => json(200, openApiDocument())),
});
