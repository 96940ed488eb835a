import type { ModelMessage } from 'ai';
import type { ConversationEvent } from '@parley/protocol';
import type { AssistantProfile } from './profiles.js';

/** What one generation sends to the model. */
export interface GenerationContext {
  system: string;
  messages: ModelMessage[];
  /** Events of the conversation the messages were built from. */
  historyEvents: number;
  estimatedTokens: number;
}

// The demo model has no tokenizer and real ones differ: budgets use four characters a token.
const CHARACTERS_PER_TOKEN = 4;

/**
 * Builds the model's context from the conversation's events, newest first within the profile's token
 * budget: user and agent messages become user turns, finished answers assistant turns.
 */
export function buildContext(profile: AssistantProfile, events: ConversationEvent[]): GenerationContext {
  const turns = events.map(toTurn).filter((turn): turn is ModelMessage => turn !== null);
  const budget = profile.contextTokens * CHARACTERS_PER_TOKEN - profile.systemPrompt.length;
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
    system: profile.systemPrompt,
    messages: kept,
    historyEvents: events.length,
    estimatedTokens: Math.ceil((used + profile.systemPrompt.length) / CHARACTERS_PER_TOKEN),
  };
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
