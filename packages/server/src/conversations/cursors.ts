import { identifierSchema } from '@parley/protocol';
import { z } from 'zod';
import { ParleyError } from '../core/errors.js';
import type { ActivityCursor } from '../core/ports.js';

// Cursors are opaque to clients (base64url JSON), so their form can change without breaking anyone.
const activitySchema = z.object({ t: z.number().int().nonnegative(), c: identifierSchema });
const memberSchema = z.object({ u: identifierSchema });

/** The cursor of the next page of a conversation list. */
export function encodeActivityCursor(cursor: ActivityCursor): string {
  return encode({ t: cursor.lastEventAt, c: cursor.conversationId });
}

/** Throws `bad_request` for a cursor this server did not write. */
export function decodeActivityCursor(text: string): ActivityCursor {
  const { t, c } = decode(text, activitySchema);
  return { lastEventAt: t, conversationId: c };
}

/** The cursor of the next page of members. */
export function encodeMemberCursor(userId: string): string {
  return encode({ u: userId });
}

export function decodeMemberCursor(text: string): string {
  return decode(text, memberSchema).u;
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode<T>(text: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ParleyError('bad_request', 'invalid cursor: pass nextCursor from the previous page unchanged');
  return parsed.data;
}
