// Webhook deliveries per second to a local receiver: events appended to PostgreSQL, turned into deliveries by
// the webhook reaction (called directly, as the reaction runner does), delivered by one or more workers (each
// over its own connection pool, like nodes), signed, to one endpoint on 127.0.0.1. Counts are checked: every
// event delivered once, in order per conversation.
//   node bench/webhooks.mjs [--events 5000] [--conversations 100] [--workers 1] [--concurrency 64]
//                           [--per-endpoint 32] [--endpoints 1] [--latency-ms 0]
// Needs `npm run build` and PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DATABASE_URL } from './lib/servers.mjs';

const DIST = new URL('../packages/server/dist/', import.meta.url);
const { openPostgresStore } = await import(new URL('store/postgres/open.js', DIST).href);
const { OutboundHttp } = await import(new URL('net/outbound-http.js', DIST).href);
const { OutboundPolicy } = await import(new URL('net/outbound-policy.js', DIST).href);
const { WebhookReaction, WebhookService, WebhookWorker } = await import(new URL('webhooks/index.js', DIST).href);

/** A receiver that answers 200 after `latencyMs` and counts what it got, per conversation in arrival order. */
async function startReceiver(latencyMs) {
  const seqs = new Map();
  let received = 0;
  const ids = new Set();
  let duplicates = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const { data } = JSON.parse(body);
      received++;
      if (ids.has(data.id)) duplicates++;
      ids.add(data.id);
      const list = seqs.get(data.conversation) ?? [];
      list.push(data.seq);
      seqs.set(data.conversation, list);
      const answer = () => response.writeHead(200).end('ok');
      if (latencyMs > 0) setTimeout(answer, latencyMs);
      else answer();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: (path) => `http://127.0.0.1:${server.address().port}${path}`,
    counts: () => ({ received, unique: ids.size, duplicates }),
    outOfOrder: () => [...seqs.values()].filter((list) => list.some((seq, index) => index > 0 && seq <= list[index - 1])).length,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** Runs one measurement; resolves with deliveries per second and the checked counts. */
export async function runWebhookBench({ events = 5000, conversations = 100, workers = 1, concurrency = 64, perEndpoint = 32, endpoints = 1, latencyMs = 0 } = {}) {
  const schema = `parley_bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const open = () => openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 10 });
  const store = await open();
  const receiver = await startReceiver(latencyMs);
  const outbound = new OutboundHttp(new OutboundPolicy(['127.0.0.1']));
  const nodes = [];
  try {
    await store.migrate();
    const service = new WebhookService({ store: store.webhooks, policy: outbound.policy });
    for (let index = 0; index < endpoints; index++) await service.createEndpoint('bench', { url: receiver.url(`/hooks/${index}`), types: ['message.created'] });
    const keys = await appendEvents(store, conversations, Math.ceil(events / conversations));
    for (let index = 0; index < workers; index++) {
      const nodeStore = await open();
      const worker = new WebhookWorker({ store: nodeStore.webhooks, outbound, concurrency, perEndpoint, timeoutMs: 10_000, retryWindowMs: 3_600_000, retryBaseMs: 100, pollMs: 200 });
      nodes.push({ store: nodeStore, worker });
    }
    const reaction = new WebhookReaction({ store: store.webhooks, enqueued: () => nodes.forEach(({ worker }) => worker.wake()) });
    const expected = keys.length * Math.ceil(events / conversations) * endpoints;
    const started = performance.now();
    for (const { worker } of nodes) worker.start();
    // The reaction runner visits conversations a few at a time; here four at once.
    await inBatches(keys, 4, async (key) => reaction.handle(key, await store.readRange(key, { limit: 10_000, from: 'oldest' })));
    while (receiver.counts().received < expected) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (performance.now() - started) / 1000;
    return {
      settings: { events: expected, conversations: keys.length, workers, concurrency, perEndpoint, endpoints, latencyMs },
      seconds: Math.round(seconds * 100) / 100,
      deliveriesPerSecond: Math.round(expected / seconds),
      ...receiver.counts(),
      conversationsOutOfOrder: receiver.outOfOrder(),
    };
  } finally {
    for (const { worker, store: nodeStore } of nodes) {
      await worker.stop();
      await nodeStore.close();
    }
    outbound.close();
    await receiver.close();
    await store.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

async function appendEvents(store, conversations, perConversation) {
  const keys = Array.from({ length: conversations }, (_, index) => ({ tenant: 'bench', conversationId: `c${index}` }));
  await inBatches(keys, 8, async (key) => {
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    for (let index = 0; index < perConversation; index++) {
      await store.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text: `message ${index}` } } });
    }
  });
  return keys;
}

async function inBatches(items, size, work) {
  for (let index = 0; index < items.length; index += size) await Promise.all(items.slice(index, index + size).map(work));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: Object.fromEntries(['events', 'conversations', 'workers', 'concurrency', 'per-endpoint', 'endpoints', 'latency-ms'].map((name) => [name, { type: 'string' }])),
  });
  const numbers = Object.fromEntries(Object.entries(values).map(([name, value]) => [name.replace(/-(.)/g, (_, letter) => letter.toUpperCase()), Number(value)]));
  const result = await runWebhookBench(numbers);
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.unique === result.settings.events && result.duplicates === 0 && result.conversationsOutOfOrder === 0 ? 0 : 1);
}
