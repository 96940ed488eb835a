import { z } from 'zod';
import type { ConversationEvent } from '@parley/protocol';
import { viewerOf } from '../../auth/authorization.js';
import type { TokenVerifier } from '../../auth/tokens.js';
import type { ConversationService } from '../../conversations/service.js';
import { ParleyError } from '../../core/errors.js';
import type { ConversationKey, Principal } from '../../core/types.js';
import { AnswerStream, type AnswerStreamDependencies, type ResponseSink } from './answer-stream.js';

/** What the AI SDK endpoints need, wired by the composition root. */
export interface AiSdkDependencies extends AnswerStreamDependencies {
  conversations: ConversationService;
  verifier: TokenVerifier;
  /** The assistant profile of chats opened without naming one. */
  defaultAssistant: string;
}

// The newest events read to find a chat's running answer.
const ACTIVE_SEARCH_EVENTS = 200;

const uiPartSchema = z.looseObject({ type: z.string() });
const uiMessageSchema = z.looseObject({ id: z.string().min(1).max(200), role: z.enum(['system', 'user', 'assistant']), parts: z.array(uiPartSchema) });

/** The fields of an AI SDK send request that Parley reads (the rest, notably the history, is ignored). */
export const sendRequestSchema = z.object({
  id: z.string().min(1).max(200),
  messages: z.array(uiMessageSchema).min(1),
  trigger: z.enum(['submit-message', 'regenerate-message']).default('submit-message'),
  /** The assistant profile of a chat opened by this request (`body: {assistant}` in the AI SDK). */
  assistant: z.string().min(1).max(200).optional(),
});
export type SendRequest = z.infer<typeof sendRequestSchema>;

/** A response under way: closing it stops following the answer (the answer itself runs on). */
export interface OpenResponse {
  /** The generation the response follows, once known. */
  readonly generationId: string | null;
  close(): Promise<void>;
}

/**
 * The AI SDK dialect's use of the conversations: chat id = conversation id, UI message id = clientMsgId, the
 * answer's UI message id = its generation id. Everything goes through the conversations service; only the
 * last message of a request is read, and the context is built from Parley's own log.
 */
export class AiSdkChats {
  constructor(private readonly dependencies: AiSdkDependencies) {}

