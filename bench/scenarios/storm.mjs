// storm: clients spread over many conversations all drop their connection at once (TCP reset, as when
// a network or a load balancer fails) and reconnect, while a publisher keeps sending at a fixed rate.
// Each client resubscribes with `since` = the last seq it processed. It is resumed when it has caught up
// to the seq the publisher had last acknowledged at the drop. Lost and duplicated events are counted from
// seqs: an event at or below the last seq seen is a duplicate; a jump over seqs, or ending below the
// publisher's final seq, is a loss.
import { backoffDelay, DEFAULT_BACKOFF } from '@parley/client';
import { now } from '../lib/histogram.mjs';
import { LoadGroup, sleep, split } from '../lib/load.mjs';
import { ParleyConnection, pooled } from '../lib/parley-connection.mjs';
import { cpuSeconds } from '../lib/proc.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

const RESUME_TIMEOUT_MS = 90_000;

/** Commands run in the load processes: the publisher's, then the members'. */
export const client = {
  async openConversations(state, { url, localAddress, conversations, members }) {
    state.publisher = await ParleyConnection.connect(url, await token('storm-publisher'), { localAddress });
    state.conversations = await pooled(conversations, 10, async (index) => {
      const memberIds = Array.from({ length: members }, (_, member) => `storm-${index}-${member}`);
      return (await state.publisher.request('conversation.open', { members: memberIds })).conversation.id;
    });
    state.latest = Object.fromEntries(state.conversations.map((id) => [id, 0]));
    return { conversations: state.conversations };
  },
  startPublishing(state, { rate }) {
    let next = 0;
    state.inFlight = new Set();
    state.sent = 0;
    const startedAt = now();
    state.ticker = setInterval(() => {
      while (state.sent < ((now() - startedAt) * rate) / 1000) sendNext(state, next++);
    }, 2);
    return {};
  },
  latest: (state) => ({ ...state.latest }),
  async stopPublishing(state) {
    clearInterval(state.ticker);
    await Promise.allSettled(state.inFlight);
    state.publisher.close();
    return { sent: state.sent, finals: state.latest };
  },
  async connect(state, { url, localAddress, start, count, conversations, members }) {
    state.members = await pooled(count, 200, async (offset) => {
      const index = start + offset;
      const conversation = Math.floor(index / members);
      const member = { user: `storm-${conversation}-${index % members}`, conversationId: conversations[conversation], lastSeq: 0, duplicates: 0, lost: 0, retries: 0 };
      await attach(member, url, localAddress);
      return member;
    });
    return { connected: state.members.length };
  },
  async drop(state, { url, localAddress, dropAt, targets }) {
    for (const member of state.members) member.connection.terminate();
    const resumed = await Promise.all(state.members.map((member) => resume(member, url, localAddress, dropAt, targets[member.conversationId])));
    return { resumeMs: resumed, retries: state.members.reduce((sum, member) => sum + member.retries, 0) };
  },
  async settle(state, { finals }) {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && state.members.some((member) => member.lastSeq < finals[member.conversationId])) await sleep(50);
    const behind = state.members.reduce((sum, member) => sum + Math.max(0, finals[member.conversationId] - member.lastSeq), 0);
    for (const member of state.members) member.connection.close();
    // A seq skipped in what a client received is lost (a broken contract); events not received yet by a client
    // that had not caught up when the scenario ended are reported apart, as still behind.
    return { lost: state.members.reduce((sum, member) => sum + member.lost, 0), behind, duplicates: state.members.reduce((sum, member) => sum + member.duplicates, 0) };
  },
};

function sendNext(state, index) {
  const conversationId = state.conversations[index % state.conversations.length];
  state.sent++;
  const request = state.publisher.request('message.send', { conversationId, clientMsgId: `s-${index}`, content: { type: 'text', text: `storm message ${index}` } });
  state.inFlight.add(request);
  request.then(
    (ack) => (state.latest[conversationId] = Math.max(state.latest[conversationId], ack.seq)),
    () => undefined,
  ).finally(() => state.inFlight.delete(request));
}

/** Connects, authenticates and subscribes from the member's last seq (from the head the first time). */
async function attach(member, url, localAddress) {
  const connection = await ParleyConnection.connect(url, await token(member.user), { localAddress });
  connection.onPush = (frame) => frame.push === 'event' && frame.event.conversation === member.conversationId && receive(member, frame.event.seq);
  connection.onClose = () => member.connection === connection && member.onLost?.();
  member.connection = connection;
  const since = member.lastSeq > 0 ? { since: member.lastSeq } : {};
  const { headSeq } = await connection.request('subscribe', { conversationId: member.conversationId, ...since });
  if (member.lastSeq === 0) member.lastSeq = headSeq;
}

