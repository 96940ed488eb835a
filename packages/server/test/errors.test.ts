import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { toParleyError } from '../src/core/errors.js';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What `work` rejects with. */
async function rejection(work: () => Promise<unknown>): Promise<unknown> {
  return work().then(
    () => expect.unreachable('it resolved'),
    (error: unknown) => error,
  );
}

describe('toParleyError', () => {
  it('maps unreachable dependencies to unavailable and the rest to internal', async () => {
    expect(toParleyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({ code: 'unavailable', retryable: true, retryAfterMs: 1000 });
    expect(toParleyError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })).code).toBe('unavailable');
    expect(toParleyError(new Error('Connection terminated unexpectedly')).code).toBe('unavailable');
    expect(toParleyError(Object.assign(new Error('duplicate key'), { code: '23505' })).code).toBe('internal');
    expect(toParleyError('weird').code).toBe('internal');
    expect(toParleyError(null).code).toBe('internal');
  });

  it('maps what ioredis rejects commands with while Redis is unreachable to unavailable with retryAfterMs', async () => {
    const port = await closedPort();
    // A command queued while reconnecting, given up after maxRetriesPerRequest attempts: MaxRetriesPerRequestError.
    const retrying = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => 10 });
    retrying.on('error', () => undefined);
    // No offline queue: "Stream isn't writeable ...".
    const unqueued = new Redis(port, '127.0.0.1', { enableOfflineQueue: false, retryStrategy: () => 10 });
    unqueued.on('error', () => undefined);
    // Closed for good: "Connection is closed.".
    const closed = new Redis(port, '127.0.0.1', { lazyConnect: true });
    closed.disconnect();
    try {
      const errors = [await rejection(() => retrying.get('x')), await rejection(() => unqueued.get('x')), await rejection(() => closed.get('x'))];
      expect(errors.map((error) => (error as Error).name)).toContain('MaxRetriesPerRequestError');
      for (const error of errors) expect(toParleyError(error), String(error)).toMatchObject({ code: 'unavailable', retryAfterMs: 1000 });
    } finally {
      retrying.disconnect();
      unqueued.disconnect();
    }
  });

  it('maps what pg rejects with when its pool cannot get a connection in time to unavailable', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const pool = new pg.Pool({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, connectionTimeoutMillis: 100, max: 1 });
    try {
      const [first, queued] = await Promise.all([rejection(() => pool.query('SELECT 1')), rejection(() => pool.query('SELECT 1'))]);
      for (const error of [first, queued]) expect(toParleyError(error), String(error)).toMatchObject({ code: 'unavailable' });
    } finally {
      await pool.end();
      silent.close();
    }
  });
});
