import type { Presence } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Presence of a single process: conversation -> user -> connection ids. */
export class MemoryPresence implements Presence {
  private readonly conversations = new Map<string, Map<string, Set<string>>>();

  async join(key: ConversationKey, userId: string, connectionId: string): Promise<boolean> {
    const users = this.conversations.get(conversationKeyString(key)) ?? new Map<string, Set<string>>();
    this.conversations.set(conversationKeyString(key), users);
    const connections = users.get(userId) ?? new Set<string>();
    users.set(userId, connections);
    connections.add(connectionId);
    return connections.size === 1;
  }

  async leave(key: ConversationKey, userId: string, connectionId: string): Promise<boolean> {
    const users = this.conversations.get(conversationKeyString(key));
    const connections = users?.get(userId);
    if (!users || !connections?.delete(connectionId)) return false;
    if (connections.size > 0) return false;
    users.delete(userId);
    if (users.size === 0) this.conversations.delete(conversationKeyString(key));
    return true;
  }

  /** Entries of one process end with their connections: nothing expires. */
  async refresh(): Promise<void> {}

  async list(key: ConversationKey): Promise<Array<{ userId: string; connections: number }>> {
    const users = this.conversations.get(conversationKeyString(key)) ?? new Map<string, Set<string>>();
    return [...users].map(([userId, connections]) => ({ userId, connections: connections.size }));
  }
}
