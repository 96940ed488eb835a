import type { ConversationKey } from './types.js';

/** What every queued job carries: the queue orders jobs per conversation, caps them per tenant, and knows them by id. */
export interface QueuedJob {
  /** Unique per job: submitting a job whose id was submitted before does nothing. */
  id: string;
  tenant: string;
  conversationId: string;
}

/** One AI answer to produce, serializable so that any worker node can take it. */
export interface AiJob extends QueuedJob {
  /** The job's id, derived from the message it answers, and the id of the generation that answers. */
  id: string;
  /** The seq of the user message to answer. */
  triggerSeq: number;
  profileId: string;
  /** When the message was admitted (ms since the epoch), for the queue-wait metric. */
  admittedAt: number;
  /** W3C trace context of the message's send, when tracing: the answer joins the message's trace on any worker. */
  traceparent?: string;
  /**
   * Admitted while the conversation waited in the queue of a team outside its business hours, which opens
   * then (ms since the epoch): the answer may start in mode `queued` too, and the model is told.
   */
  closedUntil?: number;
}

/** A place in the queue, taken before the message that causes the job is committed. */
export interface JobReservation {
  readonly key: ConversationKey;
}

/** Whether a value read back from a shared queue is a well-formed AI job. */
export function isAiJob(value: unknown): value is AiJob {
  const job = value as Partial<AiJob> | null;
  return (
    typeof job === 'object' && job !== null && typeof job.id === 'string' && typeof job.tenant === 'string' &&
    typeof job.conversationId === 'string' && Number.isInteger(job.triggerSeq) && typeof job.profileId === 'string'
  );
}

/** How a worker runs a job. `reclaimed`: a worker took it earlier and was lost; `lost` aborts when another worker took it over from this one. */
export type JobRunner<Job extends QueuedJob = AiJob> = (job: Job, context: { reclaimed: boolean; lost: AbortSignal }) => Promise<void>;

/**
 * The bounded queue of jobs of one kind (AI answers by default). Jobs of one conversation run one at a
 * time, in the order they were submitted; the jobs of one tenant running at once are capped. A job whose
 * worker dies is handed to another worker (`reclaimed`) after the visibility timeout, where the queue
 * outlives processes.
 */
export interface JobQueue<Job extends QueuedJob = AiJob> {
  /**
   * Takes a place for a job of the conversation, before its message is committed. Throws ParleyError `busy`
   * when the queue is full and, with `exclusive`, `conflict` while the conversation has a job admitted and unfinished.
   */
  reserve(key: ConversationKey, options: { exclusive: boolean }): Promise<JobReservation>;
  /**
   * Queues the job, in the place `reservation` took if given; without one (its admitting node is gone) it is
   * queued beyond the bound, since its message is already committed. Idempotent by job id while the job
   * waits or runs and a while after (an hour with Redis, the last 10,000 jobs in memory): a repeat is not
   * queued again, gives its reservation back, and returns false.
   */
  submit(job: Job, reservation?: JobReservation): Promise<boolean>;
  /** Gives a place back (its message was not committed). */
  cancel(reservation: JobReservation): Promise<void>;
  /** Starts taking jobs and running them with `run` (a worker node). */
  work(run: JobRunner<Job>): void;
  /** Stops taking jobs; resolves when the running ones have finished. */
  stopWorking(): Promise<void>;
  /** Jobs waiting (all nodes', where the queue is shared) and jobs running on this node. */
  stats(): Promise<{ waiting: number; running: number }>;
  close(): Promise<void>;
}
