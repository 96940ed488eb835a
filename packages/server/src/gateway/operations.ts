import { randomUUID } from 'node:crypto';
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  type Actor,
  type ConversationView,
  type OperationArgs,
  type OperationName,
  type OperationResult,
} from '@parley/protocol';
import { authorizeConversation } from '../auth/authorization.js';
import { ParleyError } from '../core/errors.js';
import type { ConversationKey, ConversationRecord, Principal } from '../core/types.js';
import { inSpan, SpanKind } from '../observability/tracing.js';
import type { SessionContext } from './session-context.js';
import type { ConversationSubscriptions } from './subscriptions.js';

/** A session as operations see it: its context and its subscriptions. */
export interface OperationSession extends SessionContext {
  readonly subscriptions: ConversationSubscriptions;
  /**
   * The rest of the current request cannot change the order of this connection's requests (a send is in
   * its conversation's append queue): the next request may start while this one waits for its commit.
   */
  proceed(): void;
}

type Handler<Op extends OperationName> = (session: OperationSession, args: OperationArgs<Op>) => Promise<OperationResult<Op>>;

function keyOf(session: OperationSession, conversationId: string): ConversationKey {
  return { tenant: session.principal!.tenant, conversationId };
}

/** Loads a conversation and checks that the session's principal may act in it. */
async function authorized(session: OperationSession, conversationId: string): Promise<ConversationRecord> {
  const conversation = await session.services.log.get(keyOf(session, conversationId));
  return authorizeConversation(session.principal!, conversation, conversationId);
}

/** The same check on a recently read conversation: for frequent operations that need no current `lastSeq` (send, typing). */
async function authorizedRecent(session: OperationSession, conversationId: string): Promise<ConversationRecord> {
  const conversation = await session.services.log.getRecent(keyOf(session, conversationId));
  return authorizeConversation(session.principal!, conversation, conversationId);
}

/** Who acts: agents and admins as `agent`, everyone else as `user`. */
function actorOf(session: OperationSession): Actor {
  const principal = session.principal!;
  const isAgent = principal.roles.includes('agent') || principal.roles.includes('admin');
  return { kind: isAgent ? 'agent' : 'user', id: principal.userId };
}

function toView(conversation: ConversationRecord): ConversationView {
  return { ...conversation };
}

async function verifyOrClose(session: OperationSession, token: string, closeOnFailure: boolean): Promise<Principal> {
  try {
    return await session.services.verifier.verify(token);
  } catch (error) {
    if (closeOnFailure && error instanceof ParleyError) {
      const expired = error.details?.reason === 'expired';
      // Reply first (the caller's catch sends it), close once the reply is queued.
      // Fixed reasons: the error message can echo attacker input (a token's alg), and reasons become metric labels.
      setImmediate(() => session.close(expired ? CLOSE_CODES.tokenExpired : CLOSE_CODES.unauthorized, expired ? 'token expired' : 'unauthorized'));
    }
    throw error;
  }
}

const connect: Handler<'connect'> = async (session, args) => {
  if (session.principal) throw new ParleyError('conflict', 'already connected; use token.refresh to replace the token');
  const principal = await verifyOrClose(session, args.token, true);
  if (!session.authenticate(principal)) {
    setImmediate(() => session.close(CLOSE_CODES.tooManyConnections, 'too many connections for this user'));
    throw new ParleyError('busy', 'too many connections for this user', { retryAfterMs: 5000 });
  }
  const { limits, serverVersion } = session.services;
  return {
    sessionId: session.connection.id,
    principal: { tenant: principal.tenant, userId: principal.userId, roles: [...principal.roles] },
    expiresAt: principal.expiresAt,
    protocol: PROTOCOL_VERSION,
    serverVersion,
    pingIntervalMs: limits.pingIntervalMs,
    limits: { maxFrameBytes: limits.maxFrameBytes, ratePerSecond: limits.ratePerSecond, burst: limits.rateBurst },
  };
};

const refreshToken: Handler<'token.refresh'> = async (session, args) => {
  const principal = await verifyOrClose(session, args.token, false);
  const current = session.principal!;
  // Same roles too: subscriptions were authorized with the old ones.
  if (principal.tenant !== current.tenant || principal.userId !== current.userId || [...principal.roles].sort().join() !== [...current.roles].sort().join()) {
    throw new ParleyError('forbidden', 'a refreshed token must be for the same tenant, user and roles; reconnect to change them');
  }
  session.refresh(principal);
  return { expiresAt: principal.expiresAt };
};

const openConversation: Handler<'conversation.open'> = async (session, args) => {
  const principal = session.principal!;
  if (args.assistant !== undefined && !session.services.assistants.hasProfile(args.assistant)) {
    throw new ParleyError('bad_request', `no assistant profile named ${JSON.stringify(args.assistant)}`);
  }
  const key = keyOf(session, args.conversationId ?? randomUUID());
  const { conversation, created } = await session.services.log.create({
    key,
    createdBy: principal.userId,
    members: args.members,
    metadata: args.metadata,
    assistant: args.assistant ?? null,
  });
  if (!created) authorizeConversation(principal, conversation, key.conversationId);
  return { conversation: toView(conversation), created };
};

const getConversation: Handler<'conversation.get'> = async (session, args) => ({
  conversation: toView(await authorized(session, args.conversationId)),
});

