import {
  ackSchema,
  apiKeyViewSchema,
  broadcastResultSchema,
  conversationResultSchema,
  createKeyResultSchema,
  mintTokenResultSchema,
  operationResultSchemas,
  type Ack,
  type ApiKeyView,
  type BroadcastBody,
  type BroadcastResult,
  type Content,
  type ConversationView,
  type CreateConversationBody,
  type CreateKeyBody,
  type CreateKeyResult,
  type MintTokenBody,
  type MintTokenResult,
  type OperationResult,
  type PostMessageBody,
  type UpdateConversationBody,
  attachmentResultSchema,
  attachmentUrlResultSchema,
  createAttachmentResultSchema,
  type AttachmentView,
  type CreateAttachmentResult,
  type PartOf,
} from '@parley/protocol';
import { newClientMsgId } from './ids.js';
import { ParleyApiError } from './server-errors.js';
import { ApiTransport, DEFAULT_RETRY, type ApiRequest, type FetchFunction, type RetryInfo, type RetryOptions } from './server-http.js';

/** Options of a ParleyServerClient. */
export interface ServerClientOptions {
  /** The server's base URL, e.g. `https://chat.example.com` (the API lives under `/v1/api`). */
  url: string;
  /** A tenant API key (`psk_...`, from `parley apikey create`), or a user's JWT. Never ship a key to a browser. */
  apiKey: string;
  /** The `fetch` to use; defaults to the global one. */
  fetch?: FetchFunction;
  /** Time limit of one attempt, answer body included. Default 10 000. */
  timeoutMs?: number;
  /**
   * Retries of requests that are safe to repeat, after `rate_limited`, `busy`, `unavailable`, a timeout or a
   * network failure; `false` turns them off. A wait longer than `maxDelayMs` is not made: the error is thrown.
   */
  retry?: Partial<RetryOptions> | false;
  /** Checks every answer against the protocol's schemas (`internal` when one does not match). Default false. */
  validateResponses?: boolean;
  /** Called before each retry (for logs and metrics). */
  onRetry?: (info: RetryInfo) => void;
}

/** A message to post: `text` for plain text, or any `content`. `sender` is required with an API key. */
export type MessageInput = Omit<PostMessageBody, 'content'> & ({ text: string; content?: never } | { content: Content; text?: never });
/** The same message to many conversations. */
export type BroadcastInput = Omit<BroadcastBody, 'content'> & ({ text: string; content?: never } | { content: Content; text?: never });
/** Options of a post: the idempotency key (a random UUID when absent, so that the SDK's own retries stay safe). */
export interface PostOptions {
  idempotencyKey?: string;
}
/** A page request of a listing. */
export interface PageOptions {
  cursor?: string;
  limit?: number;
}
/** Whose conversations to list (required with an API key), and which page. */
export interface ListConversationsOptions extends PageOptions {
  userId?: string;
}
/** History bounds (exclusive seqs): `after` for the oldest after it, `before` for the newest before it, neither for the newest. */
export interface HistoryQuery {
  after?: number;
  before?: number;
  limit?: number;
}

export type CreateConversationResult = OperationResult<'conversation.open'>;
export type ConversationList = OperationResult<'conversation.list'>;
export type UpdateConversationResult = OperationResult<'conversation.update'>;
export type AddMembersResult = OperationResult<'members.add'>;
export type RemoveMembersResult = OperationResult<'members.remove'>;
export type MemberList = OperationResult<'members.list'>;
export type HistoryResult = OperationResult<'history'>;
export type PresenceResult = OperationResult<'presence'>;

const DEFAULT_TIMEOUT_MS = 10_000;
const listKeysResult = { parse: (value: unknown) => ({ apiKeys: apiKeyViewSchema.array().parse((value as { apiKeys?: unknown } | null)?.apiKeys) }) };

/**
 * A typed client of Parley's server API (`/v1/api`) for a backend: conversations, members, messages, history,
 * presence, users, tokens and keys. Each method is one route; each failure is a ParleyApiError.
 */
export class ParleyServerClient {
  private readonly transport: ApiTransport;
  private readonly origin: string;

  constructor(options: ServerClientOptions) {
    this.origin = baseUrlOf(options.url);
    this.transport = new ApiTransport({
      baseUrl: `${this.origin}/v1/api`,
      credential: credentialOf(options.apiKey),
      fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
      timeoutMs: positive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs'),
      retry: retryOf(options.retry),
      validateResponses: options.validateResponses ?? false,
      onRetry: options.onRetry,
    });
  }

  /** Creates a conversation, or returns the existing one with that `id` (`created: false`; safe to retry then). */
  async createConversation(input: CreateConversationBody = {}): Promise<CreateConversationResult> {
    return this.send({ method: 'POST', path: '/conversations', body: input, idempotent: input.id !== undefined, result: operationResultSchemas['conversation.open'] });
  }

  async getConversation(conversationId: string): Promise<ConversationView> {
    const path = `/conversations/${segment(conversationId)}`;
    return (await this.send({ method: 'GET', path, idempotent: true, result: conversationResultSchema })).conversation;
  }

