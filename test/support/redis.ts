import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of a test's own, and a function that deletes every key under it. */
export function redisTestPrefix(name: string): { prefix: string; redis: Redis; cleanup(): Promise<void> } {
  const prefix = `parley-test-${name}-${process.pid}-${Date.now()}`;
  const redis = new Redis(REDIS_URL);
  return {
    prefix,
    redis,
    cleanup: async () => {
      await deleteKeys(redis, prefix);
      await redis.quit();
    },
  };
}

/** Deletes every key under `prefix`: what a test's server processes left in the shared Redis. */
export async function deleteTestKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    await redis.quit();
  }
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

/** A redis-server process of a test's own (not the shared one), so that it can be stopped and started again. */
export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, by PID, and wait for the exit: the Redis is gone, with everything it held. */
  stop(): Promise<void>;
  /** Starts a fresh, empty redis-server on the same port. */
  start(): Promise<void>;
}

/** Starts a throwaway redis-server (no persistence) on a free port of 127.0.0.1. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  const start = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child = started;
    process.once('exit', () => started.kill('SIGKILL'));
    await untilAnswers(port);
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

async function untilAnswers(port: number): Promise<void> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  try {
    for (let attempt = 0; (await probe.ping().catch(() => 'down')) !== 'PONG'; attempt++) {
      if (attempt > 200) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    probe.disconnect();
  }
}

function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
