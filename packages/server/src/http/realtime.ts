import type { OpenAPIHono } from '@hono/zod-openapi';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import { ParleyError } from '../core/errors.js';
import type { RealtimeHttp, RealtimeRequest } from '../core/ports.js';
import type { ApiEnv } from './authenticate.js';
import { limitBody } from './body-limit.js';

const STREAM_CONTENT_TYPES = { sse: 'text/event-stream; charset=utf-8', ndjson: 'application/x-ndjson; charset=utf-8' } as const;
// Proxies must pass every chunk on at once (nginx reads X-Accel-Buffering) and must not cache or rewrite.
const STREAM_HEADERS = { 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' };
// A position header is a non-negative integer: digits only, at most 15 (a safe integer).
const POSITION = /^\d{1,15}$/;

const batchSchema = z
  .object({
    n: z.number().int().positive().optional(),
    frames: z.array(z.unknown()).optional(),
    ack: z.number().int().nonnegative().optional(),
  })
  .refine((batch) => (batch.n === undefined) === (batch.frames === undefined), { message: 'n and frames go together' })
  .refine((batch) => batch.n !== undefined || batch.ack !== undefined, { message: 'send n with frames, ack, or both' });

/**
 * The HTTP fallback transports of the realtime protocol (docs/transports.md): `GET /v1/rt/stream` (SSE or
 * NDJSON), `GET /v1/rt/poll`, `POST /v1/rt/send`, and their CORS preflights for the allowed origins.
 * The routes read the request; sessions are the gateway's (`RealtimeHttp`).
 */
export function registerRealtimeRoutes(app: OpenAPIHono<ApiEnv>, transports: RealtimeHttp, options: { maxBodyBytes: number }): void {
  app.use(
    '/v1/rt/*',
    cors({
      origin: (origin, context) => (origin && transports.originAllowed(origin, context.req.header('host')) ? origin : null),
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['Parley-Session', 'Parley-Last-Position', 'Last-Event-ID', 'Content-Type'],
      exposeHeaders: ['Retry-After'],
      maxAge: 600,
    }),
  );
  app.get('/v1/rt/stream', async (context) => {
    const format = streamFormat(context.req.header('accept'));
    const body = await transports.stream(requestOf(context, format === 'sse'), format);
    return context.body(body, 200, { 'Content-Type': STREAM_CONTENT_TYPES[format], ...STREAM_HEADERS });
  });
  app.get('/v1/rt/poll', async (context) => {
    const body = await transports.poll(requestOf(context, false));
    return context.body(body, 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  });
  app.post('/v1/rt/send', limitBody(options.maxBodyBytes), async (context) => {
    const request = requestOf(context, false);
    await transports.send(request, await batchOf(context));
    return context.body(null, 204);
  });
}

/** The stream's format, from `Accept`. */
function streamFormat(accept: string | undefined): 'sse' | 'ndjson' {
  if (accept?.includes('application/x-ndjson')) return 'ndjson';
  if (accept?.includes('text/event-stream')) return 'sse';
  throw new ParleyError('bad_request', 'send Accept: text/event-stream (SSE) or application/x-ndjson (HTTP streaming)');
}

function requestOf(context: Context<ApiEnv>, eventStream: boolean): RealtimeRequest {
  // SSE clients that reconnect on their own send the last `id:` as Last-Event-ID.
  const position = context.req.header('parley-last-position') ?? (eventStream ? context.req.header('last-event-id') : undefined);
  if (position !== undefined && !POSITION.test(position.trim())) throw new ParleyError('bad_request', 'Parley-Last-Position must be a non-negative integer');
  return {
    origin: context.req.header('origin'),
    host: context.req.header('host'),
    remoteAddress: getConnInfo(context).remote.address ?? 'unknown',
    sessionId: context.req.header('parley-session'),
    lastPosition: position === undefined ? undefined : Number(position.trim()),
    signal: context.req.raw.signal,
  };
}

async function batchOf(context: Context<ApiEnv>): Promise<z.infer<typeof batchSchema>> {
  if (!/^application\/json\b/i.test(context.req.header('content-type') ?? '')) throw new ParleyError('bad_request', 'send the body as JSON, with Content-Type: application/json');
  let body: unknown;
  try {
    body = JSON.parse(await context.req.text());
  } catch {
    throw new ParleyError('bad_request', 'the body is not valid JSON');
  }
  const batch = batchSchema.safeParse(body);
  if (!batch.success) {
    const issue = batch.error.issues[0]!;
    throw new ParleyError('bad_request', `invalid body: ${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  }
  return batch.data;
}
