import type { Actor, ConversationEvent, Signal } from '@parley/protocol';
import type { ConversationKey } from './types.js';

export type BusMessage = { kind: 'event'; event: ConversationEvent } | { kind: 'signal'; signal: Signal };
export type BusListener = (message: BusMessage) => void;

/** What the hot log holds after a seq. `complete` is false when it cannot vouch that nothing before its first event is missing (trimmed, expired or lost). */
export interface HotLogRange {
  events: ConversationEvent[];
  complete: boolean;
}

/**
 * Moves events between nodes. Publishing is best-effort and may be lost or reordered across publishers:
 * the Store is the truth, and subscribers heal gaps by seq. Signals are live only.
 */
export interface Bus {
  /** Adds a committed event to its conversation's hot log and delivers it to the conversation's subscribers. */
  publishEvent(event: ConversationEvent): Promise<void>;
  /** Delivers an ephemeral signal to the conversation's current subscribers; never stored. */
  publishSignal(signal: Signal): Promise<void>;
  /**
   * Subscribes this node to a conversation; resolves once messages published afterwards will be delivered.
   * Returns the unsubscribe function. May stay pending while the bus is disconnected (it completes when the
   * bus reconnects): callers must not hold a client on it.
   */
  subscribe(key: ConversationKey, listener: BusListener): Promise<() => Promise<void>>;
  /** Events with seq > after, ascending, at most `limit`, from the hot log. */
  readHotLog(key: ConversationKey, after: number, limit: number): Promise<HotLogRange>;
  /**
   * Registers `listener` for when the bus regained its subscriptions after losing them (a Redis restart or
   * failover): anything published meanwhile was missed, and subscribers must read it from the log.
   */
  onResubscribed(listener: () => void): void;
  /** Sends a control message to every node (e.g. stop a generation wherever it runs); best effort. */
  publishControl(message: ControlMessage): Promise<void>;
  /** Receives the control messages of every node, this one's included. */
  onControl(listener: (message: ControlMessage) => void): void;
  /**
   * Sends `message` (JSON-serializable) to every node listening on the named topic, this one included;
   * best effort (lost while the bus is down), no order across publishers. Receivers validate what they get.
   */
  publishTopic(topic: string, message: unknown): Promise<void>;
  /** Receives the messages published on `topic` by every node, from when this resolves. */
  onTopic(topic: string, listener: (message: unknown) => void): Promise<void>;
  close(): Promise<void>;
}

/** Node-to-node instructions. */
export type ControlMessage =
  | { type: 'ai.stop'; tenant: string; conversationId: string; generationId?: string; /** Only answers to messages before this seq. */ beforeSeq?: number; /** Why (default `user`). */ reason?: 'user' | 'interrupt' | 'handoff' | 'shutdown' }
  | { type: 'ai.approve'; tenant: string; conversationId: string; approvalId: string; approved: boolean; by: Actor }
  /** The users lost access to the conversation: every node ends their subscriptions to it at once. */
  | { type: 'members.removed'; tenant: string; conversationId: string; userIds: string[] }
  /** A notice for every connection of the user, on whichever node. */
  | { type: 'user.notify'; tenant: string; userId: string; notification: { id: string; ts: number; data: Record<string, unknown> } }
  /** Closes every connection of the user, on whichever node. */
  | { type: 'user.disconnect'; tenant: string; userId: string; reconnect: boolean }
  /** An API key was revoked: every node forgets what it cached of it. */
  | { type: 'apikey.revoked'; tenant: string; keyId: string };
