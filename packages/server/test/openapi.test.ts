import { describe, expect, it } from 'vitest';
import { createApi, type ApiDependencies } from '../src/http/api/index.js';

// The document is generated from the route table alone: no route handler runs here.
const dependencies = { maxBodyBytes: 1024, serverVersion: 'test' } as ApiDependencies;

describe('the OpenAPI document', () => {
  const api = createApi(dependencies);

  it('describes every route of the server API, with its method', async () => {
    const document = (await (await api.request('/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const routes = api.routes.filter((route) => route.path.startsWith('/v1/api/') && route.method !== 'ALL');
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
      expect(document.paths[path], `${route.method} ${path}`).toBeDefined();
      expect(document.paths[path]![route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
    }
  });

  it('states the bearer security scheme and the error shape of every route', async () => {
    const document = (await (await api.request('/v1/openapi.json')).json()) as {
      components: { securitySchemes: Record<string, { scheme: string }> };
      paths: Record<string, Record<string, { security: unknown[]; responses: Record<string, unknown> }>>;
    };
    expect(document.components.securitySchemes.bearer?.scheme).toBe('bearer');
    for (const operations of Object.values(document.paths)) {
      for (const operation of Object.values(operations)) {
        expect(operation.security).toEqual([{ bearer: [] }]);
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '404', '429', '503']));
      }
    }
  });
});
