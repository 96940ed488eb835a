import type { ConversationKey } from './types.js';

/** Who is connected to which conversation. Entries belong to connections; a dead node's entries must expire. */
export interface Presence {
  /** Records a connection of `userId` in the conversation; true if it is the user's first there (the user joined). */
  join(key: ConversationKey, userId: string, connectionId: string): Promise<boolean>;
  /** Removes that connection; true if it was the user's last there (the user left). */
  leave(key: ConversationKey, userId: string, connectionId: string): Promise<boolean>;
  /** Keeps a live connection's entry from expiring (called on heartbeats). */
  refresh(key: ConversationKey, userId: string, connectionId: string): Promise<void>;
  list(key: ConversationKey): Promise<Array<{ userId: string; connections: number }>>;
}
