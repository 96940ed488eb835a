// transports: the SDK's transports (WebSocket, and the HTTP fallbacks SSE and long-poll) side by side in one
// run, each against a Parley node on PostgreSQL:
// - time to connected: from `connect()` until the client is connected, over a WebSocket, and with the WebSocket
//   blocked (refused at once, or hanging until `webSocketTimeoutMs`) so that the client falls back to SSE, and
//   with SSE held back too (a buffering proxy, until `streamTimeoutMs`) so that it ends on long-polling;
// - fan-out: one conversation, `subscribers` SDK clients on one transport, a WebSocket publisher sending
//   `messages` 100-byte messages with at most `window` unacknowledged; deliveries/s = deliveries / (last
//   delivery - first send), and lost and duplicated deliveries from the seqs;
// - idle memory: `idle` SDK clients connected over one transport and doing nothing, on a fresh node per
//   transport; server (RSS after - RSS before) / sessions and the same for the V8 heap in use (from /metrics),
//   with a raw `ws` server holding as many sockets as the baseline, as in the `idle` scenario.
// Time to connected and fan-out run their clients in the runner's process (the SDK's own client-side cost is
// included; these are not the server's ceiling, `fanout` measures that); idle clients run in a load process.
import { ParleyClient } from '@parley/client';
import WebSocket from 'ws';
import { LoadGroup, sleep } from '../lib/load.mjs';
import { pooled } from '../lib/parley-connection.mjs';
import { rssBytes } from '../lib/proc.mjs';
import { openWebSocket } from '../lib/relay.mjs';
import { createBackends, startParley, startPeer } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

export const TRANSPORTS = ['websocket', 'sse', 'long-poll'];

/** Commands run in the load process: idle sessions over one transport (or raw `ws` sockets). */
export const client = {
  async connect(state, { transport, url, localAddress, start, count }) {
    let failed = 0;
    let firstError = null;
    const opened = await pooled(count, 100, async (offset) => {
      try {
        if (transport === 'ws') return await openWebSocket(url, localAddress);
        const session = idleClient(url, transport, `idle-${transport}-${start + offset}`);
        await session.connect();
        if (session.transport !== transport) throw new Error(`connected over ${session.transport}, not ${transport}`);
        return session;
      } catch (error) {
        failed++;
        firstError ??= String(error);
        return null;
      }
    });
    state.sessions = opened.filter(Boolean);
    return { connected: state.sessions.length, failed, firstError };
  },
  close(state) {
    for (const session of state.sessions) session.close();
    return {};
  },
};

function idleClient(url, transport, user) {
  const session = new ParleyClient({ url, token: () => token(user), WebSocket, transports: [transport], requestTimeoutMs: 60_000 });
  session.on('error', () => undefined);
  return session;
}

/** A WebSocket that never gets through, as behind a firewall: `refuse` fails at once, `hang` never opens. */
function blockedWebSocket(mode) {
  return class BlockedWebSocket {
    readyState = 0;
    binaryType = 'arraybuffer';
    onopen = null;
    onmessage = null;
    onerror = null;
    onclose = null;
    constructor() {
      if (mode === 'refuse') setTimeout(() => ((this.readyState = 3), this.onerror?.({}), this.onclose?.({ code: 1006, reason: '' })), 0);
    }
    send() {
      throw new Error('not open');
    }
    close() {
      this.readyState = 3;
    }
  };
}

/** fetch, except that SSE streams answer and then send nothing (a proxy that buffers the response). */
function bufferingFetch(input, init) {
  if (!String(input).includes('/v1/rt/stream')) return fetch(input, init);
  const body = new ReadableStream({
    start(controller) {
      init?.signal?.addEventListener('abort', () => controller.error(new Error('aborted')));
    },
  });
  return Promise.resolve(new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }));
}

/** The cases of time to connected; `slow` ones wait for a fallback timeout by design. */
function connectCases(timeoutMs) {
  const timeouts = { webSocketTimeoutMs: timeoutMs, streamTimeoutMs: timeoutMs };
  return [
    { name: 'websocket', expected: 'websocket', options: { WebSocket } },
    { name: 'sse, WebSocket refused', expected: 'sse', options: { WebSocket: blockedWebSocket('refuse') } },
    { name: `sse, WebSocket hangs (webSocketTimeoutMs ${timeoutMs})`, expected: 'sse', options: { WebSocket: blockedWebSocket('hang'), ...timeouts }, slow: true },
    { name: `long-poll, WebSocket refused, SSE buffered (streamTimeoutMs ${timeoutMs})`, expected: 'long-poll', options: { WebSocket: blockedWebSocket('refuse'), fetch: bufferingFetch, ...timeouts }, slow: true },
  ];
}

async function timeToConnected(url, { trials, slowTrials, fallbackTimeoutMs }) {
  const results = [];
  for (const { name, expected, options, slow } of connectCases(fallbackTimeoutMs)) {
    const times = [];
    let onExpected = 0;
    for (let trial = 0; trial < (slow ? slowTrials : trials); trial++) {
      const session = new ParleyClient({ url, token: () => token(`connect-${trial}`), ...options });
      session.on('error', () => undefined);
      const started = performance.now();
      await session.connect();
      times.push(performance.now() - started);
      if (session.transport === expected) onExpected++;
      session.close();
    }
    times.sort((a, b) => a - b);
    results.push({ case: name, transport: expected, trials: times.length, connected: times.length, onExpected, medianMs: round(times[Math.floor(times.length / 2)]), maxMs: round(times.at(-1)) });
  }
  return results;
}

