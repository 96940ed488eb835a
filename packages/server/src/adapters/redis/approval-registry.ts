import type { Redis } from 'ioredis';
import type { ApprovalRegistry } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';
import { defineScripts } from './scripts.js';

interface ApprovalCommands {
  approvalDecide(key: string, approvalId: string, decision: string): Promise<'first' | 'approved' | 'denied' | 'unknown'>;
}

/**
 * Approvals shared by every node: a hash per conversation (`{tenant/conversation}` hash tag) of
 * approvalId -> state; the first decision is set atomically by a script. The hash expires with the
 * longest approval wait opened in it.
 */
export class RedisApprovalRegistry implements ApprovalRegistry {
  private readonly redis: Redis & ApprovalCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = redis as Redis & ApprovalCommands;
    defineScripts(redis, { approvalDecide: 'approval-decide-1.lua' });
  }

  async open(key: ConversationKey, approvalId: string, ttlMs: number): Promise<void> {
    const hash = this.hashKey(key);
    const remaining = await this.redis.pttl(hash);
    const transaction = this.redis.multi().hset(hash, approvalId, 'pending');
    if (remaining < ttlMs) transaction.pexpire(hash, ttlMs);
    await transaction.exec();
  }

  decide(key: ConversationKey, approvalId: string, approved: boolean): Promise<'first' | 'approved' | 'denied' | 'unknown'> {
    return this.redis.approvalDecide(this.hashKey(key), approvalId, approved ? 'approved' : 'denied');
  }

  async reopen(key: ConversationKey, approvalId: string): Promise<void> {
    await this.redis.hset(this.hashKey(key), approvalId, 'pending');
  }

  private hashKey(key: ConversationKey): string {
    return `${this.prefix}:approvals:{${conversationKeyString(key)}}`;
  }
}
