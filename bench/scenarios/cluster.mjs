// cluster: two Parley nodes sharing PostgreSQL and Redis. A publisher on node 1 sends at a fixed rate;
// subscribers on node 2 measure cross-node delivery latency, subscribers on node 1 the same-node
// latency beside it. Then redis-benchmark gives Redis's own ceiling for the operations Parley's publish
// path runs: SPUBLISH alone, and EVALSHA of Parley's publish-event script (ZADD to the hot log + SPUBLISH).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { Histogram } from '../lib/histogram.mjs';
import { LoadGroup } from '../lib/load.mjs';
import { PAYLOAD_BYTES } from '../lib/relay.mjs';
import { createBackends, deleteRedisKeys, REDIS_URL, startParley } from '../lib/servers.mjs';
import { drain } from './fanout.mjs';

const SCRIPT = new URL('../../packages/server/src/adapters/redis/lua/publish-event-2.lua', import.meta.url);

/** Runs the scenario: `{ subscribers, rate, durationMs, publishers, redisRequests }`; the load processes run fanout's client commands. */
export async function run({ subscribers, rate, durationMs, publishers = 8, redisRequests }) {
  const backends = await createBackends({ redis: true });
  const nodes = [await startParley(backends.env), await startParley(backends.env)];
  const group = new LoadGroup('fanout', 3);
  try {
    const opened = await group.one(2, 'openPublisher', { system: 'parley', url: nodes[0].wsUrl, codec: 'json', connections: publishers });
    const subscribe = (index, node) => group.one(index, 'subscribe', { system: 'parley', url: node.wsUrl, codec: 'json', conversationId: opened.conversationId, start: index * subscribers, count: subscribers });
    await Promise.all([subscribe(0, nodes[1]), subscribe(1, nodes[0])]);
    // The window only bounds a backlog (below PARLEY_MAX_PENDING_REQUESTS per connection); the rate paces.
    const published = await group.one(2, 'publish', { durationMs, maxMessages: Math.ceil((rate * durationMs) / 1000), rate, window: 1000 * publishers });
    const expected = published.acked * subscribers;
    await Promise.all([drainOne(group, 0, expected), drainOne(group, 1, expected)]);
    const [crossNode, sameNode] = await Promise.all([group.one(0, 'report'), group.one(1, 'report')]);
    return {
      store: 'postgresql',
      bus: 'redis',
      messagesPerSecond: rate,
      publisherConnections: publishers,
      messages: published.acked,
      sendErrors: published.errors,
      subscribersPerNode: subscribers,
      crossNode: side(crossNode, expected),
      sameNode: side(sameNode, expected),
      redis: await redisCeiling(backends.prefix, redisRequests),
    };
  } finally {
    await group.stop();
    await Promise.all(nodes.map((node) => node.stop()));
    await backends.release();
  }
}

/** Waits for the subscribers of one load process only (drain polls processes 0..count-1). */
function drainOne(group, index, expected) {
  const view = { one: (_index, command) => group.one(index, command) };
  return drain(view, 1, expected);
}

function side(report, expected) {
  return { deliveries: report.deliveries, expectedDeliveries: expected, lost: expected - (report.deliveries - report.duplicates), duplicates: report.duplicates, latencyMs: Histogram.from(report.histogram).summary() };
}

/** redis-benchmark of SPUBLISH and of Parley's publish script, on keys under the scenario's prefix (deleted after). */
async function redisCeiling(prefix, requests) {
  const redis = new Redis(REDIS_URL);
  const sha = await redis.script('LOAD', await readFile(SCRIPT, 'utf8'));
  await redis.quit();
  const message = 'x'.repeat(PAYLOAD_BYTES);
  const event = JSON.stringify({ id: 'e'.repeat(26), conversation: 'c'.repeat(26), seq: 1, type: 'message.created', ts: Date.now(), actor: { kind: 'user', id: 'publisher' }, data: { content: { type: 'text', text: message } } });
  try {
    const channel = `${prefix}:{bench}:channel`;
    return {
      requests,
      clients: 50,
      spublish: await redisBenchmark(requests, ['SPUBLISH', channel, event]),
      publishScript: await redisBenchmark(requests, ['EVALSHA', sha, '2', `${prefix}:{bench}:hot`, channel, '__rand_int__', event, '1000', '86400000', event]),
    };
  } finally {
    await deleteRedisKeys(`${prefix}*`);
  }
}

/** Runs redis-benchmark on one command; returns requests per second and latency percentiles (ms). */
function redisBenchmark(requests, command) {
  const { hostname, port } = new URL(REDIS_URL);
  const child = spawn('redis-benchmark', ['-h', hostname, '-p', port || '6379', '--csv', '-n', String(requests), '-r', '1000000', ...command], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const lines = output.trim().split('\n');
      if (code !== 0 || lines.length < 2) return reject(new Error(`redis-benchmark failed (${code}): ${output}`));
      // The first column repeats the command (with its own quotes); the numbers are the columns after it.
      const header = JSON.parse(`[${lines[0]}]`).slice(1);
      const values = lines.at(-1).split(',').slice(-header.length).map((value) => Number(value.replaceAll('"', '')));
      const column = (name) => values[header.indexOf(name)];
      resolve({ requestsPerSecond: Math.round(column('rps')), latencyMs: { p50: column('p50_latency_ms'), p99: column('p99_latency_ms') } });
    });
  });
}
