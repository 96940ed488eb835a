import { generateText } from 'ai';
import type { ConversationKey } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import { buildContext } from './context.js';
import { SUMMARY_INSTRUCTIONS } from './memory.js';
import { modelName } from './models.js';
import type { AssistantProfile, ModelSpec } from './profiles.js';
import type { LanguageModelV3 } from '@ai-sdk/provider';

const SUMMARY_TIMEOUT_MS = 30_000;
const HISTORY_EVENTS = 200;

/**
 * Writes the summary a human agent reads when a conversation is handed to them, with the profile's first
 * model, from what the customer and the assistant said (the members' view, as the assistant reads it).
 */
export class HandoffSummaries {
  constructor(
    private readonly log: ConversationLog,
    private readonly profiles: ReadonlyMap<string, AssistantProfile>,
    private readonly createModel: (spec: ModelSpec) => LanguageModelV3,
  ) {}

  async summarize(key: ConversationKey, profileId: string): Promise<{ text: string; model: string }> {
    const profile = this.profiles.get(profileId);
    if (!profile) throw new Error(`assistant ${profileId} is not configured here`);
    const history = await this.log.history(key, { limit: HISTORY_EVENTS });
    const last = history.events.at(-1)?.seq ?? 0;
    const context = buildContext(profile, history.events, last);
    const transcript = context.messages.map((turn) => `${turn.role === 'assistant' ? 'Assistant' : 'User'}: ${String(turn.content)}`).join('\n');
    const spec = profile.models[0]!;
    const { text } = await generateText({
      model: this.createModel(spec),
      system: SUMMARY_INSTRUCTIONS,
      prompt: `Conversation:\n${transcript}`,
      maxRetries: 1,
      abortSignal: AbortSignal.timeout(SUMMARY_TIMEOUT_MS),
    });
    return { text: text.trim(), model: modelName(spec) };
  }
}
