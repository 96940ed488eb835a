import type { OperationResult } from '@parley/protocol';
import type { Redis } from 'ioredis';
import type { ContextArchive } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Contexts shared by every node: one key per generation, kept `ttlMs`. */
export class RedisContextArchive implements ContextArchive {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async put(key: ConversationKey, generationId: string, context: OperationResult<'ai.context'>): Promise<void> {
    await this.redis.set(this.contextKey(key, generationId), JSON.stringify(context), 'PX', this.ttlMs);
  }

  async get(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null> {
    const json = await this.redis.get(this.contextKey(key, generationId));
    return json ? (JSON.parse(json) as OperationResult<'ai.context'>) : null;
  }

  private contextKey(key: ConversationKey, generationId: string): string {
    return `${this.prefix}:context:{${conversationKeyString(key)}}:${generationId}`;
  }
}
