import type { ModelMessage } from 'ai';
import type { ConversationEvent } from '@parley/protocol';
import type { ProvidedContext } from './context-providers.js';
import type { AssistantProfile } from './profiles.js';

/** What one generation sends to the model. */
export interface GenerationContext {
  system: string;
  messages: ModelMessage[];
  /** Events of the conversation the messages were built from. */
  historyEvents: number;
  estimatedTokens: number;
  /** What each context provider contributed (or why not). */
  providers: ProvidedContext[];
}

// The demo model has no tokenizer and real ones differ: budgets use four characters a token.
const CHARACTERS_PER_TOKEN = 4;

/**
 * Builds the model's context for the answer to the message at `triggerSeq`: user and agent messages up to
 * it become user turns, answers to earlier messages assistant turns placed right after what they answer
 * (an answer committed after a later message still belongs before it). Newest first within the token budget.
 */
export function buildContext(profile: AssistantProfile, events: ConversationEvent[], triggerSeq: number, providers: ProvidedContext[] = []): GenerationContext {
  const system = [profile.systemPrompt, ...providers.filter((provided) => provided.ok).map((provided) => `Context from ${provided.name}:\n${provided.text}`)].join('\n\n');
  const turns = events
    .map((event) => ({ position: positionOf(event), turn: toTurn(event) }))
    .filter((entry): entry is { position: number; turn: ModelMessage } => entry.turn !== null && entry.position < triggerSeq + 1)
    .sort((a, b) => a.position - b.position)
    .map((entry) => entry.turn);
  const budget = profile.contextTokens * CHARACTERS_PER_TOKEN - system.length;
  const kept: ModelMessage[] = [];
  let used = 0;
  for (let index = turns.length - 1; index >= 0; index--) {
    const size = (turns[index]!.content as string).length;
    // The newest turn is always kept, even when it alone is over the budget.
    if (kept.length > 0 && used + size > budget) break;
    kept.unshift(turns[index]!);
    used += size;
  }
  return {
    system,
    messages: kept,
    historyEvents: events.length,
    estimatedTokens: Math.ceil((used + system.length) / CHARACTERS_PER_TOKEN),
    providers,
  };
}

/** Where an event belongs in the dialogue: an answer just after the message it replies to. */
function positionOf(event: ConversationEvent): number {
  const replyTo = event.causation?.replyTo;
  return event.actor.kind === 'assistant' && replyTo !== undefined ? replyTo + 0.5 : event.seq;
}

function toTurn(event: ConversationEvent): ModelMessage | null {
  if (event.type === 'ai.completed' || (event.type === 'ai.stopped' && event.data.text)) {
    return { role: 'assistant', content: String(event.data.text) };
  }
  if (event.type !== 'message.created') return null;
  const content = event.data.content as { type: string; text?: string; data?: unknown };
  const text = content.type === 'text' ? String(content.text) : `[${content.type}] ${JSON.stringify(content.data)}`;
  return { role: 'user', content: event.actor.kind === 'agent' ? `(support agent ${event.actor.id}) ${text}` : text };
}
