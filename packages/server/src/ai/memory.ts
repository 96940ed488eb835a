import type { LanguageModelV3 } from '@ai-sdk/provider';
import { generateText } from 'ai';
import type { ConversationKey, ConversationMemory } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { ContextTurn } from './context.js';

/** The instruction that asks a model for a conversation summary (the demo model recognizes it). */
export const SUMMARY_INSTRUCTIONS =
  'Summarize the conversation so far for your own later reference: the user, what they asked, what was answered and decided. At most 120 words.';

const SUMMARY_TIMEOUT_MS = 30_000;

/**
 * Extends a conversation's rolling summary with the turns that no longer fit the context, through
 * `throughSeq`. Runs after an answer, in the background; the store keeps only a summary that reaches further.
 */
export async function refreshMemory(options: {
  log: ConversationLog;
  model: LanguageModelV3;
  key: ConversationKey;
  previous: ConversationMemory | null;
  turns: ContextTurn[];
  throughSeq: number;
}): Promise<boolean> {
  const transcript = options.turns.map((turn) => `${turn.role === 'assistant' ? 'Assistant' : 'User'}: ${turn.content}`).join('\n');
  const earlier = options.previous ? `Summary of what came before:\n${options.previous.summary}\n\n` : '';
  const { text } = await generateText({
    model: options.model,
    system: SUMMARY_INSTRUCTIONS,
    prompt: `${earlier}Conversation:\n${transcript}`,
    maxRetries: 1,
    abortSignal: AbortSignal.timeout(SUMMARY_TIMEOUT_MS),
  });
  return options.log.putMemory(options.key, text.trim(), options.throughSeq);
}
