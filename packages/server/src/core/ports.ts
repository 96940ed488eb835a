import type { Actor, ConversationEvent, GenerationText, OperationResult, Signal } from '@parley/protocol';
import type {
  AppendInput,
  AppendResult,
  ConversationKey,
  ConversationMemory,
  ConversationRecord,
  NewConversation,
  RangeQuery,
} from './types.js';

/**
 * Durable storage of conversations and their events; the commit point of the delivery contract.
 * `append` is atomic: the event is stored with the next seq (gapless per conversation) or not at all,
 * and concurrent appends to one conversation are serialized. Nothing is acknowledged before it returns.
 */
export interface Store {
  migrate(): Promise<void>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  /** Creates the conversation and its `conversation.created` event (seq 1) in one transaction; returns the existing one if the id is taken. */
  createConversation(input: NewConversation): Promise<{ conversation: ConversationRecord; event: ConversationEvent | null }>;
  getConversation(key: ConversationKey): Promise<ConversationRecord | null>;
  /** Appends one event. With `causation.clientMsgId`, a repeat by the same actor returns the original (`duplicate: true`). */
  append(input: AppendInput): Promise<AppendResult>;
  /** Events of a seq range, always returned in ascending seq order. */
  readRange(key: ConversationKey, query: RangeQuery): Promise<ConversationEvent[]>;
  /** Moves a member's read marker forward (never back) and appends `receipt.read` when it moved, atomically. */
  markRead(key: ConversationKey, userId: string, seq: number): Promise<{ seq: number; event: ConversationEvent | null }>;
  getMemory(key: ConversationKey): Promise<ConversationMemory | null>;
  /** Stores a summary only if it reaches further than the stored one (concurrent refreshes cannot go back). */
  putMemory(key: ConversationKey, summary: string, throughSeq: number): Promise<boolean>;
  close(): Promise<void>;
}

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
  /** Subscribes this node to a conversation; resolves once messages published afterwards will be delivered. Returns the unsubscribe function. */
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
  close(): Promise<void>;
}

/** Node-to-node instructions. */
export type ControlMessage =
  | { type: 'ai.stop'; tenant: string; conversationId: string; generationId?: string; /** Only answers to messages before this seq. */ beforeSeq?: number }
  | { type: 'ai.approve'; tenant: string; conversationId: string; approvalId: string; approved: boolean; by: Actor };

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

/** What `Assistants.admit` hands back: the reservation for the answer to one message. */
export interface Admission {
  /** The message was committed (not a duplicate): start its answer. */
  committed(event: ConversationEvent): void;
  /** The message was not committed, or was a duplicate: give the reservation back. */
  release(): void;
}

/**
 * The AI side as the gateway sees it. It decides, before a user message is committed, whether the
 * conversation's assistant can take it, so that a full queue or a policy refusal reaches the sender as an
 * error instead of a silent wait.
 */
