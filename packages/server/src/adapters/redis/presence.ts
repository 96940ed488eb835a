import type { Redis } from 'ioredis';
import type { Presence } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';
import { requireConnected } from './connected.js';
import { defineScripts } from './scripts.js';

interface PresenceCommands {
  presenceJoin(key: string, userId: string, connectionId: string, now: number, ttlMs: number): Promise<number>;
  presenceLeave(key: string, userId: string, connectionId: string, now: number): Promise<number>;
  presenceRefresh(key: string, userId: string, connectionId: string, now: number, ttlMs: number): Promise<number>;
}

/**
 * Presence shared by every node: a hash per conversation of connection entries with an expiry. Gateways
 * refresh their entries with heartbeats, so the entries of a node that died expire after `ttlMs`. While
 * Redis is down every call fails at once with `unavailable`.
 */
export class RedisPresence implements Presence {
  private readonly redis: Redis & PresenceCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    this.redis = redis as Redis & PresenceCommands;
    defineScripts(redis, { presenceJoin: 'presence-join-1.lua', presenceLeave: 'presence-leave-1.lua', presenceRefresh: 'presence-refresh-1.lua' });
  }

  async join(key: ConversationKey, userId: string, connectionId: string): Promise<boolean> {
    requireConnected(this.redis);
    return (await this.redis.presenceJoin(this.hashKey(key), userId, connectionId, Date.now(), this.ttlMs)) === 1;
  }

  async leave(key: ConversationKey, userId: string, connectionId: string): Promise<boolean> {
    requireConnected(this.redis);
    return (await this.redis.presenceLeave(this.hashKey(key), userId, connectionId, Date.now())) === 1;
  }

  async refresh(key: ConversationKey, userId: string, connectionId: string): Promise<void> {
    requireConnected(this.redis);
    await this.redis.presenceRefresh(this.hashKey(key), userId, connectionId, Date.now(), this.ttlMs);
  }

  async list(key: ConversationKey): Promise<Array<{ userId: string; connections: number }>> {
    requireConnected(this.redis);
    const entries = await this.redis.hgetall(this.hashKey(key));
    const now = Date.now();
    const counts = new Map<string, number>();
    for (const [field, expiry] of Object.entries(entries)) {
      if (Number(expiry) <= now) continue;
      const userId = field.slice(0, field.lastIndexOf('|'));
      counts.set(userId, (counts.get(userId) ?? 0) + 1);
    }
    return [...counts].map(([userId, connections]) => ({ userId, connections }));
  }

  private hashKey(key: ConversationKey): string {
    return `${this.prefix}:presence:{${conversationKeyString(key)}}`;
  }
}
