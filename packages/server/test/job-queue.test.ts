import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.js';
import { redisTestPrefix, REDIS_URL } from '../../../test/support/redis.js';
import { MemoryJobQueue, type JobQueueLimits } from '../src/adapters/memory/job-queue.js';
import { RedisJobQueue } from '../src/adapters/redis/job-queue.js';
import type { AiJob, JobQueue, JobRunner } from '../src/core/ports.js';
import { isAiJob } from '../src/core/job-queue.js';
import type { ConversationKey } from '../src/core/types.js';
import { Redis } from 'ioredis';

interface QueueFactory {
  name: string;
  /** A queue isolated from other tests; `share` opens another worker on the same queue where the queue is shared. */
  open(limits: JobQueueLimits): { queue: JobQueue; share?: () => JobQueue };
}

const opened: JobQueue[] = [];
const cleanups: Array<() => Promise<void>> = [];

function openRedisQueue(limits: JobQueueLimits, visibilityMs = 10_000) {
  const { prefix, cleanup } = redisTestPrefix('jobs');
  const connections: Redis[] = [];
  const make = () => {
    const connection = new Redis(REDIS_URL);
    connections.push(connection);
    const queue = new RedisJobQueue(connection, { ...limits, prefix, visibilityMs, isJob: isAiJob }, () => undefined);
    opened.push(queue);
    return queue;
  };
  cleanups.push(async () => {
    await cleanup();
    for (const connection of connections) connection.disconnect();
  });
  return { queue: make(), share: make, prefix };
}

const factories: QueueFactory[] = [
  {
    name: 'memory',
    open: (limits) => {
      const queue = new MemoryJobQueue(limits, () => undefined);
      opened.push(queue);
      return { queue };
    },
  },
  { name: 'redis', open: (limits) => openRedisQueue(limits) },
];

