// api: message posts over the server API (REST: POST /v1/api/conversations/{id}/messages with an API key
// and an Idempotency-Key, over keep-alive HTTP/1.1 connections) against `message.send` over WebSocket, on
// the same Parley node in the same run, with the same number of requests in flight, spread over a few
// conversations. Both are acknowledged once committed to PostgreSQL; latency is request to acknowledgement.
// The transports take turns in the order REST, WS, WS, REST (each half the time), so that a drift over
// the run (a growing table, other work on the machine) weighs on both alike. Afterwards the stored events
// are counted: every acknowledged post stored once, none twice, and every conversation's seqs gapless.
import { ApiClient, createApiKey } from '../lib/api.mjs';
import { Histogram, now } from '../lib/histogram.mjs';
import { LoadGroup, split } from '../lib/load.mjs';
import { ParleyConnection } from '../lib/parley-connection.mjs';
import { cpuSeconds } from '../lib/proc.mjs';
import { payload } from '../lib/relay.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

const TRANSPORTS = ['rest', 'ws'];
const range = (count) => Array.from({ length: count }, (_, index) => index);

/** The WebSocket senders' user ids (members of every conversation); REST posts as a user of its own per process. */
const wsUser = (process, connection) => `api-ws-${process}-${connection}`;
const restUser = (process) => `api-rest-${process}`;
/** The idempotency key (REST) or clientMsgId (WS) of post `index` of a process: unique per post. */
const postKey = (transport, process, index) => `${transport}-${process}-${index}`;

/** Commands run in the load processes. */
export const client = {
  async open(state, { httpUrl, wsUrl, key, localAddress, process, conversations, lanes, wsConnections }) {
    state.process = process;
    state.conversations = conversations;
    state.rest = new ApiClient(httpUrl, key, { connections: lanes, localAddress });
    state.ws = await Promise.all(range(wsConnections).map(async (index) => ParleyConnection.connect(wsUrl, await token(wsUser(process, index)), { localAddress })));
    state.next = { rest: 0, ws: 0 };
    state.acked = { rest: [], ws: [] };
    return {};
  },
  /** Posts over `transport` with `lanes` requests in flight until `durationMs` passed or `maxPosts` were sent. */
  async post(state, { transport, durationMs, maxPosts, lanes }) {
    const histogram = new Histogram();
    const counts = { sent: 0, acked: 0, errors: 0, duplicateAcks: 0, firstError: null };
    const limit = maxPosts ?? Infinity;
    const startedAt = now();
    const deadline = startedAt + durationMs;
    const lane = async (laneIndex) => {
      while (counts.sent < limit && now() < deadline) {
        counts.sent++;
        const index = state.next[transport]++;
        const sentAt = now();
        try {
          const ack = await send(state, transport, laneIndex, index);
          histogram.record(now() - sentAt);
          counts.acked++;
          state.acked[transport].push(index);
          if (ack.duplicate) counts.duplicateAcks++;
        } catch (error) {
          counts.errors++;
          counts.firstError ??= String(error.message);
        }
      }
    };
    await Promise.all(range(lanes).map(lane));
    return { ...counts, startedAt, endedAt: now(), histogram: histogram.counts };
  },
  /** The indexes of every post acknowledged so far, per transport (to match against the store). */
  acked: (state) => state.acked,
  close(state) {
    state.rest.close();
    for (const connection of state.ws) connection.close();
    return {};
  },
};

/** One post of 100 bytes; WS lanes share the process's connections, each then with a window of pipelined sends. */
function send(state, transport, laneIndex, index) {
  const conversationId = state.conversations[index % state.conversations.length];
  const text = payload(index);
  const key = postKey(transport, state.process, index);
  if (transport === 'rest') return state.rest.postMessage(conversationId, { text, sender: { kind: 'user', id: restUser(state.process) }, idempotencyKey: key });
  const connection = state.ws[laneIndex % state.ws.length];
  return connection.request('message.send', { conversationId, clientMsgId: key, content: { type: 'text', text } });
}

/**
 * Runs the scenario: `{ conversations, concurrency, wsConnections, durationMs, warmupMs, maxPosts, processes }`;
 * `concurrency` requests in flight per transport (over as many keep-alive HTTP connections, or over
 * `wsConnections` WebSockets), `maxPosts` (optional) caps the posts per transport.
 */
export async function run(options) {
  const backends = await createBackends();
  const server = await startParley(backends.env);
  const group = new LoadGroup('api', options.processes);
  try {
    const conversations = await openConversations(server.httpUrl, options);
    const lanes = split(options.concurrency, options.processes).map((share) => share.count);
    const wsConnections = split(options.wsConnections, options.processes).map((share) => share.count);
    await group.all('open', (index) => ({ httpUrl: server.httpUrl, wsUrl: server.wsUrl, key: conversations.key, process: index, conversations: conversations.ids, lanes: lanes[index], wsConnections: wsConnections[index] }));
    const phase = (transport, durationMs, maxPosts) => runPhase(group, server, { transport, durationMs, maxPosts, lanes });
    // Not counted: every process has just started, and its code is not yet optimized.
    if (options.warmupMs > 0) for (const transport of TRANSPORTS) await phase(transport, options.warmupMs);
    const halves = split(options.maxPosts ?? 0, 2).map((half) => (options.maxPosts === undefined ? undefined : half.count));
    const measured = { rest: [], ws: [] };
    for (const [transport, half] of [['rest', 0], ['ws', 0], ['ws', 1], ['rest', 1]]) measured[transport].push(await phase(transport, options.durationMs / 2, halves[half]));
    const acked = await group.all('acked');
    await group.all('close');
    const stored = await checkStore(backends, acked);
    return {
      store: 'postgresql',
      conversations: options.conversations,
      inFlight: options.concurrency,
      payloadBytes: 100,
      transports: {
        rest: { connections: options.concurrency, ...summarize(measured.rest), stored: stored.rest },
        ws: { connections: options.wsConnections, ...summarize(measured.ws), stored: stored.ws },
      },
      seqGaps: stored.seqGaps,
    };
  } finally {
    await group.stop();
    await server.stop();
    await backends.release();
  }
}

