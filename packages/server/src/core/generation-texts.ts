import type { GenerationText } from '@parley/protocol';
import type { ConversationKey } from './types.js';

/**
 * The text so far of running AI generations, readable from every node, so that a client subscribing
 * anywhere mid-answer gets a snapshot. Entries are removed when a generation ends and expire if its node dies.
 */
export interface GenerationTexts {
  /** Records a generation's text through delta `index` (the whole text so far, not a delta). */
  put(key: ConversationKey, text: GenerationText): Promise<void>;
  remove(key: ConversationKey, generationId: string): Promise<void>;
  /** The running generations of a conversation. */
  list(key: ConversationKey): Promise<GenerationText[]>;
}
