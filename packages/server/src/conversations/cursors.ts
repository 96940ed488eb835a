import { identifierSchema } from '@parley/protocol';
import { z } from 'zod';
import type { ActivityCursor } from '../core/ports.js';
import { decodeOpaqueCursor, encodeOpaqueCursor } from '../core/opaque-cursor.js';

const activitySchema = z.object({ t: z.number().int().nonnegative(), c: identifierSchema });
const memberSchema = z.object({ u: identifierSchema });
const INVALID = 'invalid cursor: pass nextCursor from the previous page unchanged';

/** The cursor of the next page of a conversation list. */
export function encodeActivityCursor(cursor: ActivityCursor): string {
  return encodeOpaqueCursor({ t: cursor.lastEventAt, c: cursor.conversationId });
}

/** Throws `bad_request` for a cursor this server did not write. */
export function decodeActivityCursor(text: string): ActivityCursor {
  const { t, c } = decodeOpaqueCursor(text, activitySchema, INVALID);
  return { lastEventAt: t, conversationId: c };
}

/** The cursor of the next page of members. */
export function encodeMemberCursor(userId: string): string {
  return encodeOpaqueCursor({ u: userId });
}

export function decodeMemberCursor(text: string): string {
  return decodeOpaqueCursor(text, memberSchema, INVALID).u;
}