afterEach(async () => {
  for (const queue of opened.splice(0)) await queue.stopWorking();
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

let counter = 0;
const conversation = (tenant = 'acme'): ConversationKey => ({ tenant, conversationId: `jobs-${process.pid}-${++counter}` });

const newJob = (key: ConversationKey, triggerSeq = 2): AiJob => ({ id: randomUUID(), tenant: key.tenant, conversationId: key.conversationId, triggerSeq, profileId: 'assistant', admittedAt: Date.now() });

async function enqueue(queue: JobQueue, key: ConversationKey, triggerSeq = 2, options = { exclusive: false }): Promise<AiJob> {
  const reservation = await queue.reserve(key, options);
  const job = newJob(key, triggerSeq);
  expect(await queue.submit(job, reservation)).toBe(true);
  return job;
}

/** A runner whose jobs finish when the test says so; it records what ran, when, and with which context. */
function controlledRunner() {
  const started: Array<{ job: AiJob; reclaimed: boolean; lost: AbortSignal }> = [];
  const finishers = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  const run: JobRunner = (job, context) => {
    started.push({ job, ...context });
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<void>((resolve) =>
      finishers.set(job.id, () => {
        running--;
        resolve();
      }),
    );
  };
  return {
    run,
    started,
    finish: (job: AiJob) => finishers.get(job.id)!(),
    get maxRunning() {
      return maxRunning;
    },
    get running() {
      return running;
    },
  };
}

describe.each(factories)('JobQueue conformance: $name', (factory) => {
  it('runs the jobs of one conversation one at a time, in order, and other conversations alongside', async () => {
    const { queue } = factory.open({ maxQueued: 50, concurrency: 4, perTenantConcurrency: 4 });
    const runner = controlledRunner();
    queue.work(runner.run);
    const first = conversation();
    const other = conversation();
    const jobs = [await enqueue(queue, first, 2), await enqueue(queue, first, 3), await enqueue(queue, first, 4)];
    const otherJob = await enqueue(queue, other, 2);
    await eventually(() => expect(runner.started.map((entry) => entry.job.id).sort()).toEqual([jobs[0]!.id, otherJob.id].sort()));
    for (const [index, job] of jobs.entries()) {
      await eventually(() => expect(runner.started.filter((entry) => entry.job.conversationId === first.conversationId).map((entry) => entry.job.id)).toEqual(jobs.slice(0, index + 1).map((each) => each.id)));
      runner.finish(job);
    }
    runner.finish(otherJob);
    await eventually(() => expect(runner.running).toBe(0));
    expect(runner.started).toHaveLength(4);
    expect(runner.started.every((entry) => !entry.reclaimed)).toBe(true);
  });

  it('keeps a tenant within its cap while other tenants run', async () => {
    const { queue } = factory.open({ maxQueued: 50, concurrency: 8, perTenantConcurrency: 2 });
    const runner = controlledRunner();
    queue.work(runner.run);
    const busyTenant = await Promise.all([1, 2, 3, 4, 5].map(() => enqueue(queue, conversation('busy'))));
    const quietTenant = await enqueue(queue, conversation('quiet'));
    await eventually(() => expect(runner.started.map((entry) => entry.job.id)).toContain(quietTenant.id));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runner.started.filter((entry) => entry.job.tenant === 'busy')).toHaveLength(2);
    for (let done = 0; done < busyTenant.length; done++) {
      await eventually(() => expect(runner.started.filter((entry) => entry.job.tenant === 'busy').length).toBeGreaterThan(done));
      runner.finish(runner.started.filter((entry) => entry.job.tenant === 'busy')[done]!.job);
    }
    runner.finish(quietTenant);
    await eventually(() => expect(runner.started).toHaveLength(6));
    expect(runner.started.filter((entry) => entry.job.tenant === 'busy')).toHaveLength(5);
  });

  it('refuses with busy beyond the bound, and a cancelled place is free again', async () => {
    const { queue } = factory.open({ maxQueued: 2, concurrency: 1, perTenantConcurrency: 1 });
    await enqueue(queue, conversation());
    const held = await queue.reserve(conversation(), { exclusive: false });
    await expect(queue.reserve(conversation(), { exclusive: false })).rejects.toMatchObject({ code: 'busy', retryAfterMs: 1000 });
    await queue.cancel(held);
    await enqueue(queue, conversation());
    expect((await queue.stats()).waiting).toBe(2);
    // Once a worker runs one of them, it no longer waits.
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started).toHaveLength(1));
    expect(await queue.stats()).toEqual({ waiting: 1, running: 1 });
    await enqueue(queue, conversation());
    runner.finish(runner.started[0]!.job);
    await eventually(() => expect(runner.started).toHaveLength(2));
    runner.finish(runner.started[1]!.job);
    await eventually(() => expect(runner.started).toHaveLength(3));
    runner.finish(runner.started[2]!.job);
  });

  it('exclusive: conflict while the conversation has a job reserved, waiting or running', async () => {
    const { queue } = factory.open({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 });
    const key = conversation();
    const reservation = await queue.reserve(key, { exclusive: true });
    await expect(queue.reserve(key, { exclusive: true })).rejects.toMatchObject({ code: 'conflict' });
    await queue.cancel(reservation);
    const job = await enqueue(queue, key, 2, { exclusive: true });
    await expect(queue.reserve(key, { exclusive: true })).rejects.toMatchObject({ code: 'conflict' });
    // Other conversations are not affected.
    await queue.cancel(await queue.reserve(conversation(), { exclusive: true }));
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started).toHaveLength(1));
    await expect(queue.reserve(key, { exclusive: true })).rejects.toMatchObject({ code: 'conflict' });
    runner.finish(job);
    await eventually(async () => expect((await queue.stats()).running).toBe(0));
    await eventually(async () => {
      const next = await queue.reserve(key, { exclusive: true });
      await queue.cancel(next);
    });
  });

  it('queues a job id once: a repeat (waiting, running or finished) does nothing and gives its reservation back', async () => {
    const { queue } = factory.open({ maxQueued: 2, concurrency: 2, perTenantConcurrency: 2 });
    const key = conversation();
    const job = await enqueue(queue, key);
    // The repeat's place is given back: the bound of 2 still has room for one more.
    expect(await queue.submit({ ...job, admittedAt: job.admittedAt + 1 }, await queue.reserve(key, { exclusive: false }))).toBe(false);
    expect(await queue.submit(job)).toBe(false);
    expect((await queue.stats()).waiting).toBe(1);
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started).toHaveLength(1));
    expect(await queue.submit(job)).toBe(false);
    runner.finish(job);
    await eventually(async () => expect(await queue.stats()).toEqual({ waiting: 0, running: 0 }));
    expect(await queue.submit(job, await queue.reserve(key, { exclusive: true }))).toBe(false);
    // The exclusive place the repeat took was given back with it.
    await queue.cancel(await queue.reserve(key, { exclusive: true }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runner.started).toHaveLength(1);
  });

  it('queues a job without a reservation beyond the bound (its message is committed), in order behind the others', async () => {
    const { queue } = factory.open({ maxQueued: 1, concurrency: 1, perTenantConcurrency: 1 });
    const key = conversation();
    const first = await enqueue(queue, key, 2);
    await expect(queue.reserve(conversation(), { exclusive: false })).rejects.toMatchObject({ code: 'busy' });
    const orphan = newJob(key, 3);
    expect(await queue.submit(orphan)).toBe(true);
    expect((await queue.stats()).waiting).toBe(2);
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started.map((entry) => entry.job.id)).toEqual([first.id]));
    runner.finish(first);
    await eventually(() => expect(runner.started.map((entry) => entry.job.id)).toEqual([first.id, orphan.id]));
    runner.finish(orphan);
    await eventually(async () => expect(await queue.stats()).toEqual({ waiting: 0, running: 0 }));
  });

  it('stopWorking starts nothing more and waits for the running jobs', async () => {
    const { queue } = factory.open({ maxQueued: 10, concurrency: 1, perTenantConcurrency: 1 });
    const runner = controlledRunner();
    queue.work(runner.run);
    const first = await enqueue(queue, conversation());
    await enqueue(queue, conversation());
    await eventually(() => expect(runner.started).toHaveLength(1));
    let stopped = false;
    const stopping = queue.stopWorking().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    runner.finish(first);
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runner.started).toHaveLength(1);
  });
});

