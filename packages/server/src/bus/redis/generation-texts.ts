import type { GenerationText } from '@parley/protocol';
import type { Redis } from 'ioredis';
import type { GenerationTexts } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/**
 * Generation texts in Redis: one hash per conversation (`{tenant/conversation}` hash tag), a field per
 * running generation. The hash expires `ttlMs` after its last write, so a dead node's entries go away.
 */
export class RedisGenerationTexts implements GenerationTexts {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async put(key: ConversationKey, text: GenerationText): Promise<void> {
    const hash = this.hashKey(key);
    await this.redis.multi().hset(hash, text.generationId, JSON.stringify(text)).pexpire(hash, this.ttlMs).exec();
  }

  async remove(key: ConversationKey, generationId: string): Promise<void> {
    await this.redis.hdel(this.hashKey(key), generationId);
  }

  async list(key: ConversationKey): Promise<GenerationText[]> {
    const fields = await this.redis.hvals(this.hashKey(key));
    return fields.map((json) => JSON.parse(json) as GenerationText);
  }

  private hashKey(key: ConversationKey): string {
    return `${this.prefix}:gen:{${conversationKeyString(key)}}`;
  }
}
