// The SDK's transports side by side in one run, against one Parley node on PostgreSQL:
// - time to connected: from `connect()` until the client is connected, over a WebSocket, and with the WebSocket
//   blocked (refused at once, or hanging until `webSocketTimeoutMs`) so that the client falls back to SSE, and
//   with SSE held back too (a buffering proxy, until `streamTimeoutMs`) so that it ends on long-polling;
// - fan-out: one conversation, `--subscribers` SDK clients on one transport, a WebSocket publisher sending
//   `--messages` 100-byte messages with at most `--window` unacknowledged; deliveries/s = deliveries / (last
//   delivery - first send), and lost and duplicated deliveries from the seqs.
//   node bench/transports.mjs [--subscribers 100] [--messages 300] [--window 32] [--trials 10]
// Needs `npm run build` and PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
// Every client runs in this process: the figures compare the transports with each other in one run, with the
// SDK's own cost on the client side included; they are not the server's ceiling (see `fanout` in run.mjs).
import { parseArgs } from 'node:util';
import { ParleyClient } from '@parley/client';
import WebSocket from 'ws';
import { createBackends, startParley } from './lib/servers.mjs';
import { token } from './lib/tokens.mjs';

const TRANSPORTS = ['websocket', 'sse', 'long-poll'];

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

const CONNECT_CASES = [
  { name: 'websocket', options: { WebSocket } },
  { name: 'sse, WebSocket refused', options: { WebSocket: blockedWebSocket('refuse') } },
  { name: 'sse, WebSocket hangs (webSocketTimeoutMs 3000)', options: { WebSocket: blockedWebSocket('hang') }, slow: true },
  { name: 'long-poll, WebSocket refused, SSE buffered (streamTimeoutMs 3000)', options: { WebSocket: blockedWebSocket('refuse'), fetch: bufferingFetch }, slow: true },
];

async function timeToConnected(url, trials) {
  const results = [];
  for (const { name, options, slow } of CONNECT_CASES) {
    const times = [];
    let transport;
    for (let trial = 0; trial < (slow ? Math.min(trials, 3) : trials); trial++) {
      const client = new ParleyClient({ url, token: () => token(`connect-${trial}`), ...options });
      client.on('error', () => undefined);
      const started = performance.now();
      await client.connect();
      times.push(performance.now() - started);
      transport = client.transport;
      client.close();
    }
    times.sort((a, b) => a - b);
    results.push({ case: name, transport, trials: times.length, medianMs: round(times[Math.floor(times.length / 2)]), maxMs: round(times.at(-1)) });
  }
  return results;
}

async function fanout(url, transport, { subscribers, messages, window }) {
  const users = Array.from({ length: subscribers }, (_, index) => `${transport}-reader-${index}`);
  const publisher = new ParleyClient({ url, token: () => token(`${transport}-publisher`), WebSocket, transports: ['websocket'] });
  const readers = users.map((user) => new ParleyClient({ url, token: () => token(user), WebSocket, transports: [transport], requestTimeoutMs: 60_000 }));
  for (const client of [publisher, ...readers]) client.on('error', () => undefined);
  try {
    await Promise.all([publisher.connect(), ...readers.map((reader) => reader.connect())]);
    const { conversation } = await publisher.open({ members: users });
    const baseline = conversation.lastSeq;
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
    let timer;
    await Promise.race([complete, new Promise((resolve) => (timer = setTimeout(resolve, 120_000)))]);
    clearTimeout(timer);
    const lost = subscribers * messages - seen.reduce((sum, set) => sum + set.size, 0);
    const seconds = (lastDelivery - started) / 1000;
    return { transport, subscribers, messages, baseline, deliveries, deliveriesPerSecond: Math.round(deliveries / seconds), seconds: round(seconds), lost, duplicated };
  } finally {
    for (const client of [publisher, ...readers]) client.close();
  }
}

function round(value) {
  return Math.round(value * 10) / 10;
}

/** Progress on stderr, so that stdout stays the results. */
const log = (message) => console.error(`${new Date().toISOString()} ${message}`);

async function main() {
  const { values } = parseArgs({ options: { subscribers: { type: 'string' }, messages: { type: 'string' }, window: { type: 'string' }, trials: { type: 'string' } } });
  const options = { subscribers: Number(values.subscribers ?? 100), messages: Number(values.messages ?? 300), window: Number(values.window ?? 32) };
  const backends = await createBackends();
  log('schema created');
  const server = await startParley(backends.env);
  log("server started");
  try {
    const connect = await timeToConnected(server.wsUrl, Number(values.trials ?? 10));
    log("connect timed");
    const fan = [];
    for (const transport of TRANSPORTS) {
      fan.push(await fanout(server.wsUrl, transport, options));
      log(`fanout over ${transport} done`);
    }
    console.log(JSON.stringify({ timeToConnected: connect, fanout: fan }, null, 2));
    console.log('\n| case | transport | trials | median ms | max ms |\n| --- | --- | --- | --- | --- |');
    for (const row of connect) console.log(`| ${row.case} | ${row.transport} | ${row.trials} | ${row.medianMs} | ${row.maxMs} |`);
    console.log('\n| transport | subscribers | messages | deliveries/s | lost | duplicated |\n| --- | --- | --- | --- | --- | --- |');
    for (const row of fan) console.log(`| ${row.transport} | ${row.subscribers} | ${row.messages} | ${row.deliveriesPerSecond} | ${row.lost} | ${row.duplicated} |`);
    if (fan.some((row) => row.lost > 0 || row.duplicated > 0)) {
      console.error('deliveries were lost or duplicated');
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
    log('server stopped');
    await backends.release();
    log('schema dropped');
  }
}

await main();