function receive(member, seq) {
  if (seq <= member.lastSeq) return void member.duplicates++;
  member.lost += seq - member.lastSeq - 1;
  member.lastSeq = seq;
  if (member.caughtUp && seq >= member.target) member.caughtUp();
}

/**
 * Reconnects as the SDK does (a delay with full jitter before each attempt: uniform below 250 ms, the
 * ceiling doubling per failed attempt) and resolves with the ms from the drop to caught up.
 */
async function resume(member, url, localAddress, dropAt, target) {
  const caughtUp = new Promise((resolve) => {
    member.target = target;
    member.caughtUp = () => ((member.caughtUp = null), resolve(now() - dropAt));
  });
  const deadline = dropAt + RESUME_TIMEOUT_MS;
  // Like a real client, it reconnects whenever the connection is lost before it caught up (a server under
  // the storm may close a client that reads too slowly), resuming from its last seq each time.
  for (let attempt = 0; ; attempt++) {
    await sleep(backoffDelay(attempt, DEFAULT_BACKOFF));
    const closed = new Promise((resolve) => (member.onLost = resolve));
    try {
      await attach(member, url, localAddress);
      if (member.lastSeq >= target) member.caughtUp?.();
      const outcome = await Promise.race([caughtUp, closed.then(() => 'closed'), sleep(Math.max(0, deadline - now())).then(() => null)]);
      if (outcome !== 'closed') return outcome;
    } catch {
      member.connection?.terminate();
    }
    if (now() > deadline) return null;
    member.retries++;
  }
}

/** Runs the scenario: `{ conversations, members, rate, processes }`. */
export async function run({ conversations, members, rate, processes, warmMs = 2000 }) {
  const backends = await createBackends();
  const server = await startParley(backends.env);
  const group = new LoadGroup('storm', processes + 1);
  const publisher = processes;
  try {
    const url = server.wsUrl;
    const opened = await group.one(publisher, 'openConversations', { url, conversations, members });
    const ranges = split(conversations * members, processes);
    await Promise.all(ranges.map((range, index) => group.one(index, 'connect', { url, ...range, conversations: opened.conversations, members })));
    await group.one(publisher, 'startPublishing', { rate });
    await sleep(warmMs);
    const targets = await group.one(publisher, 'latest');
    const cpuBefore = { server: cpuSeconds(server.pid), load: group.cpuSeconds() };
    const dropAt = now();
    const drops = await Promise.all(ranges.map((_range, index) => group.one(index, 'drop', { url, dropAt, targets })));
    // Who had the CPU while the clients resumed: the server, or the load processes (on the same cores).
    const stormSeconds = (now() - dropAt) / 1000;
    const cores = { server: (cpuSeconds(server.pid) - cpuBefore.server) / stormSeconds, load: (group.cpuSeconds() - cpuBefore.load) / stormSeconds };
    await sleep(1000);
    const { sent, finals } = await group.one(publisher, 'stopPublishing');
    const settled = await Promise.all(ranges.map((_range, index) => group.one(index, 'settle', { finals })));
    return summarize({ conversations, members, rate, sent, drops, settled, cores });
  } finally {
    await group.stop();
    await server.stop();
    await backends.release();
  }
}

function summarize({ conversations, members, rate, sent, drops, settled, cores }) {
  const times = drops.flatMap((drop) => drop.resumeMs);
  const resumed = times.filter((time) => time !== null).sort((a, b) => a - b);
  const pick = (q) => (resumed.length === 0 ? null : Math.round(resumed[Math.min(resumed.length - 1, Math.floor(q * resumed.length))]));
  return {
    store: 'postgresql',
    clients: conversations * members,
    conversations,
    membersPerConversation: members,
    messagesPerSecond: rate,
    messagesSent: sent,
    resumed: resumed.length,
    notResumed: times.length - resumed.length,
    reconnectRetries: drops.reduce((sum, drop) => sum + drop.retries, 0),
    resumeMs: { p50: pick(0.5), p99: pick(0.99), all: pick(1) },
    lost: settled.reduce((sum, item) => sum + item.lost, 0),
    behindAtEnd: settled.reduce((sum, item) => sum + item.behind, 0),
    duplicated: settled.reduce((sum, item) => sum + item.duplicates, 0),
    coresWhileResuming: { server: Number(cores.server.toFixed(2)), load: Number(cores.load.toFixed(2)) },
  };
}
