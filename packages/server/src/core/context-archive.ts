import type { OperationResult } from '@parley/protocol';
import type { ConversationKey } from './types.js';

/** The exact contexts recent generations sent to their models, for inspection by agents from any node. */
export interface ContextArchive {
  put(key: ConversationKey, generationId: string, context: OperationResult<'ai.context'>): Promise<void>;
  /** The context, or null when unknown or no longer kept. */
  get(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null>;
}
