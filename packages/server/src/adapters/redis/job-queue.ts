import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { assistantBusyError, queueFullError } from '../../core/errors.js';
import type { AiJob, JobQueue, JobReservation, JobRunner, QueuedJob } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';
import { requireConnected } from './connected.js';
import { defineScripts } from './scripts.js';

/** Bounds and timings of the shared job queue, and how it tells its jobs. */
export interface RedisJobQueueOptions<Job extends QueuedJob = AiJob> {
  prefix: string;
  /** Jobs waiting at most, across every node. */
  maxQueued: number;
  /** Jobs this worker runs at once. */
  concurrency: number;
  /** Jobs of one tenant running at once, across every worker. */
  perTenantConcurrency: number;
  /** A delivered job whose worker has not renewed it for this long is handed to another worker. */
  visibilityMs: number;
  /** Whether a job read back from Redis is well-formed (a malformed one is dropped). */
  isJob: (value: unknown) => value is Job;
}

const GROUP = 'workers';
// How long one blocking read waits for jobs before looping (and noticing a stop).
const BLOCK_MS = 2000;
// After a read that brought only jobs of tenants at their cap, before reading again.
const CAPPED_BACKOFF_MS = 100;
// An exclusive reservation of a node that died before it submitted or cancelled expires after this.
const RESERVATION_TTL_MS = 30_000;
const ERROR_BACKOFF_MS = 500;
// How long stopping waits for Redis before giving up on tidying (Redis may be down).
const STOP_WAIT_MS = 1000;
// A submitted job's id is remembered this long (and idempotent meanwhile): longer than a job waits and
// runs, and than a reaction takes to retry a submit whose outcome it did not learn.
const SUBMITTED_TTL_MS = 60 * 60_000;

interface JobCommands {
  jobReserve(unfinished: string, running: string, conversation: string, reservations: string, max: number, exclusive: 0 | 1, localReserved: number, ttlMs: number): Promise<'ok' | 'busy' | 'conflict'>;
  jobRelease(reservations: string): Promise<number>;
  jobSubmit(stream: string, unfinished: string, conversation: string, reservations: string, marker: string, job: string, exclusive: 0 | 1, markerTtlMs: number): Promise<number>;
  jobStart(running: string, tenantRunning: string, conversation: string, jobId: string, visibilityMs: number, cap: number, job: string, reclaimed: 0 | 1): Promise<number>;
  jobHeartbeat(stream: string, running: string, tenantRunning: string, conversation: string, group: string, consumer: string, entryId: string, jobId: string, visibilityMs: number, job: string): Promise<number>;
  jobFinish(stream: string, unfinished: string, conversation: string, running: string, tenantRunning: string, entryId: string, group: string, job: string, jobId: string): Promise<number>;
  jobRequeue(stream: string, entryId: string, group: string, job: string): Promise<number>;
  jobRetire(stream: string, group: string, consumer: string): Promise<number>;
  jobStats(unfinished: string, running: string): Promise<[number, number]>;
}

interface RunningJob<Job> {
  entryId: string;
  raw: string;
  job: Job;
  lost: AbortController;
}

interface Reservation extends JobReservation {
  exclusive: boolean;
}

/**
 * The job queue (AI answers, or another kind) on Redis Streams, shared by every node. A stream read by the consumer group `workers`
 * holds the jobs that may start: only the first unfinished job of each conversation is in it (the rest
 * wait in the conversation's list and follow when it finishes), which keeps answers serial and in order
 * per conversation without workers holding jobs they cannot start. A worker renews its running jobs every
 * third of the visibility timeout; a job not renewed for the whole timeout (its worker died or hung) is
 * taken by another worker with XAUTOCLAIM and run as `reclaimed`. Every key shares the hash tag `{jobs}`.
 */
