import type { OpenAPIHono } from '@hono/zod-openapi';
import { identifierSchema, roleSchema, type Role } from '@parley/protocol';
import { z } from 'zod';
import type { Registry } from 'prom-client';
import { ParleyError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { ApiEnv } from './authenticate.js';
import type { Readiness } from './readiness.js';
import { staticFile } from './static-files.js';

/**
 * How the web pages sign people in, as `GET /v1/web/auth` tells them: at the OIDC issuer (authorization code
 * with PKCE, see packages/web/src/oidc.ts), with development tokens from `/v1/dev/token`, or not at all (the
 * application hands its users their tokens).
 */
export type WebSignIn = { mode: 'oidc'; issuer: string; clientId: string; scopes: string } | { mode: 'development' } | { mode: 'none' };

/** What the operational endpoints look at. */
export interface HttpDependencies {
  registry: Registry;
  /** What /readyz reports: each dependency, draining, and whether to send traffic. */
  readiness: Readiness;
  /** Directory of the built web UI, served at `/`; absent: no UI. */
  webRoot?: string;
  /** What `GET /v1/web/auth` answers. */
  webSignIn: WebSignIn;
  /** Verifies a bearer token, for `GET /v1/web/auth/principal`. */
  verifyToken: (token: string) => Promise<Principal>;
  /**
   * Signs development tokens for `GET /v1/dev/token?user=U[&tenant=T][&role=agent][&name=Dana]`. Only set
   * while the server runs with its generated development secret, so that the demo pages work; never in production.
   */
  issueDevToken?: (claims: { tenant: string; userId: string; roles: Role[]; name?: string }) => Promise<string>;
  /** PARLEY_IMAGE_HOSTS: tenant (or `*`) -> hosts whose Markdown images the web pages load. */
  imageHosts: Record<string, string[]>;
}

/**
 * /healthz (process up), /readyz (see readiness.ts), /metrics (Prometheus text), the dev token endpoint, the
 * web pages' settings, how the web pages sign in (/v1/web/auth, /v1/web/auth/principal) and the web UI, in the node's one route table (not in the OpenAPI document: they are not the server API).
 */
const devTokenQuerySchema = z.object({
  user: identifierSchema,
  tenant: identifierSchema.default('demo'),
  role: roleSchema.default('user'),
  name: z.string().min(1).max(200).optional(),
});

export function registerOperationalRoutes(app: OpenAPIHono<ApiEnv>, dependencies: HttpDependencies): void {
  app.get('/healthz', (context) => context.json({ status: 'ok' }));
  app.get('/readyz', async (context) => {
    const { statusCode, body } = await dependencies.readiness.report();
    return context.json(body, statusCode);
  });
  app.get('/metrics', async (context) => context.body(await dependencies.registry.metrics(), 200, { 'Content-Type': dependencies.registry.contentType }));
  app.get('/v1/dev/token', async (context) => {
    if (!dependencies.issueDevToken) throw new ParleyError('not_found', 'development tokens are off (a JWT secret or JWKS is configured)');
    const query = devTokenQuerySchema.safeParse({ user: context.req.query('user'), tenant: context.req.query('tenant'), role: context.req.query('role'), name: context.req.query('name') });
    if (!query.success) throw new ParleyError('bad_request', 'user (and tenant) must be identifiers, role one of user, agent, admin, name at most 200 characters');
    const { tenant, user, role, name } = query.data;
    return context.json({ token: await dependencies.issueDevToken({ tenant, userId: user, roles: [role], ...(name ? { name } : {}) }) });
  });
  // What the web pages need before sign-in; public, as the pages that read it are.
  app.get('/v1/web/settings', (context) => {
    const tenant = identifierSchema.safeParse(context.req.query('tenant'));
    if (!tenant.success) throw new ParleyError('bad_request', 'tenant must be an identifier');
    const imageHosts = [...new Set([...(dependencies.imageHosts['*'] ?? []), ...(dependencies.imageHosts[tenant.data] ?? [])])];
    return context.json({ imageHosts }, 200, { 'Cache-Control': 'max-age=60' });
  });
  // Public: the console reads it before anyone is signed in. It names the issuer and client id, no secret.
  app.get('/v1/web/auth', (context) => context.json(dependencies.webSignIn, 200, { 'Cache-Control': 'no-store' }));
  // Who a token makes its bearer, as the server maps it (an OIDC issuer's tokens carry no tenant or Parley roles
  // of their own): the console asks right after a sign-in. API keys are not accepted: they are no person.
  app.get('/v1/web/auth/principal', async (context) => {
    const token = /^Bearer\s+(\S+)$/i.exec(context.req.header('authorization') ?? '')?.[1];
    if (!token) throw new ParleyError('unauthorized', 'send Authorization: Bearer <token>');
    const { tenant, userId, roles, name, picture } = await dependencies.verifyToken(token);
    return context.json({ tenant, userId, roles, ...(name !== undefined ? { name } : {}), ...(picture !== undefined ? { picture } : {}) }, 200, { 'Cache-Control': 'no-store' });
  });
  app.get('*', async (context, next) => {
    const path = context.req.path;
    if (!dependencies.webRoot || path.startsWith('/v1/')) return next();
    const file = await staticFile(dependencies.webRoot, path);
    return file ?? next();
  });
  app.notFound((context) => context.json({ error: { code: 'not_found', message: `no route for ${context.req.method} ${context.req.path}` } }, 404));
}
