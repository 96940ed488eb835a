// Starts the systems under test as their own processes (so their memory and CPU can be read alone) and
// cleans up what they used: temporary directories, PostgreSQL schemas, Redis keys.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { BENCH_SECRET } from './tokens.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.PARLEY_REDIS_URL || 'redis://127.0.0.1:6379';

/** Limits lifted so that only capacity, not policy, bounds a benchmark. */
const UNLIMITED = {
  PARLEY_RATE_PER_SECOND: '1000000',
  PARLEY_RATE_BURST: '1000000',
  PARLEY_USER_SEND_RATE_PER_SECOND: '1000000',
  PARLEY_USER_SEND_BURST: '1000000',
  PARLEY_MAX_CONNECTIONS_PER_IP: '1000000',
  PARLEY_MAX_CONNECTIONS_PER_USER: '1000',
  PARLEY_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
  PARLEY_MAX_PENDING_REQUESTS: '4096',
  PARLEY_CONNECT_TIMEOUT_MS: '120000',
};

// Servers still running when the runner ends (an error, a timeout in a test) end with it.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Spawns `node <script> ...args` and resolves when it logs `listening` with its port. */
export async function startProcess(script, args = [], env = {}) {
  // Node flags for every server (Parley and the peers), e.g. to profile them.
  const flags = process.env.BENCH_SERVER_NODE_FLAGS ? process.env.BENCH_SERVER_NODE_FLAGS.split(' ') : [];
  const child = spawn(process.execPath, [...flags, join(ROOT, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const logs = [];
  const remember = (line) => logs.push(line) > 50 && logs.shift();
  createInterface({ input: child.stderr }).on('line', remember);
  const exited = new Promise((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${logs.join('\n')}`)), 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      remember(line);
      if (!line.includes('"listening"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line).port);
    });
    void exited.then((code) => (clearTimeout(timer), reject(new Error(`${script} exited with ${code}:\n${logs.join('\n')}`))));
  });
  return {
    pid: child.pid,
    port,
    logs,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A raw `ws` broadcast server or a Socket.IO server; `wsUrl` is where clients connect. */
export async function startPeer(kind) {
  const server = await startProcess(kind === 'ws' ? 'bench/peers/ws-server.mjs' : 'bench/peers/socketio-server.mjs');
  return { ...server, wsUrl: kind === 'ws' ? `ws://127.0.0.1:${server.port}` : `http://127.0.0.1:${server.port}` };
}

/**
 * Storage and bus shared by the Parley nodes of one scenario: a PostgreSQL schema of its own, and a
 * Redis prefix of its own when `redis` is set. `query(sql, params)` reads that schema (to check what was
 * stored); `release()` drops the schema and deletes the keys.
 */
export async function createBackends({ redis = false } = {}) {
  const id = randomUUID().replaceAll('-', '').slice(0, 12);
  const schema = `parley_bench_${id}`;
  const database = new pg.Client({ connectionString: DATABASE_URL });
  await database.connect();
  await database.query(`CREATE SCHEMA ${schema}`);
  const prefix = `parley-bench-${id}`;
  const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema, ...(redis ? { PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix } : {}) };
  return {
    env,
    prefix,
    query: async (sql, params = []) => {
      await database.query(`SET search_path TO ${schema}`);
      return (await database.query(sql, params)).rows;
    },
    release: async () => {
      await database.query(`DROP SCHEMA ${schema} CASCADE`);
      await database.end();
      if (redis) await deleteRedisKeys(`${prefix}*`);
    },
  };
}

/** Deletes every Redis key matching `pattern` (SCAN, never KEYS or FLUSHALL on a shared Redis). */
export async function deleteRedisKeys(pattern) {
  const client = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await client.quit();
}

/** Starts one Parley node with benchmark limits; `env` adds the store, bus and scenario settings. */
export async function startParley(env = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-'));
  const server = await startProcess('packages/server/dist/cli.js', ['start'], {
    PORT: '0',
    HOST: '127.0.0.1',
    PARLEY_DATA_DIR: dataDir,
    PARLEY_JWT_SECRET: BENCH_SECRET,
    PARLEY_LOG_LEVEL: 'info',
    DATABASE_URL: '',
    ...UNLIMITED,
    ...env,
  });
  return {
    ...server,
    wsUrl: `ws://127.0.0.1:${server.port}/v1/ws`,
    httpUrl: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