  /** A user's conversations, most recently active first; pass `nextCursor` back as `cursor` for the next page. */
  async listConversations(options: ListConversationsOptions = {}): Promise<ConversationList> {
    const query = { userId: options.userId, cursor: options.cursor, limit: options.limit };
    return this.send({ method: 'GET', path: '/conversations', query, idempotent: true, result: operationResultSchemas['conversation.list'] });
  }

  /** Merges a metadata patch (top-level keys replace, `null` deletes), recorded as `conversation.updated`. */
  async updateConversation(conversationId: string, input: UpdateConversationBody): Promise<UpdateConversationResult> {
    const path = `/conversations/${segment(conversationId)}`;
    return this.send({ method: 'PATCH', path, body: input, idempotent: false, result: operationResultSchemas['conversation.update'] });
  }

  /** Adds members (up to 1,000 per call); `added` lists those who were not members yet. */
  async addMembers(conversationId: string, userIds: string[]): Promise<AddMembersResult> {
    const path = `/conversations/${segment(conversationId)}/members`;
    return this.send({ method: 'POST', path, body: { userIds }, idempotent: true, result: operationResultSchemas['members.add'] });
  }

  /** Removes members; their live subscriptions end at once on every node. */
  async removeMembers(conversationId: string, userIds: string[]): Promise<RemoveMembersResult> {
    const path = `/conversations/${segment(conversationId)}/members/remove`;
    return this.send({ method: 'POST', path, body: { userIds }, idempotent: true, result: operationResultSchemas['members.remove'] });
  }

  async listMembers(conversationId: string, options: PageOptions = {}): Promise<MemberList> {
    const path = `/conversations/${segment(conversationId)}/members`;
    return this.send({ method: 'GET', path, query: { cursor: options.cursor, limit: options.limit }, idempotent: true, result: operationResultSchemas['members.list'] });
  }

  /**
   * Posts a message, acknowledged once stored. The idempotency key makes a repeat return the original ack with
   * `duplicate: true` (per sender and conversation), so the SDK retries posts safely.
   */
  async postMessage(conversationId: string, message: MessageInput, options: PostOptions = {}): Promise<Ack> {
    const { text, content, ...rest } = message;
    const path = `/conversations/${segment(conversationId)}/messages`;
    const body = { ...rest, content: contentOf(text, content) };
    return this.send({ method: 'POST', path, body, headers: idempotencyHeader(options), idempotent: true, result: ackSchema });
  }

  /** Events in ascending seq order, at most `limit` (default 50, at most 200); `hasMore` says whether more lie beyond. */
  async history(conversationId: string, query: HistoryQuery = {}): Promise<HistoryResult> {
    const path = `/conversations/${segment(conversationId)}/events`;
    return this.send({ method: 'GET', path, query: { after: query.after, before: query.before, limit: query.limit }, idempotent: true, result: operationResultSchemas.history });
  }

  /** Who is connected to the conversation now. */
  async presence(conversationId: string): Promise<PresenceResult> {
    const path = `/conversations/${segment(conversationId)}/presence`;
    return this.send({ method: 'GET', path, idempotent: true, result: operationResultSchemas.presence });
  }

  /** Posts the same message to many conversations; one result per conversation (an ack or an error). */
  async broadcast(input: BroadcastInput, options: PostOptions = {}): Promise<BroadcastResult> {
    const { text, content, ...rest } = input;
    const body = { ...rest, content: contentOf(text, content) };
    return this.send({ method: 'POST', path: '/broadcast', body, headers: idempotencyHeader(options), idempotent: true, result: broadcastResultSchema });
  }

  /** Sends a notice to every connection of the user, on every node (a `notification` push; not stored). */
  async notify(userId: string, data: Record<string, unknown>): Promise<{ id: string }> {
    return this.send({ method: 'POST', path: `/users/${segment(userId)}/notify`, body: { data }, idempotent: false });
  }

  /** Closes every connection of the user on every node: close 4006 (may reconnect) or, with `reconnect: false`, 4503. */
  async disconnect(userId: string, options: { reconnect?: boolean } = {}): Promise<void> {
    await this.send({ method: 'POST', path: `/users/${segment(userId)}/disconnect`, body: { reconnect: options.reconnect ?? true }, idempotent: false });
  }

  /** Mints an end-user token for the key's tenant, so that the backend need not hold the signing secret. */
  async mintToken(input: MintTokenBody): Promise<MintTokenResult> {
    return this.send({ method: 'POST', path: '/tokens', body: input, idempotent: true, result: mintTokenResultSchema });
  }

  /** Creates an API key of the tenant; `key` is its secret, shown in this answer only. */
  async createKey(input: CreateKeyBody): Promise<CreateKeyResult> {
    return this.send({ method: 'POST', path: '/keys', body: input, idempotent: false, result: createKeyResultSchema });
  }

