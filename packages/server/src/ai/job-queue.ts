import { CountMap } from '../core/count-map.js';
import { ParleyError } from '../core/errors.js';

/** Bounds of the AI job queue. */
export interface JobQueueLimits {
  /** Jobs waiting or reserved, in all; beyond it `reserve` throws `busy`. */
  maxQueued: number;
  /** Jobs running at once on this node. */
  concurrency: number;
  /** Jobs of one tenant running at once, so one tenant cannot take every worker. */
  perTenantConcurrency: number;
}

/** A unit of AI work. Jobs with the same `serialKey` (a conversation) run one after another, in order. */
export interface Job {
  tenant: string;
  serialKey: string;
  run(): Promise<void>;
}

/** A place in the queue, taken before the message that causes the job is committed. */
export interface Reservation {
  readonly tenant: string;
}

/**
 * A bounded in-process job queue: reservations count against the bound, so a full queue is reported to
 * the sender (`busy`) before anything is committed; per-tenant caps and per-conversation ordering apply.
 */
export class MemoryJobQueue {
  private readonly waiting: Job[] = [];
  private readonly reserved = new Set<Reservation>();
  private readonly runningPerTenant = new CountMap<string>();
  private readonly runningKeys = new Set<string>();
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly limits: JobQueueLimits,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Jobs waiting to run (reserved ones included). */
  get depth(): number {
    return this.waiting.length + this.reserved.size;
  }

  get active(): number {
    return this.running;
  }

  reserve(tenant: string): Reservation {
    if (this.depth >= this.limits.maxQueued) {
      throw new ParleyError('busy', 'the assistant is saturated; try again shortly', { retryAfterMs: 1000 });
    }
    const reservation = { tenant };
    this.reserved.add(reservation);
    return reservation;
  }

  submit(reservation: Reservation, job: Job): void {
    if (!this.reserved.delete(reservation)) throw new Error('unknown or used reservation');
    this.waiting.push(job);
    this.pump();
  }

  cancel(reservation: Reservation): void {
    this.reserved.delete(reservation);
  }

  /** Resolves when nothing is waiting or running (shutdown, tests). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    for (let index = 0; index < this.waiting.length && this.running < this.limits.concurrency; ) {
      const job = this.waiting[index]!;
      if (!this.canStart(job)) {
        index++;
        continue;
      }
      this.waiting.splice(index, 1);
      void this.start(job);
    }
    if (this.running === 0 && this.waiting.length === 0) this.notifyIdle();
  }

  private canStart(job: Job): boolean {
    if (this.runningKeys.has(job.serialKey)) return false;
    return this.runningPerTenant.get(job.tenant) < this.limits.perTenantConcurrency;
  }

  private async start(job: Job): Promise<void> {
    this.running++;
    this.runningKeys.add(job.serialKey);
    this.runningPerTenant.increment(job.tenant);
    try {
      await job.run();
    } catch (error) {
      this.onError(error);
    } finally {
      this.running--;
      this.runningKeys.delete(job.serialKey);
      this.runningPerTenant.decrement(job.tenant);
      this.pump();
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
