import { CountMap } from '../../core/count-map.js';
import { assistantBusyError, queueFullError } from '../../core/errors.js';
import type { AiJob, JobQueue, JobReservation, JobRunner, QueuedJob } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Bounds of the AI job queue. */
export interface JobQueueLimits {
  /** Jobs waiting or reserved, in all; beyond it `reserve` throws `busy`. */
  maxQueued: number;
  /** Jobs running at once on this node. */
  concurrency: number;
  /** Jobs of one tenant running at once, so one tenant cannot take every worker. */
  perTenantConcurrency: number;
}

const NEVER_LOST = new AbortController().signal;
// Ids of finished jobs remembered, so that a repeated submit within that many jobs does nothing.
const FINISHED_IDS_KEPT = 10_000;

/**
 * The job queue of one process: reservations count against the bound, so a full queue is reported to the
 * sender (`busy`) before anything is committed; per-tenant caps and per-conversation order apply. It does
 * not outlive the process: jobs still waiting when it stops are not answered.
 */
export class MemoryJobQueue<Job extends QueuedJob = AiJob> implements JobQueue<Job> {
  private readonly waiting: Job[] = [];
  private readonly reserved = new Set<JobReservation>();
  /** Jobs reserved, waiting or running, per conversation (what `exclusive` looks at). */
  private readonly unfinished = new CountMap<string>();
  private readonly runningConversations = new Set<string>();
  private readonly runningPerTenant = new CountMap<string>();
  private running = 0;
  private runner: JobRunner<Job> | null = null;
  /** Ids of the jobs waiting or running, and of recently finished ones (oldest first): submits are idempotent by id. */
  private readonly unfinishedIds = new Set<string>();
  private readonly finishedIds = new Set<string>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly limits: JobQueueLimits,
    private readonly onError: (error: unknown) => void,
  ) {}

  async reserve(key: ConversationKey, options: { exclusive: boolean }): Promise<JobReservation> {
    const name = conversationKeyString(key);
    if (options.exclusive && this.unfinished.get(name) > 0) throw assistantBusyError();
    if (this.waiting.length + this.reserved.size >= this.limits.maxQueued) throw queueFullError();
    const reservation = { key };
    this.reserved.add(reservation);
    this.unfinished.increment(name);
    return reservation;
  }

  async submit(job: Job, reservation?: JobReservation): Promise<boolean> {
    if (reservation && !this.reserved.delete(reservation)) throw new Error('unknown or used reservation');
    const name = conversationOf(job);
    if (this.unfinishedIds.has(job.id) || this.finishedIds.has(job.id)) {
      if (reservation) this.unfinished.decrement(name);
      return false;
    }
    // A job without a reservation was not counted when it was admitted (on a node that is gone).
    if (!reservation) this.unfinished.increment(name);
    this.unfinishedIds.add(job.id);
    this.waiting.push(job);
    this.pump();
    return true;
  }

  async cancel(reservation: JobReservation): Promise<void> {
    if (this.reserved.delete(reservation)) this.unfinished.decrement(conversationKeyString(reservation.key));
  }

  work(run: JobRunner<Job>): void {
    this.runner = run;
    this.pump();
  }

  /** Starts no further job and resolves when the running ones are done; waiting jobs stay unanswered. */
  stopWorking(): Promise<void> {
    this.runner = null;
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stats(): Promise<{ waiting: number; running: number }> {
    return { waiting: this.waiting.length + this.reserved.size, running: this.running };
  }

  async close(): Promise<void> {
    await this.stopWorking();
  }

  private pump(): void {
    const run = this.runner;
    for (let index = 0; run && index < this.waiting.length && this.running < this.limits.concurrency; ) {
      const job = this.waiting[index]!;
      if (!this.canStart(job)) {
        index++;
        continue;
      }
      this.waiting.splice(index, 1);
      void this.start(job, run);
    }
    if (this.running === 0) this.notifyIdle();
  }

  private canStart(job: Job): boolean {
    if (this.runningConversations.has(conversationOf(job))) return false;
    return this.runningPerTenant.get(job.tenant) < this.limits.perTenantConcurrency;
  }

  private async start(job: Job, run: JobRunner<Job>): Promise<void> {
    const conversation = conversationOf(job);
    this.running++;
    this.runningConversations.add(conversation);
    this.runningPerTenant.increment(job.tenant);
    try {
      await run(job, { reclaimed: false, lost: NEVER_LOST });
    } catch (error) {
      this.onError(error);
    } finally {
      this.running--;
      this.runningConversations.delete(conversation);
      this.runningPerTenant.decrement(job.tenant);
      this.unfinished.decrement(conversation);
      this.rememberFinished(job.id);
      this.pump();
    }
  }

  private rememberFinished(id: string): void {
    this.unfinishedIds.delete(id);
    this.finishedIds.add(id);
    if (this.finishedIds.size > FINISHED_IDS_KEPT) this.finishedIds.delete(this.finishedIds.values().next().value!);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function conversationOf(job: QueuedJob): string {
  return conversationKeyString({ tenant: job.tenant, conversationId: job.conversationId });
}