  /** The user behind `Authorization: Bearer <JWT>` (header names may come in any case). */
  async authenticate(headers: Record<string, string | undefined>): Promise<Principal> {
    const header = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1] ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new ParleyError('unauthorized', 'send the header Authorization: Bearer <token>');
    return this.dependencies.verifier.verify(token);
  }

  /**
   * Sends the request's last message (a user's message, or the answers to tool approvals) and streams the
   * answer it gets. A chat id not seen before opens a conversation owned by the caller.
   */
  async send(principal: Principal, request: SendRequest, sink: ResponseSink): Promise<OpenResponse> {
    if (request.trigger === 'regenerate-message') throw new ParleyError('bad_request', "Parley's log is append-only: regenerating an answer is not supported; send a new message");
    const conversationId = await this.openChat(principal, request.id, request.assistant);
    const last = request.messages.at(-1)!;
    if (last.role === 'user') return this.sendMessage(principal, conversationId, last, sink);
    if (last.role === 'assistant') return this.sendApprovals(principal, conversationId, last, sink);
    throw new ParleyError('bad_request', 'the last message must be a user message or an assistant message with answered tool approvals');
  }

  /** Replays the chat's running answer from its start, then streams it live; null when no answer runs. */
  async resume(principal: Principal, chatId: string, sink: ResponseSink): Promise<OpenResponse | null> {
    let history;
    try {
      history = await this.dependencies.conversations.history(principal, { conversationId: chatId, limit: ACTIVE_SEARCH_EVENTS });
    } catch (error) {
      // A chat that does not exist yet has nothing to resume; one the caller may not read is not found.
      if (error instanceof ParleyError && error.code === 'not_found') return null;
      throw hidden(error, chatId);
    }
    const active = runningAnswer(history.events);
    if (!active) return null;
    const stream = this.stream(principal, chatId, sink, 'text');
    await stream.attach();
    void this.run(stream, sink, () => stream.start(active.startedSeq - 1, { generationId: active.generationId }));
    return response(stream, active.generationId);
  }

  /** Stops the chat's running answer (or only `generationId`) on whichever worker runs it. */
  async stop(principal: Principal, chatId: string, generationId?: string): Promise<string[]> {
    try {
      return (await this.dependencies.conversations.stopGeneration(principal, { conversationId: chatId, ...(generationId ? { generationId } : {}) })).stopped;
    } catch (error) {
      throw hidden(error, chatId);
    }
  }

  private async sendMessage(principal: Principal, conversationId: string, message: z.infer<typeof uiMessageSchema>, sink: ResponseSink): Promise<OpenResponse> {
    const text = message.parts
      .filter((part) => part.type === 'text' && typeof part.text === 'string')
      .map((part) => part.text as string)
      .join('');
    if (text.trim() === '') throw new ParleyError('bad_request', 'the user message has no text part');
    const stream = this.stream(principal, conversationId, sink, 'text');
    // Heard from before the send: the answer cannot start unseen.
    await stream.attach();
    try {
      const ack = await this.dependencies.conversations.send(principal, { conversationId, clientMsgId: message.id, content: { type: 'text', text } });
      void this.run(stream, sink, () => stream.start(ack.seq, { replyTo: ack.seq }));
    } catch (error) {
      await stream.close();
      throw error;
    }
    return response(stream, null);
  }

  /**
   * The answers to tool approvals in the answer's message (its id is the generation's): recorded (the first
   * decision wins, so a tool runs once however often this is sent), then the rest of the same answer streams.
   */
  private async sendApprovals(principal: Principal, conversationId: string, message: z.infer<typeof uiMessageSchema>, sink: ResponseSink): Promise<OpenResponse> {
    const answers = approvalAnswers(message.parts);
    if (answers.length === 0) throw new ParleyError('bad_request', 'the last message is an assistant message without answered tool approvals');
    const generationId = message.id;
    const key: ConversationKey = { tenant: principal.tenant, conversationId };
    const stream = this.stream(principal, conversationId, sink, `after-${answers[0]!.approvalId}`);
    await stream.attach();
    try {
      const head = (await this.dependencies.conversations.get(principal, conversationId)).lastSeq;
      // The generation waits for the decision: its text so far is what the client already has.
      const baseline = (await this.dependencies.assistants.snapshots(key)).find((text) => text.generationId === generationId);
      if (!baseline) throw new ParleyError('conflict', `answer ${generationId} is not waiting for an approval (it has ended)`);
      for (const answer of answers) {
        await this.dependencies.conversations.approveTool(principal, { conversationId, approvalId: answer.approvalId, approved: answer.approved });
      }
      void this.run(stream, sink, () => stream.start(head, { generationId }, { baseline, knownCalls: answers.map((answer) => answer.toolCallId) }));
    } catch (error) {
      await stream.close();
      throw error;
    }
    return response(stream, generationId);
  }

  private stream(principal: Principal, conversationId: string, sink: ResponseSink, textPart: string): AnswerStream {
    return new AnswerStream({ tenant: principal.tenant, conversationId }, this.dependencies, viewerOf(principal), sink, textPart);
  }

  /** Runs a stream's start in the background; a failure ends the response with an error. */
  private async run(stream: AnswerStream, sink: ResponseSink, start: () => Promise<void>): Promise<void> {
    try {
      await start();
    } catch (error) {
      await stream.close();
      this.dependencies.logger.warn({ err: error }, 'AI SDK response failed');
      sink.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The chat's conversation: opened for the caller if new (with the named or default assistant), else authorized. */
  private async openChat(principal: Principal, chatId: string, assistant: string | undefined): Promise<string> {
    try {
      const { conversation } = await this.dependencies.conversations.open(principal, { conversationId: chatId, members: [], metadata: {}, assistant: assistant ?? this.dependencies.defaultAssistant });
      if (!conversation.assistant) throw new ParleyError('conflict', `chat ${chatId} has no assistant`);
      return conversation.id;
    } catch (error) {
      throw hidden(error, chatId);
    }
  }
}

function response(stream: AnswerStream, generationId: string | null): OpenResponse {
  return {
    get generationId() {
      return stream.generationId ?? generationId;
    },
    close: () => stream.close(),
  };
}

/** A chat the caller may not read is reported as not found: its existence is not the caller's to know. */
function hidden(error: unknown, chatId: string): unknown {
  if (error instanceof ParleyError && error.code === 'forbidden') return new ParleyError('not_found', `chat ${chatId} does not exist`);
  return error;
}

/** The approvals a user answered in an assistant message's tool parts (state `approval-responded`). */
export function approvalAnswers(parts: ReadonlyArray<Record<string, unknown>>): Array<{ approvalId: string; toolCallId: string; approved: boolean }> {
  const answers: Array<{ approvalId: string; toolCallId: string; approved: boolean }> = [];
  for (const part of parts) {
    const type = part.type as string;
    if (!(type.startsWith('tool-') || type === 'dynamic-tool') || part.state !== 'approval-responded') continue;
    const approval = part.approval as { id?: unknown; approved?: unknown } | undefined;
    if (typeof approval?.id !== 'string' || typeof approval.approved !== 'boolean' || typeof part.toolCallId !== 'string') continue;
    answers.push({ approvalId: approval.id, toolCallId: part.toolCallId, approved: approval.approved });
  }
  return answers;
}

/** The newest answer among `events` that has started and not ended (it may wait for an approval). */
export function runningAnswer(events: readonly ConversationEvent[]): { generationId: string; startedSeq: number } | null {
  const ended = new Set<string>();
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index]!;
    const generationId = (event.data as { generationId?: unknown }).generationId;
    if (typeof generationId !== 'string') continue;
    if (event.type === 'ai.completed' || event.type === 'ai.stopped' || event.type === 'ai.failed') ended.add(generationId);
    else if (event.type === 'ai.started') return ended.has(generationId) ? null : { generationId, startedSeq: event.seq };
  }
  return null;
}