/** One trace per message: the send, its append and, for assistants, the answer's job (see docs/observability.md). Never the text. */
const sendMessage: Handler<'message.send'> = (session, args) => {
  const attributes = { 'parley.tenant': session.principal!.tenant, 'parley.conversation.id': args.conversationId };
  return inSpan('parley.message.send', { kind: SpanKind.SERVER, attributes }, async (span) => {
    const result = await appendMessage(session, args);
    span.setAttributes({ 'parley.event.seq': result.seq, 'parley.duplicate': result.duplicate });
    return result;
  });
};

const appendMessage: Handler<'message.send'> = async (session, args) => {
  const conversation = await authorizedRecent(session, args.conversationId);
  const actor = actorOf(session);
  // Across all of the user's connections, on every node (the per-connection bucket alone would multiply with them).
  const waitMs = await session.services.userSendRates.take(conversation.tenant, actor.id);
  if (waitMs > 0) throw new ParleyError('rate_limited', 'too many messages from this user', { retryAfterMs: waitMs, details: { scope: 'user' } });
  const causation = args.replyTo === undefined ? { clientMsgId: args.clientMsgId } : { clientMsgId: args.clientMsgId, replyTo: args.replyTo };
  // The assistant admits the message before it is committed, so a full queue is the sender's error, not a silent wait.
  const admission = await session.services.assistants.admit(conversation, actor);
  let appended;
  try {
    const appending = session.services.log.append({ key: keyOf(session, args.conversationId), type: 'message.created', actor, data: { content: args.content }, causation });
    // Its place in the conversation is taken (appends commit in call order): the client's next send may go on.
    session.proceed();
    appended = await appending;
  } catch (error) {
    admission.release();
    throw error;
  }
  const { event, duplicate } = appended;
  if (duplicate) admission.release();
  else admission.committed(event);
  return { eventId: event.id, seq: event.seq, ts: event.ts, duplicate };
};

const history: Handler<'history'> = async (session, args) => {
  await authorized(session, args.conversationId);
  if (args.before !== undefined && args.after !== undefined && args.before <= args.after + 1) {
    return { events: [], hasMore: false };
  }
  return session.services.log.history(keyOf(session, args.conversationId), args);
};

const subscribe: Handler<'subscribe'> = async (session, args) => {
  const conversation = await authorized(session, args.conversationId);
  if (args.since !== undefined && args.since > conversation.lastSeq) {
    throw new ParleyError('conflict', `since ${args.since} is ahead of the conversation (last seq ${conversation.lastSeq})`, {
      details: { headSeq: conversation.lastSeq },
    });
  }
  await session.subscriptions.subscribe(keyOf(session, args.conversationId), args.since ?? conversation.lastSeq);
  return { conversationId: args.conversationId, headSeq: conversation.lastSeq };
};

const unsubscribe: Handler<'unsubscribe'> = async (session, args) => {
  await session.subscriptions.unsubscribe(keyOf(session, args.conversationId));
  return {};
};

const typing: Handler<'typing'> = async (session, args) => {
  await authorizedRecent(session, args.conversationId);
  const principal = session.principal!;
  await session.services.bus.publishSignal({
    tenant: principal.tenant,
    conversation: args.conversationId,
    type: 'typing',
    ts: Date.now(),
    actor: { kind: 'user', id: principal.userId },
    data: { active: args.active },
  });
  return {};
};

const read: Handler<'read'> = async (session, args) => {
  const conversation = await authorized(session, args.conversationId);
  if (!conversation.members.includes(session.principal!.userId)) {
    throw new ParleyError('forbidden', 'only members have read markers');
  }
  if (args.seq > conversation.lastSeq) throw new ParleyError('bad_request', `seq ${args.seq} does not exist yet (last seq ${conversation.lastSeq})`);
  return session.services.log.markRead(keyOf(session, args.conversationId), session.principal!.userId, args.seq);
};

const presence: Handler<'presence'> = async (session, args) => {
  await authorized(session, args.conversationId);
  return { online: await session.services.presence.list(keyOf(session, args.conversationId)) };
};

const stopGeneration: Handler<'ai.stop'> = async (session, args) => {
  await authorized(session, args.conversationId);
  return { stopped: await session.services.assistants.stop(keyOf(session, args.conversationId), args.generationId) };
};

const approveTool: Handler<'ai.approve'> = async (session, args) => {
  await authorized(session, args.conversationId);
  const decision = await session.services.assistants.resolveApproval(keyOf(session, args.conversationId), args.approvalId, args.approved, actorOf(session));
  return { approvalId: args.approvalId, ...decision };
};

const inspectContext: Handler<'ai.context'> = async (session, args) => {
  await authorized(session, args.conversationId);
  if (actorOf(session).kind !== 'agent') throw new ParleyError('forbidden', 'only agents and admins may inspect generation contexts');
  const context = await session.services.assistants.inspectContext(keyOf(session, args.conversationId), args.generationId);
  if (!context) throw new ParleyError('not_found', `no context kept for generation ${args.generationId}`);
  return context;
};

const ping: Handler<'ping'> = async () => ({ ts: Date.now() });

/** The handler of each protocol operation. Every handler authorizes its own target. */
export const OPERATIONS: { [Op in OperationName]: Handler<Op> } = {
  connect,
  'token.refresh': refreshToken,
  'conversation.open': openConversation,
  'conversation.get': getConversation,
  'message.send': sendMessage,
  history,
  subscribe,
  unsubscribe,
  typing,
  read,
  presence,
  'ai.stop': stopGeneration,
  'ai.approve': approveTool,
  'ai.context': inspectContext,
  ping,
};
