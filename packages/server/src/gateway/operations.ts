import { viewerOf } from '../auth/authorization.js';
import { CLOSE_CODES, PROTOCOL_VERSION, type OperationArgs, type OperationName, type OperationResult } from '@parley/protocol';
import { toView } from '../conversations/service.js';
import { ParleyError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
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

const subscribe: Handler<'subscribe'> = async (session, args) => {
  const principal = session.principal!;
  const { headSeq, announcePresence } = await session.services.conversations.authorizeSubscription(principal, args.conversationId, args.since);
  // Staff-only events too, from `staffSince`, for staff who reach the conversation.
  const staffSince = args.staffSince === undefined ? undefined : await staffStart(session, args.conversationId, args.staffSince);
  await session.subscriptions.subscribe({ tenant: principal.tenant, conversationId: args.conversationId }, args.since ?? headSeq, announcePresence, staffSince);
  return { conversationId: args.conversationId, headSeq };
};

async function staffStart(session: OperationSession, conversationId: string, staffSince: number): Promise<number> {
  const lastStaffSeq = await session.services.support.authorizeStaffEvents(session.principal!, conversationId);
  if (staffSince > lastStaffSeq) throw new ParleyError('conflict', `staffSince ${staffSince} is ahead of the conversation (last staff seq ${lastStaffSeq})`, { details: { lastStaffSeq } });
  return staffSince;
}

const unsubscribe: Handler<'unsubscribe'> = async (session, args) => {
  await session.subscriptions.unsubscribe({ tenant: session.principal!.tenant, conversationId: args.conversationId });
  return {};
};

/** One trace per message: the send, its append and, for assistants, the answer's job (see docs/observability.md). Never the text. */
const sendMessage: Handler<'message.send'> = (session, args) => {
  const attributes = { 'parley.tenant': session.principal!.tenant, 'parley.conversation.id': args.conversationId };
  return inSpan('parley.message.send', { kind: SpanKind.SERVER, attributes }, async (span) => {
    // Once its place in the conversation is taken (appends commit in call order), the client's next request may start.
    const result = await session.services.conversations.send(session.principal!, args, () => session.proceed());
    span.setAttributes({ 'parley.event.seq': result.seq, 'parley.duplicate': result.duplicate });
    return result;
  });
};

const ping: Handler<'ping'> = async () => ({ ts: Date.now() });

/** The handler of each protocol operation: the gateway's own (connection, subscriptions) or a conversation use case. */
export const OPERATIONS: { [Op in OperationName]: Handler<Op> } = {
  connect,
  'token.refresh': refreshToken,
  'conversation.open': (session, args) => session.services.conversations.open(session.principal!, args),
  'conversation.get': async (session, args) => ({ conversation: toView(await session.services.conversations.get(session.principal!, args.conversationId), viewerOf(session.principal!)) }),
  'conversation.list': (session, args) => session.services.conversations.list(session.principal!, args),
  'conversation.update': (session, args) => session.services.conversations.update(session.principal!, args),
  'members.add': (session, args) => session.services.conversations.addMembers(session.principal!, args),
  'members.remove': (session, args) => session.services.conversations.removeMembers(session.principal!, args),
  'members.list': (session, args) => session.services.conversations.listMembers(session.principal!, args),
  'message.send': sendMessage,
  history: (session, args) => session.services.conversations.history(session.principal!, args),
  subscribe,
  unsubscribe,
  typing: async (session, args) => {
    await session.services.conversations.typing(session.principal!, args);
    return {};
  },
  read: (session, args) => session.services.conversations.read(session.principal!, args),
  presence: (session, args) => session.services.conversations.presence(session.principal!, args.conversationId),
  'ai.stop': (session, args) => session.services.conversations.stopGeneration(session.principal!, args),
  'ai.approve': (session, args) => session.services.conversations.approveTool(session.principal!, args),
  'ai.context': (session, args) => session.services.conversations.inspectContext(session.principal!, args),
  'support.handoff': (session, args) => session.services.support.handoff(session.principal!, args),
  'support.claim': (session, args) => session.services.support.claim(session.principal!, args),
  'support.assign': (session, args) => session.services.support.assign(session.principal!, args),
  'support.transfer': (session, args) => session.services.support.transfer(session.principal!, args),
  'support.note': (session, args) => session.services.support.note(session.principal!, args),
  'support.resolve': (session, args) => session.services.support.resolve(session.principal!, args),
  'support.reopen': (session, args) => session.services.support.reopen(session.principal!, args),
  'support.handBack': (session, args) => session.services.support.handBack(session.principal!, args),
  'support.close': (session, args) => session.services.support.close(session.principal!, args),
  'support.rate': (session, args) => session.services.support.rate(session.principal!, args),
  'support.staffHistory': (session, args) => session.services.support.staffHistory(session.principal!, args),
  'support.inbox': (session, args) => session.services.support.inbox(session.principal!, args),
  'support.canned': (session, args) => session.services.support.canned(session.principal!, args),
  'agent.status': (session, args) => session.services.support.setStatus(session.principal!, args),
  'agent.viewing': (session, args) => session.services.support.viewing(session.principal!, args),
  ping,
};
