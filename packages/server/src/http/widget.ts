import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { widgetKeySchema, widgetTokenBodySchema } from '@parley/protocol';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { ParleyError } from '../core/errors.js';
import type { WidgetTokenIssuer } from '../core/ports.js';
import type { ApiEnv } from './authenticate.js';
import { limitBody } from './body-limit.js';

/** What the widget's public routes need. */
export interface WidgetRouteDependencies {
  tokens: WidgetTokenIssuer;
  /** Directory of the built web UI, which holds the frame's page (widget-frame.html); `/widget.js` is served from it too. */
  webRoot: string;
}

// A token request is a few hundred bytes; nothing larger is read.
const MAX_BODY_BYTES = 4096;
/** The page the widget's iframe loads, from the web UI's build. */
export const FRAME_PAGE = 'widget-frame.html';

/**
 * The widget's public routes (no credential): `POST /v1/widget/token` (guest and verified-user tokens, for
 * pages of the key's allowed origins), `GET /v1/widget/config` (what the frame checks its parent against)
 * and `GET /widget/frame` (the frame's page, which only the key's allowed origins may embed).
 */
export function registerWidgetRoutes(app: OpenAPIHono<ApiEnv>, dependencies: WidgetRouteDependencies): void {
  // Any page may call (the answer says `forbidden` for an origin the key does not allow, readable by that
  // page); no cookies are involved, so reflecting the origin grants nothing.
  app.use('/v1/widget/*', cors({ origin: (origin) => origin, allowMethods: ['GET', 'POST'], allowHeaders: ['Content-Type'], exposeHeaders: ['Retry-After'], maxAge: 600 }));
  app.use('/v1/widget/*', limitBody(MAX_BODY_BYTES));
  app.post('/v1/widget/token', async (context) => {
    const body = widgetTokenBodySchema.safeParse(await jsonOf(context));
    if (!body.success) throw new ParleyError('bad_request', `invalid request: ${body.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ')}`);
    const result = await dependencies.tokens.mint({ ...body.data, origin: context.req.header('origin'), fromWidgetFrame: fromOwnOrigin(context), address: addressOf(context) });
    context.header('Cache-Control', 'no-store');
    return context.json(result, 201);
  });
  app.get('/v1/widget/config', async (context) => context.json(await dependencies.tokens.config(keyOf(context.req.query('key')))));
  app.get('/widget/frame', async (context) => {
    const key = widgetKeySchema.safeParse(context.req.query('key'));
    const ancestors = key.success ? await dependencies.tokens.frameAncestors(key.data) : null;
    const page = await readFile(join(dependencies.webRoot, FRAME_PAGE)).catch(() => null);
    if (!page) throw new ParleyError('not_found', 'the web UI is not built: no widget frame');
    return context.body(page, ancestors ? 200 : 404, {
      'Content-Type': 'text/html; charset=utf-8',
      // The browser itself refuses to show the frame inside any page but the key's origins (origins were
      // validated when stored, so none can smuggle a directive in).
      'Content-Security-Policy': `frame-ancestors ${ancestors?.length ? ancestors.join(' ') : "'none'"}`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  });
}

function keyOf(text: string | undefined): string {
  const key = widgetKeySchema.safeParse(text);
  if (!key.success) throw new ParleyError('bad_request', 'key must be a widget key (pwk_...)');
  return key.data;
}

async function jsonOf(context: Context): Promise<unknown> {
  try {
    return await context.req.json();
  } catch {
    throw new ParleyError('bad_request', 'send a JSON body');
  }
}

/**
 * Whether a page of Parley's own origin (the widget's frame) sent the request: by `Sec-Fetch-Site`, which
 * page scripts cannot set, else by an `Origin` on this very host.
 */
function fromOwnOrigin(context: Context): boolean {
  const site = context.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = context.req.header('origin');
  if (!origin) return false;
  try {
    return new URL(origin).host === context.req.header('host');
  } catch {
    return false;
  }
}

function addressOf(context: Context): string {
  try {
    return getConnInfo(context).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