async function fanout(url, transport, { subscribers, messages, window, timeoutMs }) {
  const users = Array.from({ length: subscribers }, (_, index) => `${transport}-reader-${index}`);
  const publisher = new ParleyClient({ url, token: () => token(`${transport}-publisher`), WebSocket, transports: ['websocket'] });
  const readers = users.map((user) => new ParleyClient({ url, token: () => token(user), WebSocket, transports: [transport], requestTimeoutMs: 60_000 }));
  for (const session of [publisher, ...readers]) session.on('error', () => undefined);
  try {
    await Promise.all([publisher.connect(), ...readers.map((reader) => reader.connect())]);
    const connected = readers.filter((reader) => reader.transport === transport).length;
    const { conversation } = await publisher.open({ members: users });
    const seen = readers.map(() => new Set());
    let deliveries = 0;
    let duplicated = 0;
    let lastDelivery = 0;
    let done;
    const complete = new Promise((resolve) => (done = resolve));
    await Promise.all(
      readers.map((reader, index) => {
        const subscription = reader.subscribe(conversation.id);
        subscription.on('event', (event) => {
          if (event.type !== 'message.created') return;
          if (seen[index].has(event.seq)) duplicated++;
          seen[index].add(event.seq);
          deliveries++;
          lastDelivery = performance.now();
          if (deliveries === subscribers * messages) done();
        });
        return subscription.ready;
      }),
    );
    const text = 'x'.repeat(100);
    const started = performance.now();
    let next = 0;
    const senders = Array.from({ length: window }, async () => {
      while (next < messages) {
        next++;
        await publisher.send(conversation.id, text);
      }
    });
    await Promise.all(senders);
    await Promise.race([complete, sleep(timeoutMs)]);
    const lost = subscribers * messages - seen.reduce((sum, set) => sum + set.size, 0);
    const seconds = (lastDelivery - started) / 1000;
    return { transport, subscribers, connected, messages, deliveries, deliveriesPerSecond: seconds > 0 ? Math.round(deliveries / seconds) : null, seconds: round(seconds), lost, duplicated };
  } finally {
    for (const session of [publisher, ...readers]) session.close();
  }
}

/** A node for one transport's idle sessions: a fresh Parley node on a schema of its own, or a raw `ws` server. */
async function idleServer(transport) {
  if (transport === 'ws') return { server: await startPeer('ws'), backends: null };
  const backends = await createBackends();
  return { server: await startParley(backends.env), backends };
}

/** Idle sessions over `transport` on its own `server`: server memory per session. */
async function idleMemory(group, transport, server, { sessions, settleMs }) {
  await sleep(settleMs);
  const before = { rss: rssBytes(server.pid), heap: await heapUsed(server) };
  const opened = await group.one(0, 'connect', { transport, url: server.wsUrl, start: 0, count: sessions });
  await sleep(settleMs);
  const after = { rss: rssBytes(server.pid), heap: await heapUsed(server) };
  await group.one(0, 'close');
  const perSession = (key) => (opened.connected === 0 || after[key] === null ? null : Math.round((after[key] - before[key]) / opened.connected));
  return {
    transport,
    ...opened,
    rssBeforeMiB: mib(before.rss),
    rssAfterMiB: mib(after.rss),
    rssBytesPerSession: perSession('rss'),
    heapBytesPerSession: perSession('heap'),
  };
}

/** The V8 heap in use of a Parley node, from its Prometheus metrics; null for a peer, which has none. */
async function heapUsed(server) {
  if (!server.httpUrl) return null;
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const match = /^parley_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!match) throw new Error('no parley_nodejs_heap_size_used_bytes in /metrics');
  return Number(match[1]);
}

const mib = (bytes) => Number((bytes / 2 ** 20).toFixed(1));
const round = (value) => Math.round(value * 10) / 10;

/**
 * `{ connect: { trials, slowTrials, fallbackTimeoutMs }, fanout: { subscribers, messages, window, timeoutMs },
 * idle: { sessions, settleMs, freshNodes } }`; `freshNodes: false` (the tiny run, which checks counts only)
 * holds the idle sessions on the node of the other parts instead of one fresh node per transport.
 */
export async function run(options) {
  const { freshNodes = true } = options.idle;
  const idleSystems = [...TRANSPORTS, 'ws'];
  const ownNode = (system) => system === 'ws' || freshNodes;
  // Every node starts at once (they are idle until their turn); each is measured alone.
  const started = await Promise.allSettled([idleServer('websocket'), ...idleSystems.filter(ownNode).map(idleServer)]);
  const nodes = started.filter((item) => item.status === 'fulfilled').map((item) => item.value);
  const group = new LoadGroup('transports', 1);
  try {
    const failure = started.find((item) => item.status === 'rejected');
    if (failure) throw failure.reason;
    const [main, ...own] = nodes;
    const url = main.server.wsUrl;
    const connect = await timeToConnected(url, options.connect);
    const fan = {};
    for (const transport of TRANSPORTS) fan[transport] = await fanout(url, transport, options.fanout);
    if (freshNodes) await stopNode(main);
    const idle = {};
    for (const system of idleSystems) {
      const node = ownNode(system) ? own.shift() : main;
      idle[system] = await idleMemory(group, system, node.server, options.idle);
      if (node !== main) await stopNode(node);
    }
    return { store: 'postgresql', timeToConnected: connect, fanout: fan, idle };
  } finally {
    await group.stop();
    await Promise.all(nodes.map(stopNode));
  }
}

/** Stops a node and drops its schema, once. */
async function stopNode(node) {
  if (node.stopped) return;
  node.stopped = true;
  await node.server.stop();
  await node.backends?.release();
}
