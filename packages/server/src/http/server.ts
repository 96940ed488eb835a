import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './authenticate.js';
import { API_DOCS_INIT, API_DOCS_PAGE, swaggerUiDirectory } from './api-docs.js';

// The files of swagger-ui-dist the docs page loads; nothing else of that directory is served.
const SWAGGER_ASSETS: Record<string, string> = { 'swagger-ui.css': 'text/css; charset=utf-8', 'swagger-ui-bundle.js': 'text/javascript; charset=utf-8' };

/** Adds the browsable API reference: `/docs/api`, rendered from `/v1/openapi.json` with Swagger UI served from here. */
export function registerApiDocs(app: OpenAPIHono<ApiEnv>): void {
  const directory = swaggerUiDirectory();
  app.get('/docs/api', (context) => context.html(API_DOCS_PAGE));
  app.get('/docs/api/init.js', (context) => context.body(API_DOCS_INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/api/assets/:name', async (context) => {
    const type = SWAGGER_ASSETS[context.req.param('name')];
    if (!type) return context.json({ error: { code: 'not_found', message: 'no such asset' } }, 404);
    const body = await readFile(join(directory, context.req.param('name')));
    return context.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=3600' });
  });
}

/** The node's HTTP request listener: one route table for the API, its reference, health, metrics and the web page. */
export function httpListener(app: OpenAPIHono<ApiEnv>): (request: IncomingMessage, response: ServerResponse) => void {
  // Global Request and Response stay Node's own: the AI SDK and other fetch users in this process rely on them.
  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });
  return (request, response) => {
    if (!isRequestTarget(request.url)) {
      response.writeHead(400, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'bad_request', message: 'malformed URL' } }));
      return;
    }
    void listener(request, response);
  };
}

/** Whether a request line's target is a path a URL can be built on (`//x` is not: it would name a host). */
function isRequestTarget(url: string | undefined): boolean {
  if (!url?.startsWith('/')) return false;
  try {
    new URL(url, 'http://localhost');
    return true;
  } catch {
    return false;
  }
}
