import type { z } from 'zod';
import { ParleyError } from './errors.js';

// Cursors are opaque to clients (base64url JSON), so their form can change without breaking anyone.

/** The cursor for `position`: base64url of its JSON. */
export function encodeOpaqueCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The position a cursor of this server holds; `bad_request` with `message` for anything else. */
export function decodeOpaqueCursor<T>(text: string, schema: z.ZodType<T>, message: string): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined; // not JSON: refused below like any other malformed cursor
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ParleyError('bad_request', message);
  return parsed.data;
}
