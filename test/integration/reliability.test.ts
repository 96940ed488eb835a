import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jsonCodec, type Codec } from '@parley/protocol';
import { msgpackCodec } from '@parley/protocol/msgpack';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { startOwnRedis } from '../support/redis.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `parley args...` with `env` over a clean Parley environment; killed (and the test failed) after `limitMs`. */
function runCli(args: string[], env: Record<string, string>, limitMs = 15_000): Promise<CliRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PARLEY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`parley ${args.join(' ')} still running after ${limitMs} ms; stderr: ${stderr}`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}

/** A TCP server that accepts connections and never says a word (a wrong port: not PostgreSQL, or a black hole). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (connections are refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One line on stderr, naming DATABASE_URL, and no stack trace. */
function expectOneClearLine(run: CliRun, reason: RegExp): void {
  expect(run.code, run.stderr).not.toBe(0);
  expect(run.code).not.toBeNull();
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^parley: cannot connect to the PostgreSQL at DATABASE_URL \(postgres:\/\/.*\): /);
  expect(lines[0]).toMatch(reason);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('parley start with a DATABASE_URL it cannot use', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeAll(async () => {
    silent = await silentServer();
  });
  afterAll(() => silent.close());

  it('fails within PARLEY_DATABASE_CONNECT_TIMEOUT_MS when the port accepts TCP but does not speak PostgreSQL', async () => {
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${silent.port}/test`, PARLEY_DATABASE_CONNECT_TIMEOUT_MS: '500' });
    expectOneClearLine(run, /no answer within 500 ms/);
    // The process itself takes about a second to load; far less than the time a hang would take.
    expect(run.elapsedMs).toBeLessThan(8000);
  });

  it('says in one line that the connection is refused', async () => {
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    expectOneClearLine(run, /connection refused/);
  });

  it('says in one line that the database does not exist, without the password', async () => {
    const url = new URL(DATABASE_URL);
    url.password = 'not-shown';
    url.pathname = '/parley_no_such_database';
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: url.toString() });
    expectOneClearLine(run, /database "parley_no_such_database" does not exist/);
    expect(run.stderr).not.toContain('not-shown');
  });

  it('parley migrate fails the same way', async () => {
    const run = await runCli(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    expectOneClearLine(run, /connection refused/);
  });
});

describe('settings given under the wrong name', () => {
  it('PARLEY_PORT=abc stops the server with exit code 2 and a message naming PARLEY_PORT', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-reliability-'));
    const run = await runCli(['start'], { PARLEY_PORT: 'abc', HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir }).finally(() => rm(dataDir, { recursive: true, force: true }));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PARLEY_PORT="abc"/);
  });

  it('warns about an unknown PARLEY_* variable, naming the closest known one', async () => {
    const run = await runCli(['token', '--tenant', 'acme', '--user', 'alice'], { PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_JWT_SECRTE: 'x' });
    expect(run.code).toBe(0);
    expect(run.stderr.trim()).toBe('parley: warning: unknown setting PARLEY_JWT_SECRTE is ignored (did you mean PARLEY_JWT_SECRET? `parley config` lists every setting)');
  });

  it('parley config lists PARLEY_PORT beside PORT', async () => {
    const run = await runCli(['config'], {});
    expect(run.stdout).toMatch(/^PORT \(or PARLEY_PORT\) \(--port\) = 8080$/m);
    expect(run.stdout).toMatch(/^HOST \(or PARLEY_HOST\) \(--host\) = 0\.0\.0\.0$/m);
  });
});

describe('parley --version', () => {
  it('prints the version for --version, -v and version', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'packages/server/package.json'), 'utf8')) as { version: string };
    const flags = ['--version', '-v', 'version'];
    const runs = await Promise.all(flags.map((flag) => runCli([flag], {})));
    expect(runs.map((run) => ({ code: run.code, stdout: run.stdout }))).toEqual(flags.map(() => ({ code: 0, stdout: `parley ${version}\n` })));
  });
});

const text = (value: string) => ({ type: 'text', text: value });
const readyz = async (server: TestServer) => {
  const response = await fetch(`${server.url}/readyz`);
  return { statusCode: response.status, body: (await response.json()) as { status: string; draining: boolean; dependencies: Record<string, unknown> } };
};
const dependencyUp = async (server: TestServer, dependency: string) => {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return new RegExp(`^parley_dependency_up\\{dependency="${dependency}"\\} (\\d)$`, 'm').exec(metrics)?.[1];
};
const texts = (client: RawClient, conversationId: string) => client.events(conversationId).map((event: any) => event.data.content?.text ?? event.type);
const seqs = (client: RawClient, conversationId: string) => client.events(conversationId).map((event) => event.seq);
const inOrder = (count: number) => Array.from({ length: count }, (_, index) => index + 1);

/**
 * Two nodes over PostgreSQL and a Redis of the test's own, which is stopped and started again. While it is
 * down, clients resume and subscribe from PostgreSQL alone; once it is back, what they missed arrives, once.
 */
describe('while Redis is down', () => {
  it('resume and first subscriptions are served from PostgreSQL; after Redis returns every missed event arrives once, in order', async () => {
    const redis = await startOwnRedis();
    const schema = await createTestSchema();
    // Presence entries refreshed every second, so that one written late (Redis was down) shows soon.
    const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: redis.url, PARLEY_PRESENCE_TTL_S: '3', PARLEY_PRESENCE_GRACE_MS: '1000' };
    const [nodeA, nodeB] = [await startServer(env), await startServer(env)];
    const clients: RawClient[] = [];
    const connect = async (url: string, user: string) => {
      const client = await RawClient.connect(url, await token(user));
      clients.push(client);
      return client;
    };
    try {
      const alice = await connect(nodeA.wsUrl, 'alice');
      const bob = await connect(nodeB.wsUrl, 'bob');
      const { conversation: shared } = await bob.call('conversation.open', { members: ['alice', 'carol'] });
      const { conversation: fresh } = await bob.call('conversation.open', { members: ['dave'] });
      const { conversation: assisted } = await alice.call('conversation.open', { assistant: 'assistant' });
      await alice.call('subscribe', { conversationId: shared.id, since: 0 });
      await bob.call('message.send', { conversationId: shared.id, clientMsgId: 'before', content: text('before') });
      await alice.waitFor((frame) => frame.event?.data?.content?.text === 'before');

      expect(await readyz(nodeA)).toEqual({
        statusCode: 200,
        body: { status: 'ready', draining: false, dependencies: { store: { up: true, required: true }, redis: { up: true, required: false } } },
      });
      expect(await dependencyUp(nodeA, 'redis')).toBe('1');

      await redis.stop();
      // Redis down shows in the readiness body and the metrics, never in the status: the node still serves.
      await eventually(async () => expect(await readyz(nodeA)).toMatchObject({ statusCode: 200, body: { status: 'degraded', dependencies: { store: { up: true }, redis: { up: false } } } }));
      expect(await dependencyUp(nodeA, 'redis')).toBe('0');
      expect(await dependencyUp(nodeA, 'store')).toBe('1');
      // Sends commit to PostgreSQL; their publishes fail.
      for (const name of ['down 1', 'down 2']) await bob.call('message.send', { conversationId: shared.id, clientMsgId: name.replace(' ', '-'), content: text(name) });
      await bob.call('message.send', { conversationId: fresh.id, clientMsgId: 'fresh-1', content: text('fresh 1') });

      // Resume on node A, where the conversation has a subscriber (alice) and so a bus subscription that Redis lost.
      const carol = await connect(nodeA.wsUrl, 'carol');
      const resumed = await carol.request('subscribe', { conversationId: shared.id, since: 2 }); // seq 1 is conversation.created, 2 'before'
      expect(resumed.error, JSON.stringify(resumed)).toBeUndefined();
      // A first subscriber of a conversation on node A: the node cannot subscribe on Redis now.
      const dave = await connect(nodeA.wsUrl, 'dave');
      const started = performance.now();
      const first = await dave.request('subscribe', { conversationId: fresh.id, since: 0 });
      expect(first.error, JSON.stringify(first)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(5000);
      await eventually(() => expect(texts(carol, shared.id)).toEqual(['down 1', 'down 2']), 10_000);
      await eventually(() => expect(texts(dave, fresh.id)).toEqual(['conversation.created', 'fresh 1']), 10_000);

      // What needs Redis is refused at once as unavailable, with a time to retry, and is not logged as an error.
      const refusedAt = performance.now();
      const assistantSend = await alice.request('message.send', { conversationId: assisted.id, clientMsgId: 'ask', content: text('hello') });
      expect(assistantSend.error).toMatchObject({ code: 'unavailable', retryAfterMs: expect.any(Number) });
      const presence = await carol.request('presence', { conversationId: shared.id });
      expect(presence.error).toMatchObject({ code: 'unavailable', retryAfterMs: expect.any(Number) });
      const typing = await carol.request('typing', { conversationId: shared.id, active: true });
      expect(typing.error).toMatchObject({ code: 'unavailable', retryAfterMs: expect.any(Number) });
      expect(performance.now() - refusedAt).toBeLessThan(1000);

      // Sent on node A while Redis is down: its subscribers on node A get it live, and alice the gap before it.
      await carol.call('message.send', { conversationId: shared.id, clientMsgId: 'local', content: text('local') });
      await eventually(() => expect(texts(alice, shared.id)).toEqual(['conversation.created', 'before', 'down 1', 'down 2', 'local']), 5000);
      await eventually(() => expect(texts(carol, shared.id)).toEqual(['down 1', 'down 2', 'local']), 5000);

      // Committed on node B while Redis is down and after the subscriptions: node A cannot hear of them until Redis is back.
      await bob.call('message.send', { conversationId: shared.id, clientMsgId: 'down-3', content: text('down 3') });
      await bob.call('message.send', { conversationId: fresh.id, clientMsgId: 'fresh-2', content: text('fresh 2') });
      await redis.start();
      await eventually(() => expect(texts(carol, shared.id)).toEqual(['down 1', 'down 2', 'local', 'down 3']), 15_000);
      await eventually(() => expect(texts(dave, fresh.id)).toEqual(['conversation.created', 'fresh 1', 'fresh 2']), 15_000);
      await eventually(() => expect(texts(alice, shared.id)).toEqual(['conversation.created', 'before', 'down 1', 'down 2', 'local', 'down 3']), 15_000);

      // Live again across nodes.
      await bob.call('message.send', { conversationId: shared.id, clientMsgId: 'after', content: text('after') });
      await bob.call('message.send', { conversationId: fresh.id, clientMsgId: 'fresh-3', content: text('fresh 3') });
      await eventually(() => expect(texts(carol, shared.id).at(-1)).toBe('after'), 10_000);
      await eventually(() => expect(texts(dave, fresh.id).at(-1)).toBe('fresh 3'), 10_000);
      await eventually(() => expect(texts(alice, shared.id).at(-1)).toBe('after'), 10_000);
      expect(seqs(alice, shared.id)).toEqual(inOrder(7));
      expect(seqs(carol, shared.id)).toEqual([3, 4, 5, 6, 7]);
      expect(seqs(dave, fresh.id)).toEqual(inOrder(4));
      // Carol's presence entry, which could not be written while Redis was down, is written by a heartbeat.
      await eventually(async () => expect((await carol.call('presence', { conversationId: shared.id })).online.map((entry: { userId: string }) => entry.userId)).toContain('carol'), 10_000);

      expect((await readyz(nodeA)).body.status).toBe('ready');
      expect(await dependencyUp(nodeA, 'redis')).toBe('1');

      const errors = [...nodeA.logs, ...nodeB.logs].filter((line) => line.includes('"level":50'));
      expect(errors.join('\n')).toBe(''); // the lines themselves, should one appear
    } finally {
      for (const client of clients) client.close();
      await nodeA.stop();
      await nodeB.stop();
      await redis.stop();
      await schema.drop();
    }
  });
});

describe('readiness', () => {
  it('is 503 while the store cannot be reached, and 200 again once it can', async () => {
    const schema = await createTestSchema();
    const database = new URL(DATABASE_URL);
    const proxy = await TcpProxy.start(Number(database.port || 5432));
    database.port = String(proxy.port);
    const node = await startServer({ DATABASE_URL: database.toString(), PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_DATABASE_CONNECT_TIMEOUT_MS: '1000' });
    try {
      expect(await readyz(node)).toEqual({ statusCode: 200, body: { status: 'ready', draining: false, dependencies: { store: { up: true, required: true } } } });
      proxy.cut();
      const cut = await readyz(node);
      expect(cut).toMatchObject({ statusCode: 503, body: { status: 'unready', draining: false, dependencies: { store: { up: false, required: true, error: expect.any(String) } } } });
      expect(await dependencyUp(node, 'store')).toBe('0');
      proxy.restore();
      await eventually(async () => expect((await readyz(node)).statusCode).toBe(200));
      expect(await dependencyUp(node, 'store')).toBe('1');
    } finally {
      await node.stop();
      await proxy.close();
      await schema.drop();
    }
  });
});

const codecs: Codec[] = [jsonCodec, msgpackCodec];

/** Sends a request whose id is its last key, as a client is free to write it (JSON objects and MessagePack maps have no order). */
function sendIdLast(client: RawClient, id: number | string, op: string, args: Record<string, unknown> = {}): void {
  client.sendFrame({ op, args, id });
}

/** The replies to `ids`, each waited for; fails if one never comes (a reply with id null matches none). */
const repliesTo = (client: RawClient, ids: Array<number | string>) => Promise.all(ids.map((id) => client.waitFor((frame) => frame.id === id, 5000)));

describe('a request refused by a limit is answered with its id, wherever the id stands in the frame', () => {
  it('rate limited and too large (JSON and MessagePack)', async () => {
    const server = await startServer({ PARLEY_RATE_PER_SECOND: '1', PARLEY_RATE_BURST: '3', PARLEY_MAX_FRAME_BYTES: '4096' });
    try {
      for (const codec of codecs) {
        const client = await RawClient.connect(server.wsUrl, await token('ivan'), { codec });
        // Over the limit, the id after 10 KB of arguments.
        sendIdLast(client, `big-${codec.name}`, 'ping', { pad: 'x'.repeat(10 * 1024) });
        expect((await repliesTo(client, [`big-${codec.name}`]))[0]).toMatchObject({ error: { code: 'too_large' } });
        // A burst: a token or two is left, the rest are refused before they are parsed. Arguments of 3 KB, under the limit.
        const ids = Array.from({ length: 8 }, (_, index) => 1000 + index);
        for (const id of ids) sendIdLast(client, id, 'ping', { pad: 'y'.repeat(3000) });
        const replies = await repliesTo(client, ids);
        const limited = replies.filter((reply) => reply.error?.code === 'rate_limited');
        expect(limited.length, codec.name).toBeGreaterThanOrEqual(6);
        expect(replies.filter((reply) => reply.error && reply.error.code !== 'rate_limited')).toEqual([]);
        expect(client.frames.filter((frame) => frame.id === null), codec.name).toEqual([]);
        client.close();
      }
    } finally {
      await server.stop();
    }
  });

  it('too many requests pending, and draining (JSON and MessagePack)', async () => {
    const schema = await createTestSchema();
    const server = await startServer({ DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_MAX_PENDING_REQUESTS: '2', PARLEY_SHUTDOWN_GRACE_MS: '10000' });
    // Holds the events table locked, so that a history request waits, and the requests behind it stay pending.
    const locker = new pg.Client({ connectionString: DATABASE_URL });
    await locker.connect();
    try {
      const clients = await Promise.all(codecs.map(async (codec) => RawClient.connect(server.wsUrl, await token('judy'), { codec })));
      await clients[0]!.call('conversation.open', { conversationId: 'pending' });
      await locker.query(`BEGIN; LOCK TABLE ${schema.schema}.parley_events IN ACCESS EXCLUSIVE MODE`);
      for (const [index, client] of clients.entries()) {
        sendIdLast(client, `held-${index}`, 'history', { conversationId: 'pending' });
        const ids = [`q1-${index}`, `q2-${index}`, `busy1-${index}`, `busy2-${index}`];
        for (const id of ids) sendIdLast(client, id, 'ping');
        // Two wait behind the held request; the others are beyond PARLEY_MAX_PENDING_REQUESTS.
        const busy = await repliesTo(client, ids.slice(2));
        for (const reply of busy) expect(reply.error, codecs[index]!.name).toMatchObject({ code: 'busy' });
      }
      server.process.kill('SIGTERM');
      // The node drains: the held requests are let finish, new ones are refused.
      await eventually(async () => expect((await readyz(server)).body.draining).toBe(true));
      for (const [index, client] of clients.entries()) {
        sendIdLast(client, `draining-${index}`, 'ping');
        expect((await repliesTo(client, [`draining-${index}`]))[0]!.error, codecs[index]!.name).toMatchObject({ code: 'unavailable' });
      }
      await locker.query('COMMIT');
      for (const [index, client] of clients.entries()) {
        // What was held and queued before the drain is answered.
        const finished = await repliesTo(client, [`held-${index}`, `q1-${index}`, `q2-${index}`]);
        expect(finished.map((reply) => reply.error)).toEqual([undefined, undefined, undefined]);
        expect(client.frames.filter((frame) => frame.id === null)).toEqual([]);
      }
    } finally {
      await locker.end();
      await server.stop();
      await schema.drop();
    }
  });
});

/** Every process below `pid` (children, grandchildren, ...), read from ps. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  for (let parents = [pid]; parents.length > 0; ) {
    const children = rows.filter(([, parent]) => parents.includes(parent)).map(([child]) => child);
    found.push(...children);
    parents = children;
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('npm start under a process manager', () => {
  it('SIGTERM to the npm process stops the server: it shuts down cleanly, and npm exits with it', async () => {
    const schema = await createTestSchema();
    // As a process manager or a container runtime starts it: `npm start`, and later SIGTERM to that PID.
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PORT: '0', HOST: '127.0.0.1', PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    const lines: string[] = [];
    let below: number[] = [];
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npm start did not listen: ${lines.join('\n')}`)), 30_000);
        createInterface({ input: npm.stderr! }).on('line', (line) => lines.push(line));
        createInterface({ input: npm.stdout! }).on('line', (line) => {
          lines.push(line);
          const match = /"port":(\d+).*"msg":"listening"/.exec(line);
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
      });
      below = descendants(npm.pid!);
      expect(below.length).toBeGreaterThan(0);
      npm.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines.some((line) => line.includes('"signal":"SIGTERM"') && line.includes('shutting down'))).toBe(true);
      expect(lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
      // Nothing of it is left behind: neither a process nor the listening port.
      await eventually(() => expect(below.filter(alive)).toEqual([]), 5000);
      expect(await accepts(port)).toBe(false);
    } finally {
      for (const pid of [npm.pid!, ...below]) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await schema.drop();
    }
  });
});
