import type { OperationResult } from '@parley/protocol';
import type { ContextArchive } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Contexts of one process: the most recent `capacity` generations; the oldest are forgotten first. */
export class MemoryContextArchive implements ContextArchive {
  private readonly contexts = new Map<string, OperationResult<'ai.context'>>();

  constructor(private readonly capacity: number) {}

  async put(key: ConversationKey, generationId: string, context: OperationResult<'ai.context'>): Promise<void> {
    this.contexts.set(entryKey(key, generationId), context);
    if (this.contexts.size > this.capacity) this.contexts.delete(this.contexts.keys().next().value!);
  }

  async get(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null> {
    return this.contexts.get(entryKey(key, generationId)) ?? null;
  }
}

function entryKey(key: ConversationKey, generationId: string): string {
  return `${conversationKeyString(key)}#${generationId}`;
}