export class RedisJobQueue<Job extends QueuedJob = AiJob> implements JobQueue<Job> {
  private readonly redis: Redis & JobCommands;
  private readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly base: string;
  private readonly reserved = new Set<Reservation>();
  private readonly running = new Map<string, RunningJob<Job>>();
  private runner: JobRunner<Job> | null = null;
  /** The connection of blocking reads (one per worker, so that other commands never wait behind them). */
  private reader: Redis | null = null;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private loopDone: Promise<void> = Promise.resolve();
  private slotFreed: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Deliveries between their read and their start (or requeue), which stopping waits for. */
  private beginning = 0;
  /** Where the last XAUTOCLAIM scan stopped: the next one goes on from there, so every pending entry is reached. */
  private reclaimCursor = '0-0';
  private reclaimPausedUntil = 0;

  constructor(
    redis: Redis,
    private readonly options: RedisJobQueueOptions<Job>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.redis = redis as Redis & JobCommands;
    this.base = `${options.prefix}:{jobs}`;
    defineScripts(redis, {
      jobReserve: 'job-reserve-4.lua',
      jobRelease: 'job-release-1.lua',
      jobSubmit: 'job-submit-5.lua',
      jobStart: 'job-start-3.lua',
      jobHeartbeat: 'job-heartbeat-4.lua',
      jobFinish: 'job-finish-5.lua',
      jobRequeue: 'job-requeue-1.lua',
      jobRetire: 'job-retire-1.lua',
      jobStats: 'job-stats-2.lua',
    });
    // After Redis was away, every delivery looks idle: renew this worker's at once, before anyone reclaims.
    redis.on('ready', () => {
      this.reclaimPausedUntil = Date.now() + this.options.visibilityMs / 2;
      void this.heartbeat();
    });
  }

  private get stream(): string {
    return `${this.base}:stream`;
  }
  private get unfinished(): string {
    return `${this.base}:unfinished`;
  }
  private get runningSet(): string {
    return `${this.base}:running`;
  }
  private conversationJobs(key: ConversationKey): string {
    return `${this.base}:conversation:${conversationKeyString(key)}`;
  }
  private reservations(key: ConversationKey): string {
    return `${this.base}:reserved:${conversationKeyString(key)}`;
  }
  private submitted(jobId: string): string {
    return `${this.base}:submitted:${jobId}`;
  }
  private tenantRunning(tenant: string): string {
    return `${this.base}:tenant:${tenant}`;
  }

  async reserve(key: ConversationKey, options: { exclusive: boolean }): Promise<JobReservation> {
    // Redis down: the message to the assistant is refused now (`unavailable`), not after ioredis's retries.
    requireConnected(this.redis);
    const exclusive = options.exclusive ? 1 : 0;
    const outcome = await this.redis.jobReserve(
      this.unfinished,
      this.runningSet,
      this.conversationJobs(key),
      this.reservations(key),
      this.options.maxQueued,
      exclusive,
      this.reserved.size,
      RESERVATION_TTL_MS,
    );
    if (outcome === 'busy') throw queueFullError();
    if (outcome === 'conflict') throw assistantBusyError();
    const reservation = { key, exclusive: options.exclusive };
    this.reserved.add(reservation);
    return reservation;
  }

  async submit(job: Job, reservation?: JobReservation): Promise<boolean> {
    const held = reservation ? this.held(reservation) : null;
    const key = { tenant: job.tenant, conversationId: job.conversationId };
    const queued = await this.redis.jobSubmit(this.stream, this.unfinished, this.conversationJobs(key), this.reservations(key), this.submitted(job.id), JSON.stringify(job), held?.exclusive ? 1 : 0, SUBMITTED_TTL_MS);
    // Used only once the script ran: a submit that failed keeps its reservation for the next attempt.
    if (held) this.reserved.delete(held);
    return queued === 1;
  }

  async cancel(reservation: JobReservation): Promise<void> {
    if (!this.reserved.has(reservation as Reservation)) return;
    const held = this.take(reservation);
    if (held.exclusive) await this.redis.jobRelease(this.reservations(held.key));
  }

