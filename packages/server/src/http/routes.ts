import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** What the operational endpoints look at. */
export interface HttpDependencies {
  registry: Registry;
  /** Rejects when the store does not answer. */
  checkStore: () => Promise<void>;
  isDraining: () => boolean;
}

/** /healthz (process up), /readyz (store reachable, not draining), /metrics (Prometheus text). */
export function createRequestHandler(dependencies: HttpDependencies) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(response, 405, { error: { code: 'bad_request', message: 'method not allowed' } });
    if (path === '/healthz') return json(response, 200, { status: 'ok' });
    if (path === '/readyz') return ready(response, dependencies);
    if (path === '/metrics') {
      response.writeHead(200, { 'Content-Type': dependencies.registry.contentType });
      response.end(await dependencies.registry.metrics());
      return;
    }
    json(response, 404, { error: { code: 'not_found', message: `no route for ${path}` } });
  };
}

async function ready(response: ServerResponse, dependencies: HttpDependencies): Promise<void> {
  if (dependencies.isDraining()) return json(response, 503, { status: 'draining' });
  try {
    await dependencies.checkStore();
    json(response, 200, { status: 'ready' });
  } catch (error) {
    json(response, 503, { status: 'unavailable', store: (error as Error).message });
  }
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}