/** Creates the API key and the conversations (every WebSocket sender a member) over the API itself. */
async function openConversations(httpUrl, { conversations, wsConnections, processes }) {
  const key = await createApiKey(httpUrl);
  const setup = new ApiClient(httpUrl, key, { connections: 1 });
  try {
    const shares = split(wsConnections, processes);
    const members = shares.flatMap((share, process) => range(share.count).map((connection) => wsUser(process, connection)));
    const ids = [];
    for (const index of range(conversations)) ids.push((await setup.request('POST', '/v1/api/conversations', { id: `api-${index}`, members })).conversation.id);
    return { key, ids };
  } finally {
    setup.close();
  }
}

/** One phase in every load process at once, with the CPU the server and the load processes used meanwhile. */
async function runPhase(group, server, { transport, durationMs, maxPosts, lanes }) {
  const cpuBefore = { server: cpuSeconds(server.pid), load: group.cpuSeconds() };
  const shares = split(maxPosts ?? 0, lanes.length);
  const reports = await group.all('post', (index) => ({ transport, durationMs, lanes: lanes[index], maxPosts: maxPosts === undefined ? undefined : shares[index].count }));
  return { reports, cpu: { server: cpuSeconds(server.pid) - cpuBefore.server, load: group.cpuSeconds() - cpuBefore.load } };
}

function summarize(phases) {
  const reports = phases.flatMap((phase) => phase.reports);
  const sum = (key) => reports.reduce((total, report) => total + report[key], 0);
  // A phase lasts from its first send in any process to its last acknowledgement in any process.
  const seconds = phases.reduce((total, phase) => total + (Math.max(...phase.reports.map((report) => report.endedAt)) - Math.min(...phase.reports.map((report) => report.startedAt))) / 1000, 0);
  const histogram = reports.reduce((merged, report) => merged.merge(Histogram.from(report.histogram)), new Histogram());
  const cpu = phases.reduce((total, phase) => ({ server: total.server + phase.cpu.server, load: total.load + phase.cpu.load }), { server: 0, load: 0 });
  return {
    posts: sum('acked'),
    errors: sum('errors'),
    firstError: reports.find((report) => report.firstError)?.firstError ?? null,
    duplicateAcks: sum('duplicateAcks'),
    requestsPerSecond: Math.round(sum('acked') / seconds),
    latencyMs: histogram.summary(),
    // Who had the CPU while posting (server and load processes share the cores), and the server's CPU per
    // post: steadier than posts/s when other work on the machine takes cores.
    cores: { server: Number((cpu.server / seconds).toFixed(2)), load: Number((cpu.load / seconds).toFixed(2)) },
    serverCpuMsPerPost: sum('acked') === 0 ? null : Number(((cpu.server * 1000) / sum('acked')).toFixed(3)),
  };
}

/**
 * Matches every acknowledged post (warm-up included) against the stored messages by their idempotency key:
 * lost = acknowledged but not stored, duplicated = stored more than once, unacknowledged = stored after an
 * error reply (not a fault: the commit may precede a failed reply). seqGaps = seqs missing in any conversation.
 */
async function checkStore(backends, acked) {
  const rows = await backends.query(`SELECT client_msg_id, count(*)::int AS copies FROM parley_events WHERE tenant = 'bench' AND type = 'message.created' GROUP BY client_msg_id`);
  const copies = new Map(rows.map((row) => [row.client_msg_id, row.copies]));
  const result = {};
  for (const transport of TRANSPORTS) {
    const keys = new Set(acked.flatMap((report, process) => report[transport].map((index) => postKey(transport, process, index))));
    const storedKeys = [...copies.keys()].filter((key) => key?.startsWith(`${transport}-`));
    result[transport] = {
      acknowledged: keys.size,
      events: storedKeys.reduce((total, key) => total + copies.get(key), 0),
      lost: [...keys].filter((key) => !copies.has(key)).length,
      duplicated: storedKeys.reduce((total, key) => total + copies.get(key) - 1, 0),
      unacknowledged: storedKeys.filter((key) => !keys.has(key)).length,
    };
  }
  const [{ gaps }] = await backends.query(`SELECT COALESCE(sum(last - events), 0)::int AS gaps FROM (SELECT max(seq) AS last, count(*) AS events FROM parley_events WHERE tenant = 'bench' GROUP BY conversation) AS per_conversation`);
  return { ...result, seqGaps: gaps };
}
