import type { GenerationText } from '@parley/protocol';
import type { GenerationTexts } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Generation texts of a single process. */
export class MemoryGenerationTexts implements GenerationTexts {
  private readonly byConversation = new Map<string, Map<string, GenerationText>>();

  async put(key: ConversationKey, text: GenerationText): Promise<void> {
    const name = conversationKeyString(key);
    const texts = this.byConversation.get(name) ?? new Map<string, GenerationText>();
    texts.set(text.generationId, text);
    this.byConversation.set(name, texts);
  }

  async remove(key: ConversationKey, generationId: string): Promise<void> {
    const name = conversationKeyString(key);
    const texts = this.byConversation.get(name);
    texts?.delete(generationId);
    if (texts?.size === 0) this.byConversation.delete(name);
  }

  async list(key: ConversationKey): Promise<GenerationText[]> {
    return [...(this.byConversation.get(conversationKeyString(key))?.values() ?? [])];
  }
}