describe('RedisJobQueue across workers', () => {
  it('two workers share the jobs: each runs once, conversations stay serial', async () => {
    const { queue, share } = openRedisQueue({ maxQueued: 500, concurrency: 3, perTenantConcurrency: 6 });
    const other = share();
    const runs = new Map<string, number>();
    const active = new Set<string>();
    let overlaps = 0;
    const run: JobRunner = async (job) => {
      if (active.has(job.conversationId)) overlaps++;
      active.add(job.conversationId);
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active.delete(job.conversationId);
    };
    queue.work(run);
    other.work(run);
    const keys = Array.from({ length: 10 }, () => conversation());
    const jobs: AiJob[] = [];
    for (let round = 0; round < 5; round++) for (const key of keys) jobs.push(await enqueue(round % 2 ? other : queue, key, round + 2));
    await eventually(() => expect(runs.size).toBe(50));
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    expect(overlaps).toBe(0);
    await eventually(async () => expect((await queue.stats()).waiting).toBe(0));
  });

  it('reclaims the job of a worker that died, after the visibility timeout', async () => {
    const { queue, prefix } = openRedisQueue({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 }, 1000);
    const job = await enqueue(queue, conversation());
    // A worker takes the job and dies before acknowledging it: it never renews it.
    const dead = new Redis(REDIS_URL);
    await dead.xgroup('CREATE', `${prefix}:{jobs}:stream`, 'workers', '0', 'MKSTREAM').catch(() => undefined);
    const delivered = (await dead.xreadgroup('GROUP', 'workers', 'dead-worker', 'COUNT', 1, 'STREAMS', `${prefix}:{jobs}:stream`, '>')) as unknown[];
    expect(delivered).toHaveLength(1);
    dead.disconnect();
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started).toHaveLength(1));
    expect(runner.started[0]).toMatchObject({ job: { id: job.id }, reclaimed: true });
    runner.finish(job);
    await eventually(async () => expect(await queue.stats()).toEqual({ waiting: 0, running: 0 }));
  });

  it('a worker whose job was taken over is told so (lost) and does not finish it', async () => {
    const { queue, share, prefix } = openRedisQueue({ maxQueued: 10, concurrency: 1, perTenantConcurrency: 1 }, 1000);
    const slow = controlledRunner();
    queue.work(slow.run);
    const job = await enqueue(queue, conversation());
    await eventually(() => expect(slow.started).toHaveLength(1));
    // As if this worker had hung past the timeout: another worker claims the delivery.
    const admin = new Redis(REDIS_URL);
    const pending = (await admin.xpending(`${prefix}:{jobs}:stream`, 'workers', '-', '+', 1)) as Array<[string]>;
    await admin.xclaim(`${prefix}:{jobs}:stream`, 'workers', 'someone-else', 0, pending[0]![0]);
    admin.disconnect();
    await eventually(() => expect(slow.started[0]!.lost.aborted).toBe(true), 5000);
    slow.finish(job);
    await queue.stopWorking();
    // The job is not finished by the worker that lost it: another reclaims it from the silent claimant.
    const rescuer = controlledRunner();
    share().work(rescuer.run);
    await eventually(() => expect(rescuer.started).toHaveLength(1), 5000);
    expect(rescuer.started[0]).toMatchObject({ reclaimed: true });
    rescuer.finish(job);
    await eventually(async () => expect((await queue.stats()).waiting).toBe(0));
  });

  it('recovers when Redis loses the stream and its group while a job runs: the job is not taken for lost, and the conversation moves on', async () => {
    const { queue, prefix } = openRedisQueue({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 }, 1000);
    const runner = controlledRunner();
    queue.work(runner.run);
    const key = conversation();
    const first = await enqueue(queue, key, 2);
    const second = await enqueue(queue, key, 3);
    await eventually(() => expect(runner.started).toHaveLength(1));
    const admin = new Redis(REDIS_URL);
    await admin.del(`${prefix}:{jobs}:stream`);
    // Several renewals later the running job is still held, not abandoned.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(runner.started[0]!.lost.aborted).toBe(false);
    runner.finish(first);
    await eventually(() => expect(runner.started.map((entry) => entry.job.id)).toEqual([first.id, second.id]), 10_000);
    runner.finish(second);
    const third = await enqueue(queue, conversation());
    await eventually(() => expect(runner.started.map((entry) => entry.job.id)).toContain(third.id), 10_000);
    runner.finish(third);
    await eventually(async () => expect(await queue.stats()).toEqual({ waiting: 0, running: 0 }));
    admin.disconnect();
  });

  it('a worker that stops while it still holds a delivery (its finish failed) leaves it for another worker to reclaim', async () => {
    const { queue, share } = openRedisQueue({ maxQueued: 10, concurrency: 1, perTenantConcurrency: 1 }, 1000);
    const runner = controlledRunner();
    queue.work(runner.run);
    // Fault injection: the first finish does not reach Redis.
    const commands = (queue as unknown as { redis: { jobFinish: (...args: unknown[]) => Promise<number> } }).redis;
    const finish = commands.jobFinish.bind(commands);
    let failures = 0;
    commands.jobFinish = async (...args) => (failures++ === 0 ? Promise.reject(new Error('connection reset')) : finish(...args));
    const key = conversation();
    const first = await enqueue(queue, key, 2);
    const second = await enqueue(queue, key, 3);
    await eventually(() => expect(runner.started).toHaveLength(1));
    runner.finish(first);
    await queue.stopWorking();
    const rescuer = controlledRunner();
    share().work(rescuer.run);
    await eventually(() => expect(rescuer.started.map((entry) => entry.job.id)).toEqual([first.id]), 10_000);
    expect(rescuer.started[0]!.reclaimed).toBe(true);
    rescuer.finish(first);
    await eventually(() => expect(rescuer.started.map((entry) => entry.job.id)).toEqual([first.id, second.id]));
    rescuer.finish(second);
  });

  it('a submit repeated by the client library (a lost reply) queues the job once', async () => {
    const { queue } = openRedisQueue({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 });
    const key = conversation();
    const job = await enqueue(queue, key);
    const commands = (queue as unknown as { redis: { jobSubmit: (...args: unknown[]) => Promise<number> } }).redis;
    const base = (queue as unknown as { base: string }).base;
    const raw = JSON.stringify(job);
    const conversationKeys = [`${base}:conversation:${key.tenant}/${key.conversationId}`, `${base}:reserved:${key.tenant}/${key.conversationId}`];
    expect(await commands.jobSubmit(`${base}:stream`, `${base}:unfinished`, ...conversationKeys, `${base}:submitted:${job.id}`, raw, 0, 60_000)).toBe(0);
    expect((await queue.stats()).waiting).toBe(1);
    const runner = controlledRunner();
    queue.work(runner.run);
    await eventually(() => expect(runner.started).toHaveLength(1));
    runner.finish(job);
    await eventually(async () => expect(await queue.stats()).toEqual({ waiting: 0, running: 0 }));
    expect(runner.started).toHaveLength(1);
  });
});
