import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { startServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const text = (value: string) => ({ type: 'text', text: value });

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('operations', () => {
  it('closes a slow consumer with 4001, and it recovers every event by resuming', async () => {
    const server = await startServer({ PARLEY_MAX_BUFFERED_BYTES: String(256 * 1024), PARLEY_RATE_PER_SECOND: '10000', PARLEY_RATE_BURST: '10000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
    try {
      const bob = await RawClient.connect(server.wsUrl, await token('bob'));
      const id = 'slow';
      await bob.call('conversation.open', { conversationId: id, members: ['alice'] });
      const alice = await RawClient.connect(server.wsUrl, await token('alice'));
      await alice.call('subscribe', { conversationId: id, since: 1 });
      // Alice stops reading: the kernel buffers fill, then the server's per-connection buffer.
      (alice.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      const big = 'x'.repeat(30_000);
      let sent = 0;
      // Batches of pipelined sends until the server reports the slow-consumer disconnect.
      while (sent < 1500) {
        const batch = Array.from({ length: 50 }, (_, index) => bob.call('message.send', { conversationId: id, clientMsgId: `big-${sent + index}`, content: text(`${sent + index}:${big}`) }));
        await Promise.all(batch);
        sent += batch.length;
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        if (/parley_disconnects_total\{reason="slow consumer"\} 1/.test(metrics)) break;
      }
      (alice.socket as unknown as { _socket: { resume(): void } })._socket.resume();
      const closed = await alice.closed(30_000);
      expect(closed.code).toBe(4001);
      const lastSeen = alice.events(id).at(-1)?.seq ?? 1;
      expect(sent).toBeLessThan(1500);
      expect(lastSeen).toBeLessThan(sent + 1);

      const resumed = await RawClient.connect(server.wsUrl, await token('alice'));
      await resumed.call('subscribe', { conversationId: id, since: lastSeen });
      const lastSeq = 1 + sent;
      await resumed.waitFor((frame) => frame.push === 'event' && frame.event.seq === lastSeq, 30_000);
      const seqs = [...alice.events(id), ...resumed.events(id)].map((event) => event.seq);
      expect(seqs).toEqual(Array.from({ length: lastSeq - 1 }, (_, index) => index + 2));
      resumed.close();
      bob.close();
    } finally {
      await server.stop();
    }
  });

  it('closes connections that stop answering pings (4002)', async () => {
    const server = await startServer({ PARLEY_PING_INTERVAL_MS: '200', PARLEY_PING_TIMEOUT_MS: '200' });
    try {
      const socket = new WebSocket(server.wsUrl, 'parley.v1.json', { autoPong: false });
      const healthy = await RawClient.connect(server.wsUrl, await token('alice'));
      const code = await new Promise<number>((resolve) => socket.on('close', (closeCode) => resolve(closeCode)));
      expect([4002, 1006]).toContain(code);
      // A client that answers pings stays connected.
      expect((await healthy.call('ping')).ts).toBeTypeOf('number');
      healthy.close();
    } finally {
      await server.stop();
    }
  });

  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    const server = await startServer();
    try {
      const alice = await RawClient.connect(server.wsUrl, await token('alice'));
      await alice.call('conversation.open', { conversationId: 'm' });
      await alice.call('message.send', { conversationId: 'm', clientMsgId: '1', content: text('x') });
      await alice.request('nope');
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready', draining: false, dependencies: { store: { up: true, required: true } } });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/parley_connections_open\{transport="websocket"\} 1/);
      expect(metrics).toMatch(/parley_events_appended_total\{type="message.created"\} 1/);
      expect(metrics).toMatch(/parley_errors_total\{code="bad_request"\} 1/);
      expect(metrics).toMatch(/parley_frames_in_total\{transport="websocket"\} 4/);
      expect(metrics).toMatch(/parley_append_duration_seconds_count 1/);
      expect((await fetch(`${server.url}/v1/nope`)).status).toBe(404);
      alice.close();
    } finally {
      await server.stop();
    }
  });

  it('on SIGTERM finishes queued appends, tells clients to reconnect (4000) and exits 0', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-shutdown-'));
    try {
      const server = await startServer({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
      const alice = await RawClient.connect(server.wsUrl, await token('alice'));
      await alice.call('conversation.open', { conversationId: 'bye' });
      const replies = Array.from({ length: 30 }, (_, index) => alice.request('message.send', { conversationId: 'bye', clientMsgId: `q-${index}`, content: text(`${index}`) }));
      const exitCode = server.stop();
      const closed = await alice.closed();
      expect(closed.code).toBe(4000);
      expect(alice.frames.some((frame) => frame.push === 'disconnect' && frame.code === 4000 && frame.reconnect === true)).toBe(true);
      expect(await exitCode).toBe(0);
      const settled = await Promise.all(replies.map((reply) => Promise.race([reply, new Promise((resolve) => setTimeout(() => resolve(null), 100))])));
      const acked = settled.filter((frame: any) => frame?.result).map((frame: any) => frame.result.seq as number);
      // Every ack is durable: a restarted server on the same data has each acked event.
      const restarted = await startServer({ PARLEY_DATA_DIR: dataDir });
      const reader = await RawClient.connect(restarted.wsUrl, await token('alice'));
      const page = await reader.call('history', { conversationId: 'bye', limit: 100 });
      const stored = new Set(page.events.map((event: { seq: number }) => event.seq));
      for (const seq of acked) expect(stored.has(seq)).toBe(true);
      expect(acked.length).toBeGreaterThan(0);
      reader.close();
      await restarted.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses invalid configuration at start with the variable and the problem', async () => {
    const result = await runCli(['start'], { PARLEY_MAX_FRAME_BYTES: 'lots', PORT: '99999', PARLEY_JWT_SECRET: 'short', PARLEY_WS_DEFLATE: 'sometimes' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PARLEY_MAX_FRAME_BYTES="lots"');
    expect(result.stderr).toContain('PORT="99999"');
    expect(result.stderr).toContain('PARLEY_JWT_SECRET');
    expect(result.stderr).toContain('PARLEY_WS_DEFLATE="sometimes": must be off, on, or the smallest message in bytes to compress');
    const longGrace = await runCli(['start'], { PARLEY_PRESENCE_TTL_S: '30', PARLEY_PRESENCE_GRACE_MS: '25000' });
    expect(longGrace.code).toBe(2);
    expect(longGrace.stderr).toContain('PARLEY_PRESENCE_GRACE_MS=25000 must be at most two thirds of PARLEY_PRESENCE_TTL_S (20000 ms)');
    const badFlag = await runCli(['start', '--no-such-flag']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/no-such-flag/);
  });

  it('prints development tokens the server accepts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-token-'));
    try {
      const env = { PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: '' };
      const issued = await runCli(['token', '--tenant', 'acme', '--user', 'alice', '--roles', 'user,agent'], env);
      expect(issued.code).toBe(0);
      const server = await startServer(env);
      const client = await RawClient.open(server.wsUrl);
      const reply = await client.request('connect', { token: issued.stdout.trim() });
      expect(reply.result.principal).toEqual({ tenant: 'acme', userId: 'alice', roles: ['user', 'agent'] });
      client.close();
      await server.stop();
      expect((await runCli(['token', '--tenant', 'acme'], env)).code).toBe(2);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('closes a client that keeps sending far past its rate limit (4501), and only that client', async () => {
    const server = await startServer({ PARLEY_RATE_PER_SECOND: '1', PARLEY_RATE_BURST: '5' });
    try {
      const flooder = await RawClient.connect(server.wsUrl, await token('mallory'));
      const calm = await RawClient.connect(server.wsUrl, await token('alice'));
      for (let index = 0; index < 200; index++) flooder.sendRaw(JSON.stringify({ id: index, op: 'ping' }));
      expect((await flooder.closed()).code).toBe(4501);
      const refusals = flooder.frames.filter((frame) => frame.error?.code === 'rate_limited');
      expect(refusals.length).toBe(50); // 10 x burst, then the connection is closed
      expect(refusals[0]?.id).toBeTypeOf('number');
      expect((await calm.call('ping')).ts).toBeTypeOf('number');
      calm.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses connections past the per-IP limit with HTTP 429 and frees the slot on close', async () => {
    const server = await startServer({ PARLEY_MAX_CONNECTIONS_PER_IP: '2' });
    try {
      const first = await RawClient.open(server.wsUrl);
      const second = await RawClient.open(server.wsUrl);
      await expect(RawClient.open(server.wsUrl)).rejects.toThrow('HTTP 429');
      first.close();
      await first.closed();
      let third: RawClient | null = null;
      for (let attempt = 0; attempt < 50 && !third; attempt++) {
        third = await RawClient.open(server.wsUrl).catch(() => null);
        if (!third) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(third).not.toBeNull();
      second.close();
      third?.close();
    } finally {
      await server.stop();
    }
  });

  it("limits one user's messages over all their connections, with rate_limited (scope user) and retryAfterMs", async () => {
    const server = await startServer({ PARLEY_USER_SEND_BURST: '3', PARLEY_USER_SEND_RATE_PER_SECOND: '0.5' });
    try {
      const phone = await RawClient.connect(server.wsUrl, await token('ursula'));
      const laptop = await RawClient.connect(server.wsUrl, await token('ursula'));
      const other = await RawClient.connect(server.wsUrl, await token('victor'));
      await phone.call('conversation.open', { conversationId: 'user-rate', members: ['victor'] });
      const send = (client: RawClient, index: number) => client.request('message.send', { conversationId: 'user-rate', clientMsgId: `m-${index}`, content: text(`#${index}`) });
      const replies = [await send(phone, 1), await send(laptop, 2), await send(phone, 3), await send(laptop, 4)];
      expect(replies.slice(0, 3).every((reply) => reply.result)).toBe(true);
      expect(replies[3]!.error).toMatchObject({ code: 'rate_limited', details: { scope: 'user' } });
      expect(replies[3]!.error.retryAfterMs).toBeGreaterThan(0);
      // Nothing of the refused message was stored, and other users are not held back.
      expect((await other.call('message.send', { conversationId: 'user-rate', clientMsgId: 'v-1', content: text('hi') })).seq).toBe(5);
      for (const client of [phone, laptop, other]) client.close();
    } finally {
      await server.stop();
    }
  });
});
