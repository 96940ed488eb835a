import type { ConversationKey } from './types.js';

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