export interface Assistants {
  /** Whether `profileId` names a configured assistant profile. */
  hasProfile(profileId: string): boolean;
  /** Throws ParleyError (`busy` when the queue is full, `conflict` under the `reject` double-texting policy, ...) or reserves the answer. */
  admit(conversation: ConversationRecord, sender: Actor): Promise<Admission>;
  /** Stops the conversation's running generation (only `generationId`, if given); returns the ids stopped. */
  stop(key: ConversationKey, generationId?: string): Promise<string[]>;
  /**
   * Records the decision on a tool call waiting for approval; the first decision wins and re-sent ones
   * return it with `duplicate: true`, so the tool runs at most once. Throws `not_found` for an unknown approval.
   */
  resolveApproval(key: ConversationKey, approvalId: string, approved: boolean, by: Actor): Promise<{ approved: boolean; duplicate: boolean }>;
  /** The context a recent generation of the conversation sent to its model, or null when no longer kept. */
  inspectContext(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null>;
  /** The text so far of the conversation's running generations, for subscribers that arrive mid-answer. */
  snapshots(key: ConversationKey): Promise<GenerationText[]>;
}

/**
 * The text so far of running AI generations, readable from every node, so that a client subscribing
 * anywhere mid-answer gets a snapshot. Entries are removed when a generation ends and expire if its node dies.
 */
export interface GenerationTexts {
  /** Records a generation's text through delta `index` (the whole text so far, not a delta). */
  put(key: ConversationKey, text: GenerationText): Promise<void>;
  remove(key: ConversationKey, generationId: string): Promise<void>;
  /** The running generations of a conversation. */
  list(key: ConversationKey): Promise<GenerationText[]>;
}

/** Per-user AI budgets in fixed windows, shared by the nodes that share the adapter. */
export interface UsageBudgets {
  /**
   * Counts one AI request of the user, or throws ParleyError `rate_limited` (with the reset time) when a
   * budget is spent. Returns the refund for a request that is then not committed: once, to the same window,
   * never below 0.
   */
  charge(tenant: string, userId: string): Promise<() => Promise<void>>;
  /** Adds the output tokens of a finished answer. */
  addTokens(tenant: string, userId: string, tokens: number): Promise<void>;
}

/**
 * Tool calls waiting for approval, shared by every node: the first decision wins wherever it is sent, and
 * later ones learn it. The node running the generation opens the entry; decisions may come through any node.
 */
export interface ApprovalRegistry {
  /** Marks `approvalId` as waiting for a decision, for at most `ttlMs`. */
  open(key: ConversationKey, approvalId: string, ttlMs: number): Promise<void>;
  /** `first` when this decision is the first, the earlier decision otherwise, `unknown` when nothing waits under that id. */
  decide(key: ConversationKey, approvalId: string, approved: boolean): Promise<'first' | 'approved' | 'denied' | 'unknown'>;
  /** Makes a first decision undone (it could not be recorded), so that it can be sent again. */
  reopen(key: ConversationKey, approvalId: string): Promise<void>;
}

/** The exact contexts recent generations sent to their models, for inspection by agents from any node. */
export interface ContextArchive {
  put(key: ConversationKey, generationId: string, context: OperationResult<'ai.context'>): Promise<void>;
  /** The context, or null when unknown or no longer kept. */
  get(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null>;
}

/** One AI answer to produce, serializable so that any worker node can take it. */
export interface AiJob {
  /** The job's id, which is also the id of the generation that answers. */
  id: string;
  tenant: string;
  conversationId: string;
  /** The seq of the user message to answer. */
  triggerSeq: number;
  profileId: string;
  /** When the message was admitted (ms since the epoch), for the queue-wait metric. */
  admittedAt: number;
  /** W3C trace context of the message's send, when tracing: the answer joins the message's trace on any worker. */
  traceparent?: string;
}

/** A place in the queue, taken before the message that causes the job is committed. */
export interface JobReservation {
  readonly key: ConversationKey;
}

/** How a worker runs a job. `reclaimed`: a worker took it earlier and was lost; `lost` aborts when another worker took it over from this one. */
export type JobRunner = (job: AiJob, context: { reclaimed: boolean; lost: AbortSignal }) => Promise<void>;

/**
 * The bounded queue of AI jobs. Jobs of one conversation run one at a time, in the order they were
 * submitted; the jobs of one tenant running at once are capped. A job whose worker dies is handed to
 * another worker (`reclaimed`) after the visibility timeout, where the queue outlives processes.
 */
export interface JobQueue {
  /**
   * Takes a place for a job of the conversation, before its message is committed. Throws ParleyError `busy`
   * when the queue is full and, with `exclusive`, `conflict` while the conversation has a job admitted and unfinished.
   */
  reserve(key: ConversationKey, options: { exclusive: boolean }): Promise<JobReservation>;
  /** Queues the job in the place taken. */
  submit(reservation: JobReservation, job: AiJob): Promise<void>;
  /** Gives a place back (its message was not committed). */
  cancel(reservation: JobReservation): Promise<void>;
  /** Starts taking jobs and running them with `run` (a worker node). */
  work(run: JobRunner): void;
  /** Stops taking jobs; resolves when the running ones have finished. */
  stopWorking(): Promise<void>;
  /** Jobs waiting (all nodes', where the queue is shared) and jobs running on this node. */
  stats(): Promise<{ waiting: number; running: number }>;
  close(): Promise<void>;
}

/** Per-user rate limits that hold across every node sharing the adapter (a user may connect to several). */
export interface UserRateLimits {
  /** Takes one unit of the user's rate; returns 0 when granted, else the milliseconds until one is available. */
  take(tenant: string, userId: string): Promise<number>;
}