  private take(reservation: JobReservation): Reservation {
    const held = this.held(reservation);
    this.reserved.delete(held);
    return held;
  }

  private held(reservation: JobReservation): Reservation {
    const held = reservation as Reservation;
    if (!this.reserved.has(held)) throw new Error('unknown or used reservation');
    return held;
  }

  work(run: JobRunner<Job>): void {
    if (this.runner) return;
    this.runner = run;
    this.reader = this.redis.duplicate({ maxRetriesPerRequest: null });
    this.reader.on('error', () => undefined);
    this.timers = [
      setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.options.visibilityMs / 3))),
      setInterval(() => void this.reclaim(), Math.max(100, Math.floor(this.options.visibilityMs / 4))),
    ];
    this.loopDone = this.readLoop(this.reader);
  }

  async stopWorking(): Promise<void> {
    if (!this.runner) return;
    this.runner = null;
    this.reader?.disconnect();
    this.wakeReader();
    // With Redis down the loop may be waiting on a command; it ends by itself once that fails.
    await Promise.race([Promise.all([this.loopDone, this.until(() => this.beginning === 0)]), delay(STOP_WAIT_MS)]);
    if (this.running.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    // A consumer with nothing pending is only clutter in the group's list (one with pending entries stays, for reclaim).
    await Promise.race([this.redis.jobRetire(this.stream, GROUP, this.consumer).catch(() => undefined), delay(STOP_WAIT_MS)]);
  }

  private async until(condition: () => boolean): Promise<void> {
    while (!condition()) await delay(10);
  }

  async stats(): Promise<{ waiting: number; running: number }> {
    const [unfinished, runningAnywhere] = await this.redis.jobStats(this.unfinished, this.runningSet);
    return { waiting: Math.max(0, unfinished - runningAnywhere), running: this.running.size };
  }

  async close(): Promise<void> {
    await this.stopWorking();
  }

  private async readLoop(reader: Redis): Promise<void> {
    await this.ensureGroup();
    while (this.runner) {
      const free = this.options.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let entries: Array<[string, string[]]>;
      try {
        const reply = (await reader.xreadgroup('GROUP', GROUP, this.consumer, 'COUNT', free, 'BLOCK', BLOCK_MS, 'STREAMS', this.stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
        entries = reply?.[0]?.[1] ?? [];
      } catch (error) {
        if (!this.runner) return;
        // Redis lost the stream and its group (a restart without persistence): make them again.
        if (String((error as Error).message).includes('NOGROUP')) await this.ensureGroup();
        else await delay(ERROR_BACKOFF_MS);
        continue;
      }
      let capped = 0;
      for (const [entryId, fields] of entries) if ((await this.begin(entryId, fields, false)) === 'capped') capped++;
      if (capped > 0 && capped === entries.length) await delay(CAPPED_BACKOFF_MS);
    }
  }

  private parse(raw: string): Job | null {
    try {
      const job: unknown = JSON.parse(raw);
      return this.options.isJob(job) ? job : null;
    } catch {
      return null;
    }
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.stream, GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) {
        this.onError(error);
        await delay(ERROR_BACKOFF_MS);
      }
    }
  }

  /** Starts a delivered job, or puts it back (tenant at its cap), or drops a stale or repeated delivery. */
  private async begin(entryId: string, fields: string[] | null, reclaimed: boolean): Promise<'started' | 'capped' | 'dropped'> {
    this.beginning++;
    try {
      return await this.tryBegin(entryId, fields, reclaimed);
    } finally {
      this.beginning--;
    }
  }

  private async tryBegin(entryId: string, fields: string[] | null, reclaimed: boolean): Promise<'started' | 'capped' | 'dropped'> {
    const raw = fields?.[fields.indexOf('job') + 1];
    const job = raw ? this.parse(raw) : null;
    const run = this.runner;
    try {
      if (!raw || !job) {
        this.onError(new Error(`malformed AI job ${entryId} dropped`));
        await this.drop(entryId);
        return 'dropped';
      }
      if (!run) {
        await this.redis.jobRequeue(this.stream, entryId, GROUP, raw);
        return 'capped';
      }
      const key = { tenant: job.tenant, conversationId: job.conversationId };
      const started = await this.redis.jobStart(this.runningSet, this.tenantRunning(job.tenant), this.conversationJobs(key), job.id, this.options.visibilityMs, this.options.perTenantConcurrency, raw, reclaimed ? 1 : 0);
      if (started === 0) {
        await this.redis.jobRequeue(this.stream, entryId, GROUP, raw);
        return 'capped';
      }
      if (started < 0) {
        await this.drop(entryId);
        return 'dropped';
      }
    } catch (error) {
      // Left pending: after the visibility timeout a worker reclaims it.
      this.onError(error);
      return 'dropped';
    }
    const entry: RunningJob<Job> = { entryId, raw, job, lost: new AbortController() };
    this.running.set(entryId, entry);
    void this.execute(entry, run, reclaimed);
    return 'started';
  }

  private async drop(entryId: string): Promise<void> {
    await this.redis.multi().xack(this.stream, GROUP, entryId).xdel(this.stream, entryId).exec();
  }

  private async execute(entry: RunningJob<Job>, run: JobRunner<Job>, reclaimed: boolean): Promise<void> {
    try {
      await run(entry.job, { reclaimed, lost: entry.lost.signal });
    } catch (error) {
      this.onError(error);
    }
    try {
      if (!entry.lost.signal.aborted) await this.finish(entry);
    } catch (error) {
      // Still pending: reclaimed after the visibility timeout, which finds the answer ended and only finishes the job.
      this.onError(error);
    } finally {
      this.running.delete(entry.entryId);
      this.wakeReader();
      if (this.running.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async finish({ entryId, raw, job }: RunningJob<Job>): Promise<void> {
    const key = { tenant: job.tenant, conversationId: job.conversationId };
    await this.redis.jobFinish(this.stream, this.unfinished, this.conversationJobs(key), this.runningSet, this.tenantRunning(job.tenant), entryId, GROUP, raw, job.id);
  }

  private wakeReader(): void {
    const wake = this.slotFreed;
    this.slotFreed = null;
    wake?.();
  }

  /** Renews this worker's running jobs; a job another worker has taken over is abandoned here. */
  private async heartbeat(): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (entry) => {
        const { job } = entry;
        try {
          const conversation = this.conversationJobs({ tenant: job.tenant, conversationId: job.conversationId });
          const held = await this.redis.jobHeartbeat(this.stream, this.runningSet, this.tenantRunning(job.tenant), conversation, GROUP, this.consumer, entry.entryId, job.id, this.options.visibilityMs, entry.raw);
          if (held === 0) entry.lost.abort();
        } catch {
          // Redis unreachable: nobody can reclaim meanwhile either; the next beat tries again.
        }
      }),
    );
  }

  /** Takes over jobs whose worker stopped renewing them for the visibility timeout. */
  private async reclaim(): Promise<void> {
    if (!this.runner || Date.now() < this.reclaimPausedUntil) return;
    const free = this.options.concurrency - this.running.size;
    if (free <= 0) return;
    try {
      const [next, entries] = (await this.redis.xautoclaim(this.stream, GROUP, this.consumer, this.options.visibilityMs, this.reclaimCursor, 'COUNT', free)) as [string, Array<[string, string[] | null]>];
      this.reclaimCursor = next;
      // One of this worker's own jobs comes back if its renewals failed for a while (Redis was away): it still runs here.
      for (const [entryId, fields] of entries) if (!this.running.has(entryId)) await this.begin(entryId, fields, true);
    } catch (error) {
      if (!String((error as Error).message).includes('NOGROUP')) this.onError(error);
    }
  }
}


function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
