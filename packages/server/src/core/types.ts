import type { Actor, ApiScope, Causation, ConversationEvent, ConversationMode, EventData, KnownEventType, Role } from '@parley/protocol';

/**
 * Who is acting, in one tenant: a person (`user`, from a verified JWT; `roles` decide what it may do) or
 * the tenant's backend (`service`, from an API key; `scopes` decide, and `userId` is the key's id).
 */
export interface Principal {
  readonly kind: 'user' | 'service';
  readonly tenant: string;
  readonly userId: string;
  readonly roles: readonly Role[];
  /** A service principal's scopes (with each `:write` adding its `:read`); undefined for users. */
  readonly scopes?: ReadonlySet<ApiScope>;
  /** Token expiry, ms since epoch. */
  readonly expiresAt: number;
  /** A person's display name and avatar URL, from the token's `name` and `picture` claims. */
  readonly name?: string;
  readonly picture?: string;
}

/** Identifies one conversation; conversation ids are unique within a tenant only. */
export interface ConversationKey {
  readonly tenant: string;
  readonly conversationId: string;
}

export interface ConversationRecord {
  tenant: string;
  id: string;
  createdBy: string;
  createdAt: number;
  metadata: Record<string, unknown>;
  /** Every member, while there are at most the store's large-room threshold of them; null above it (page them instead). */
  members: string[] | null;
  memberCount: number;
  lastSeq: number;
  /** When the last event was committed (ms since the epoch). */
  lastEventAt: number;
  /** The assistant profile that answers user messages here, or null for people-only conversations. */
  assistant: string | null;
  /** Where a support conversation (one with an assistant) stands; null for people-only conversations. */
  support: SupportRecord | null;
}

/** The support desk's state of a conversation, as stored. */
export interface SupportRecord {
  mode: ConversationMode;
  /** The team whose queue it is in (or was last); null: the default inbox. */
  team: string | null;
  assigneeId: string | null;
  assigneeName: string | null;
  /** Whether the assignee accepted (claimed or replied); routing takes unaccepted assignments back after a timeout. */
  accepted: boolean;
  assignedAt: number | null;
  queuedAt: number | null;
  priority: number;
  resolution: number;
  rated: boolean;
  lastStaffSeq: number;
  /** The latest sentiment label of the customer's messages, if measured. */
  sentiment: 'negative' | 'neutral' | 'positive' | null;
  /** When an agent first answered since the conversation was last assigned. */
  firstResponseAt: number | null;
  /** Whether it was ever handed to people. */
  handedOff: boolean;
}

/**
 * A durable event before the store gives it `id`, `seq` and `ts`. Only types of the catalogue are written;
 * with a literal `type`, `data` is checked against that type's schema at compile time.
 */
export interface AppendInput<Type extends KnownEventType = KnownEventType> {
  key: ConversationKey;
  type: Type;
  actor: Actor;
  data: EventData<Type>;
  causation?: Causation;
  /**
   * Appends only while the conversation is in one of these modes (checked under the conversation's row lock,
   * in the append's own statement), else `conflict`: an AI answer starts only in `assistant` mode.
   */
  requireModes?: readonly ConversationMode[];
}

export interface AppendResult {
  event: ConversationEvent;
  /** True when the same actor already appended this `clientMsgId`: `event` is the original. */
  duplicate: boolean;
}

export interface NewConversation {
  key: ConversationKey;
  createdBy: string;
  /** Who `createdBy` is; default `user`. A person who creates a conversation is a member; a backend or the system is not. */
  creatorKind?: Actor['kind'];
  members: string[];
  metadata: Record<string, unknown>;
  assistant: string | null;
}

/** A range of events by seq, ascending. `after`/`before` are exclusive bounds. */
export interface RangeQuery {
  after?: number;
  before?: number;
  limit: number;
  /** Which end of the range to take when more than `limit` events match. */
  from: 'oldest' | 'newest';
}

/** Stable string form of a conversation key for maps and channel names. */
export function conversationKeyString(key: ConversationKey): string {
  return `${key.tenant}/${key.conversationId}`;
}

/** A rolling summary of a conversation's turns up to `throughSeq`, for turns that no longer fit a model's context. */
export interface ConversationMemory {
  summary: string;
  throughSeq: number;
  updatedAt: number;
}

/** Per-user AI limits within a fixed window. */
export interface BudgetLimits {
  windowMs: number;
  /** AI answers a user may ask for per window. */
  requests: number;
  /** Output tokens a user's answers may use per window. */
  tokens: number;
}

/** A member of a conversation as the store keeps it. */
export interface MemberRecord {
  userId: string;
  joinedAt: number;
  lastReadSeq: number;
}

/** A conversation of a user's list, with the user's read marker. */
export interface ConversationListing {
  conversation: ConversationRecord;
  lastReadSeq: number;
}

/** One page of a keyset-paged listing; `next` is the key to continue after, null at the end. */
export interface Page<T, Key> {
  items: T[];
  next: Key | null;
}
