/**
 * The messages between widget.js (in the host page) and the widget's frame (Parley's origin). Each side
 * accepts a message only from the other's window and origin, and posts only to the other's origin.
 */

/** Marks widget messages, so that other scripts' messages on the same windows are told apart. */
export const CHANNEL = 'parley-widget';

/** Frame to host: the frame checked its parent and is listening. */
export interface ReadyMessage {
  channel: typeof CHANNEL;
  type: 'ready';
}

/** Frame to host: the frame needs a token (at start and at every reconnect). */
export interface TokenRequestMessage {
  channel: typeof CHANNEL;
  type: 'token-request';
  requestId: string;
}

/** Host to frame: a token from the site's own token endpoint. */
export interface TokenMessage {
  channel: typeof CHANNEL;
  type: 'token';
  requestId: string;
  token: string;
}

/** Host to frame: no token endpoint; the frame mints a guest (or verified-user) token with the widget key. */
export interface GuestMessage {
  channel: typeof CHANNEL;
  type: 'guest';
  requestId: string;
  userId?: string;
  userHash?: string;
}

/** Host to frame: the site's token endpoint failed. */
export interface TokenErrorMessage {
  channel: typeof CHANNEL;
  type: 'token-error';
  requestId: string;
  message: string;
}

/**
 * Frame to host: the frame's own storage is denied (browsers that block third-party storage), so it asks the
 * host page for what it kept for the frame (the guest id, the conversation id).
 */
export interface StorageRequestMessage {
  channel: typeof CHANNEL;
  type: 'storage-request';
  requestId: string;
}

/** Frame to host: keep (or, with null, forget) one entry for the frame. */
export interface StorageSetMessage {
  channel: typeof CHANNEL;
  type: 'storage-set';
  key: string;
  value: string | null;
}

/** Host to frame: what it kept for the frame. */
export interface StorageMessage {
  channel: typeof CHANNEL;
  type: 'storage';
  requestId: string;
  entries: Record<string, string>;
}

export type FrameMessage = ReadyMessage | TokenRequestMessage | StorageRequestMessage | StorageSetMessage;
export type HostMessage = TokenMessage | GuestMessage | TokenErrorMessage | StorageMessage;

/** What the host keeps for the frame: a few short `parley.` entries. */
export const MAX_KEPT_ENTRIES = 50;
export function isKeptEntry(key: unknown, value: unknown): value is string {
  return typeof key === 'string' && key.startsWith('parley.') && key.length <= 200 && typeof value === 'string' && value.length <= 1000;
}

/** The message if `data` is a well-formed frame message, else undefined. */
export function asFrameMessage(data: unknown): FrameMessage | undefined {
  if (!isChannel(data)) return undefined;
  if (data.type === 'ready') return { channel: CHANNEL, type: 'ready' };
  if (data.type === 'token-request' && isShortText(data.requestId)) return { channel: CHANNEL, type: 'token-request', requestId: data.requestId };
  if (data.type === 'storage-request' && isShortText(data.requestId)) return { channel: CHANNEL, type: 'storage-request', requestId: data.requestId };
  if (data.type === 'storage-set' && (data.value === null || isKeptEntry(data.key, data.value)) && typeof data.key === 'string' && data.key.startsWith('parley.')) {
    return { channel: CHANNEL, type: 'storage-set', key: data.key, value: data.value as string | null };
  }
  return undefined;
}

/** The message if `data` is a well-formed host message, else undefined. */
export function asHostMessage(data: unknown): HostMessage | undefined {
  if (!isChannel(data) || !isShortText(data.requestId)) return undefined;
  const requestId = data.requestId;
  if (data.type === 'token' && typeof data.token === 'string' && data.token.length > 0 && data.token.length <= 8192) return { channel: CHANNEL, type: 'token', requestId, token: data.token };
  if (data.type === 'token-error' && typeof data.message === 'string') return { channel: CHANNEL, type: 'token-error', requestId, message: data.message.slice(0, 500) };
  if (data.type === 'storage' && typeof data.entries === 'object' && data.entries !== null) {
    const entries: Record<string, string> = {};
    for (const [key, value] of Object.entries(data.entries as Record<string, unknown>).slice(0, MAX_KEPT_ENTRIES)) if (isKeptEntry(key, value)) entries[key] = value;
    return { channel: CHANNEL, type: 'storage', requestId, entries };
  }
  if (data.type === 'guest') {
    const message: GuestMessage = { channel: CHANNEL, type: 'guest', requestId };
    if (isShortText(data.userId)) message.userId = data.userId;
    if (isShortText(data.userHash)) message.userHash = data.userHash;
    return message;
  }
  return undefined;
}

function isChannel(data: unknown): data is Record<string, unknown> {
  return typeof data === 'object' && data !== null && (data as Record<string, unknown>).channel === CHANNEL;
}

function isShortText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}