  /** The tenant's keys, newest first, revoked ones included, without secrets. */
  async listKeys(): Promise<ApiKeyView[]> {
    return (await this.send({ method: 'GET', path: '/keys', idempotent: true, result: listKeysResult })).apiKeys;
  }

  /** Revokes a key (by its id, the part between `psk_` and the dot) on every node within seconds. */
  async revokeKey(keyId: string): Promise<void> {
    await this.send<undefined>({ method: 'DELETE', path: `/keys/${segment(keyId)}`, idempotent: true });
  }

  /**
   * Uploads a file to a conversation: declares it, sends the bytes where the server says (object storage or
   * the server itself), and finalizes it, when the server checks its size and sniffs its type. Resolves with
   * the ready attachment; send it with `attachmentPart`. A file over the tenant's limit is `too_large`; a type
   * not accepted, or bytes that are not the declared type, `bad_request` (`details.reason` says which).
   */
  async uploadAttachment(conversationId: string, file: { name: string; contentType: string; data: Uint8Array | Blob }): Promise<AttachmentView> {
    const size = file.data instanceof Uint8Array ? file.data.byteLength : file.data.size;
    const path = `/conversations/${segment(conversationId)}/attachments`;
    const created = await this.send<CreateAttachmentResult>({ method: 'POST', path, body: { name: file.name, contentType: file.contentType, size }, idempotent: false, result: createAttachmentResultSchema });
    await this.transport.upload(created.upload, file.data);
    const finalized = await this.send({ method: 'POST', path: `${path}/${segment(created.attachment.id)}/finalize`, idempotent: true, result: attachmentResultSchema });
    return finalized.attachment;
  }

  /** An absolute, short-lived signed URL of a ready attachment (for those who may read the conversation), and when it expires. */
  async attachmentUrl(conversationId: string, attachmentId: string): Promise<{ url: string; expiresAt: number; attachment: AttachmentView }> {
    const path = `/conversations/${segment(conversationId)}/attachments/${segment(attachmentId)}`;
    const result = await this.send({ method: 'GET', path, idempotent: true, result: attachmentUrlResultSchema });
    return { ...result, url: `${this.origin}${result.url}` };
  }

  private send<Result>(request: ApiRequest<Result>): Promise<Result> {
    return this.transport.request(request);
  }
}

/** The message part that sends a ready attachment: `image` for raster images, `file` for anything else. */
export function attachmentPart(attachment: AttachmentView): PartOf<'image' | 'file'> {
  const { id, name, contentType, size } = attachment;
  return { type: attachment.image ? 'image' : 'file', attachmentId: id, name, contentType, size };
}

function contentOf(text: string | undefined, content: Content | undefined): Content {
  if (content !== undefined) return content;
  if (typeof text === 'string') return { type: 'text', text };
  throw new ParleyApiError('bad_request', 'a message needs `text` or `content`');
}

function idempotencyHeader(options: PostOptions): Record<string, string> {
  return { 'idempotency-key': options.idempotencyKey ?? newClientMsgId() };
}

/** A path segment: ids are plain identifiers, but encoding keeps a stray `/` or `?` from changing the route. */
function segment(value: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ParleyApiError('bad_request', 'an id must be a non-empty string');
  return encodeURIComponent(value);
}

function baseUrlOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ParleyApiError('bad_request', `url ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ParleyApiError('bad_request', 'url must be http(s)://HOST[:PORT]');
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function credentialOf(apiKey: string): string {
  if (typeof apiKey !== 'string' || !/^\S+$/.test(apiKey)) throw new ParleyApiError('bad_request', 'apiKey must be an API key (psk_...) or a token');
  return apiKey;
}

function retryOf(retry: Partial<RetryOptions> | false | undefined): RetryOptions | null {
  if (retry === false) return null;
  const retries = retry?.retries ?? DEFAULT_RETRY.retries;
  if (!Number.isInteger(retries) || retries < 0) throw new ParleyApiError('bad_request', 'retry.retries must be a whole number, 0 or more');
  return {
    retries,
    initialDelayMs: positive(retry?.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs, 'retry.initialDelayMs'),
    maxDelayMs: positive(retry?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs, 'retry.maxDelayMs'),
  };
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ParleyApiError('bad_request', `${name} must be a positive number`);
  return value;
}

export { ParleyApiError, parseRetryAfter, type ApiErrorCode, type ParleyApiErrorOptions } from './server-errors.js';
export { DEFAULT_RETRY, type FetchFunction, type RetryInfo, type RetryOptions } from './server-http.js';
export type {
  Ack,
  ApiKeyView,
  AttachmentView,
  Part,
  PartOf,
  PartsContent,
  ApiScope,
  BroadcastResult,
  Content,
  ConversationEvent,
  ConversationSummary,
  ConversationView,
  CreateConversationBody,
  CreateKeyBody,
  CreateKeyResult,
  ErrorCode,
  MemberView,
  MintTokenBody,
  MintTokenResult,
  Sender,
  UpdateConversationBody,
} from '@parley/protocol';
