import type { GenerationText } from '@parley/protocol';
import type { Redis } from 'ioredis';
import type { GenerationTexts } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/**
 * Generation texts in Redis: one hash per conversation (`{tenant/conversation}` hash tag), a field per
 * running generation with the time of its last write. A field not written for `ttlMs` (its node died) is
 * ignored and removed; the whole hash expires `ttlMs` after the last write of any generation.
 */
export class RedisGenerationTexts implements GenerationTexts {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async put(key: ConversationKey, text: GenerationText): Promise<void> {
    const hash = this.hashKey(key);
    await this.redis.multi().hset(hash, text.generationId, JSON.stringify({ ...text, updatedAt: Date.now() })).pexpire(hash, this.ttlMs).exec();
  }

  async remove(key: ConversationKey, generationId: string): Promise<void> {
    await this.redis.hdel(this.hashKey(key), generationId);
  }

  /** Running generations; an entry not written for `ttlMs` belonged to a node that died, and is dropped. */
  async list(key: ConversationKey): Promise<GenerationText[]> {
    const hash = this.hashKey(key);
    const fields = await this.redis.hgetall(hash);
    const live: GenerationText[] = [];
    for (const [generationId, json] of Object.entries(fields)) {
      const { updatedAt, ...text } = JSON.parse(json) as GenerationText & { updatedAt: number };
      if (Date.now() - updatedAt <= this.ttlMs) live.push(text);
      else await this.redis.hdel(hash, generationId);
    }
    return live;
  }

  private hashKey(key: ConversationKey): string {
    return `${this.prefix}:gen:{${conversationKeyString(key)}}`;
  }
}
