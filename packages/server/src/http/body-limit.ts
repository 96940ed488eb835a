import type { MiddlewareHandler } from 'hono';
import { ParleyError } from '../core/errors.js';

/**
 * Refuses request bodies over `maxBytes` with `too_large` (except on `exempt` routes): by `Content-Length` when the client sends one, else
 * by counting a streamed (chunked) body as it is read. It stands in for hono's `bodyLimit`, which re-wraps a
 * streamed body with `new Request(c.req.raw, ...)`: under `@hono/node-server` without its global `Request`
 * that throws, so a `DELETE` from `fetch` (no body, no length) or any chunked body was answered 500.
 */
export function limitBody(maxBytes: number, exempt: (method: string, path: string) => boolean = () => false): MiddlewareHandler {
  return async (context, next) => {
    const raw = context.req.raw;
    // A route that reads its body under a limit of its own (attachment uploads).
    if (exempt(raw.method, context.req.path)) return next();
    const length = raw.headers.get('content-length');
    if (length !== null && !raw.headers.has('transfer-encoding')) {
      if (Number(length) > maxBytes) throw tooLarge(maxBytes);
      return next();
    }
    if (!raw.body) return next();
    const body = await readAtMost(raw.body, maxBytes);
    context.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body, signal: raw.signal });
    return next();
  };
}

/** The request's whole body, refused with `too_large` past `maxBytes` (by its Content-Length, else as it is read). */
export async function readBodyAtMost(request: Request, maxBytes: number): Promise<Uint8Array> {
  const length = request.headers.get('content-length');
  if (length !== null && Number(length) > maxBytes) throw tooLarge(maxBytes);
  return request.body ? readAtMost(request.body, maxBytes) : new Uint8Array(0);
}

/** The whole body, or `too_large` as soon as it passes `maxBytes` (the rest is not read). */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function tooLarge(maxBytes: number): ParleyError {
  return new ParleyError('too_large', `request body exceeds ${maxBytes} bytes`);
}
