import { contentText, InvalidDataError, isPartsContent, parseEvent, type Content, visibleTo, type ConversationEvent, type ParleyEvent } from '@parley/protocol';
import type { ConversationMemory } from '../core/types.js';
import type { ProvidedContext } from './context-providers.js';
import { knowledgeSection, type NumberedPassage } from './knowledge-context.js';
import type { AssistantProfile } from './profiles.js';

/** One turn of the dialogue the model sees. */
export interface ContextTurn {
  role: 'user' | 'assistant';
  content: string;
  /** Attachment ids of the images this (user) turn carries, for models that take images; the text says what they are either way. */
  images?: string[];
}

/** What one generation sends to the model. */
export interface GenerationContext {
  system: string;
  messages: ContextTurn[];
  /** Events of the conversation the messages were built from. */
  historyEvents: number;
  estimatedTokens: number;
  /** What each context provider contributed (or why not). */
  providers: ProvidedContext[];
  /** Knowledge-base passages in the system prompt, numbered as the answer cites them. */
  passages: NumberedPassage[];
  /** The turns that did not fit, oldest first, and the position of the newest of them (for session memory). */
  dropped: { turns: ContextTurn[]; throughSeq: number } | null;
  /** Events left out because their data does not match the catalogue (a bug to report, not a reason to fail the answer). */
  invalid: InvalidDataError[];
}

// The demo model has no tokenizer and real ones differ: budgets use four characters a token.
const CHARACTERS_PER_TOKEN = 4;

/**
 * Builds the model's context for the answer to the message at `triggerSeq`: user and agent messages up to
 * it become user turns, answers to earlier messages assistant turns placed right after what they answer
 * (an answer committed after a later message still belongs before it). Newest first within the token budget.
 * The assistant answers members, so it reads what members may see, through the same filter as they do.
 */
export function buildContext(
  profile: AssistantProfile,
  events: ConversationEvent[],
  triggerSeq: number,
  extras: { providers?: ProvidedContext[]; memory?: ConversationMemory | null; waitingUntil?: number; passages?: NumberedPassage[] } = {},
): GenerationContext {
  const providers = extras.providers ?? [];
  const passages = extras.passages ?? [];
  const memory = extras.memory ?? null;
  const system = [
    profile.systemPrompt,
    ...(extras.waitingUntil !== undefined ? [waitingLine(extras.waitingUntil)] : []),
    ...(memory ? [`Summary of the earlier conversation:\n${memory.summary}`] : []),
    ...providers.filter((provided) => provided.ok).map((provided) => `Context from ${provided.name}:\n${provided.text}`),
    ...(passages.length > 0 ? [knowledgeSection(passages)] : []),
  ].join('\n\n');
  const { readable, invalid } = readableEvents(events);
  const turns = readable
    .map((event) => ({ position: positionOf(event), turn: toTurn(event) }))
    .filter((entry): entry is { position: number; turn: ContextTurn } => entry.turn !== null && entry.position < triggerSeq + 1)
    .sort((a, b) => a.position - b.position);
  const budget = profile.contextTokens * CHARACTERS_PER_TOKEN - system.length;
  let first = turns.length;
  let used = 0;
  for (let index = turns.length - 1; index >= 0; index--) {
    const size = turns[index]!.turn.content.length;
    // The newest turn is always kept, even when it alone is over the budget.
    if (first < turns.length && used + size > budget) break;
    first = index;
    used += size;
  }
  // Turns the memory already summarizes are not "dropped" again.
  const dropped = turns.slice(0, first).filter((entry) => entry.position > (memory?.throughSeq ?? 0));
  return {
    system,
    messages: turns.slice(first).map((entry) => entry.turn),
    historyEvents: events.length,
    estimatedTokens: Math.ceil((used + system.length) / CHARACTERS_PER_TOKEN),
    providers,
    passages,
    dropped: dropped.length > 0 ? { turns: dropped.map((entry) => entry.turn), throughSeq: Math.floor(dropped.at(-1)!.position) } : null,
    invalid,
  };
}

/** What the model is told while the customer waits for a team that is outside its business hours. */
function waitingLine(closedUntil: number): string {
  return `The customer is waiting for a human support agent, and the support team is away until ${new Date(closedUntil).toUTCString()}. Keep helping meanwhile; the conversation is already in the team's queue.`;
}

/** The events members may see, typed; those whose data does not match the catalogue apart. */
function readableEvents(events: ConversationEvent[]): { readable: ParleyEvent[]; invalid: InvalidDataError[] } {
  const readable: ParleyEvent[] = [];
  const invalid: InvalidDataError[] = [];
  for (const event of events) {
    if (!visibleTo(event, 'member')) continue;
    const parsed = parseEvent(event);
    if (parsed.ok) readable.push(parsed.event);
    else invalid.push(parsed.error);
  }
  return { readable, invalid };
}

/** Where an event belongs in the dialogue: an answer just after the message it replies to. */
function positionOf(event: ParleyEvent): number {
  const replyTo = event.causation?.replyTo;
  return event.actor.kind === 'assistant' && replyTo !== undefined ? replyTo + 0.5 : event.seq;
}

function toTurn(event: ParleyEvent): ContextTurn | null {
  switch (event.type) {
    case 'ai.completed':
      return { role: 'assistant', content: event.data.text };
    case 'ai.stopped':
      return event.data.text ? { role: 'assistant', content: event.data.text } : null;
    // The model must know that people had the conversation and gave it back (it answers again from here).
    case 'conversation.handed_back':
      return { role: 'user', content: '(system) A human support agent handled this conversation and handed it back to you.' };
    case 'handoff.requested':
      return { role: 'user', content: '(system) The conversation was handed to a human support agent.' };
    case 'message.created': {
      // Parts read as text with bracketed notes (a quick-reply choice, a form's values, an image's size and type).
      const text = contentText(event.data.content);
      // The assistant's own rich messages (quick replies, forms) are its turns.
      if (event.actor.kind === 'assistant') return { role: 'assistant', content: text };
      const images = imagesOf(event.data.content);
      return { role: 'user', content: event.actor.kind === 'agent' ? `(support agent ${event.actor.id}) ${text}` : text, ...(images.length > 0 ? { images } : {}) };
    }
    default:
      return null;
  }
}

/** The attachment ids of a message's image parts. */
function imagesOf(content: Content): string[] {
  if (!isPartsContent(content)) return [];
  return content.parts.flatMap((part) => (part.type === 'image' ? [part.attachmentId] : []));
}
