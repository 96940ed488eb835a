import type { IncomingMessage, ServerResponse } from 'node:http';
import { identifierSchema } from '@parley/protocol';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.js';
import { serveStatic } from './static-files.js';

/** What the HTTP endpoints look at. */
export interface HttpDependencies {
  registry: Registry;
  /** What /readyz reports: each dependency, draining, and whether to send traffic. */
  readiness: Readiness;
  /** Directory of the built web UI, served at `/`; absent: no UI. */
  webRoot?: string;
  /**
   * Signs development tokens for `GET /v1/dev/token?user=U[&tenant=T]`. Only set while the server runs
   * with its generated development secret, so that the demo page works; never in production.
   */
  issueDevToken?: (tenant: string, userId: string) => Promise<string>;
}

/** /healthz (process up), /readyz (see readiness.ts), /metrics (Prometheus text), the dev token endpoint, the web UI. */
export function createRequestHandler(dependencies: HttpDependencies) {
  const handle = route(dependencies);
  // A rejected handler would be an unhandled rejection, which ends the process: answer instead.
  return (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) return void response.destroy();
      if (error instanceof URIError || (error as { code?: string }).code === 'ERR_INVALID_URL') {
        return json(response, 400, { error: { code: 'bad_request', message: 'malformed URL' } });
      }
      json(response, 500, { error: { code: 'internal', message: 'internal server error' } });
    });
  };
}

function route(dependencies: HttpDependencies) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname; // throws on targets like `//`: answered 400
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(response, 405, { error: { code: 'bad_request', message: 'method not allowed' } });
    if (path === '/healthz') return json(response, 200, { status: 'ok' });
    if (path === '/readyz') return ready(response, dependencies);
    if (path === '/metrics') {
      response.writeHead(200, { 'Content-Type': dependencies.registry.contentType });
      response.end(await dependencies.registry.metrics());
      return;
    }
    if (path === '/v1/dev/token') return devToken(request, response, dependencies);
    if (dependencies.webRoot && !path.startsWith('/v1/') && (await serveStatic(dependencies.webRoot, path, response))) return;
    json(response, 404, { error: { code: 'not_found', message: `no route for ${path}` } });
  };
}

async function devToken(request: IncomingMessage, response: ServerResponse, dependencies: HttpDependencies): Promise<void> {
  if (!dependencies.issueDevToken) return json(response, 404, { error: { code: 'not_found', message: 'development tokens are off (a JWT secret or JWKS is configured)' } });
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const user = identifierSchema.safeParse(query.get('user'));
  const tenant = identifierSchema.safeParse(query.get('tenant') ?? 'demo');
  if (!user.success || !tenant.success) return json(response, 400, { error: { code: 'bad_request', message: 'user (and tenant) must be identifiers' } });
  json(response, 200, { token: await dependencies.issueDevToken(tenant.data, user.data) });
}

async function ready(response: ServerResponse, dependencies: HttpDependencies): Promise<void> {
  const { statusCode, body } = await dependencies.readiness.report();
  json(response, statusCode, body);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}
