// rooms: fan-out to one large room. A backend creates a conversation and adds its members through the
// server API (1,000 per call); as many WebSocket clients connect as those users (users, not agents: each
// subscribe is authorized by a point lookup of membership, as in any room above PARLEY_LARGE_ROOM_MEMBERS)
// and subscribe; then the backend posts 100-byte messages to the room over REST, one step per fixed rate.
// A message is complete when its last member received it; a room that keeps pace completes messages as
// fast as they are posted, one that falls behind completes them at its own ceiling. So the rate a step
// sustained is (messages between its first complete one and its last) x members / (time between those
// completions): unlike deliveries over the whole step it does not depend on how long one message takes to
// reach everyone. The last member is a probe in the backend's process, subscribed last: the backend posts
// at most 2 s of its rate ahead of what the probe has received, so that a room that falls behind slows the
// backend down instead of piling up a backlog, and each step is drained before the next. Latency is the
// receive time minus the send time embedded in the message; lost and duplicated deliveries from seqs.
import { ApiClient, createApiKey } from '../lib/api.mjs';
import { Histogram, now } from '../lib/histogram.mjs';
import { LoadGroup, split } from '../lib/load.mjs';
import { ParleyConnection, pooled } from '../lib/parley-connection.mjs';
import { cpuSeconds, openFileLimit } from '../lib/proc.mjs';
import { parsePayload, publish } from '../lib/relay.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';
import { drain } from './fanout.mjs';

/** A step keeps pace when it sustains this share of the offered deliveries/s or more. */
const KEEPS_PACE = 0.9;
const ROOM = 'room';
const MEMBERS_PER_CALL = 1000;
const roomUser = (index) => `room-${index}`;

/** Commands run in the load processes: the members' (receivers; the probe too), then the backend's (publisher). */
export const client = {
  async connect(state, { wsUrl, localAddress, start, count }) {
    state.receivers = new Receivers();
    return state.receivers.connect(wsUrl, localAddress, start, count);
  },
  subscribe: (state) => state.receivers.subscribe(),
  progress: (state) => ({ deliveries: state.receivers.deliveries }),
  phase: (state) => state.receivers.phase(),
  settle: (state, { finalSeq }) => state.receivers.settle(finalSeq),
  /** The backend, in the probe's process. */
  openPublisher(state, { httpUrl, key, localAddress }) {
    state.publisher = probedPublisher(new ApiClient(httpUrl, key, { connections: 64, localAddress }), state.receivers);
    return {};
  },
  /** Posts at `rate` messages/s for `durationMs` or `maxMessages`, at most 2 s of that rate ahead of the probe. */
  async publish(state, { rate, durationMs, maxMessages }) {
    return publish(state.publisher, { rate, durationMs, maxMessages: maxMessages ?? Infinity, window: Math.max(4, Math.ceil(2 * rate)) });
  },
  /** The seq of the last message posted: every member ends having received it. */
  lastSeq: (state) => state.publisher.lastSeq,
  closePublisher(state) {
    state.publisher.api.close();
    return {};
  },
};

/** A backend posting to the room over REST (as a bot) whose `send` is done when acknowledged and received by the probe. */
function probedPublisher(api, probe) {
  const arrived = new Map();
  probe.onMessage = (index) => {
    arrived.get(index)?.();
    arrived.delete(index);
  };
  const publisher = { api, lastSeq: 0 };
  publisher.send = (text, index) => {
    const received = new Promise((resolve) => arrived.set(index, resolve));
    return api.postMessage(ROOM, { text, sender: { kind: 'bot', id: 'announcer' }, idempotencyKey: `room-${index}` }).then(
      (ack) => ((publisher.lastSeq = Math.max(publisher.lastSeq, ack.seq)), received),
      (error) => {
        arrived.delete(index);
        throw error;
      },
    );
  };
  return publisher;
}

/** The members of the room in one load process: their connections and what they received. */
class Receivers {
  members = [];
  histogram = new Histogram();
  deliveries = 0;
  duplicates = 0;
  lost = 0;
  disconnects = 0;
  lastReceiveAt = 0;
  /** Per message index of the step: its send time and when the last member here received it. */
  completions = new Map();
  /** Called with each message's index as it arrives (the probe's hook). */
  onMessage = () => {};

  /** Connects and authenticates `count` users from `start`; resolves with the counts and the time it took. */
  async connect(wsUrl, localAddress, start, count) {
    const failures = [];
    const startedAt = now();
    const opened = await pooled(count, 200, async (offset) => {
      try {
        const member = { connection: await ParleyConnection.connect(wsUrl, await token(roomUser(start + offset)), { localAddress }), lastSeq: 0 };
        member.connection.onPush = (frame) => this.#receive(member, frame);
        member.connection.onClose = () => this.disconnects++;
        return member;
      } catch (error) {
        failures.push(String(error.message));
        return null;
      }
    });
    this.members = opened.filter(Boolean);
    return { connected: this.members.length, failed: failures.length, firstError: failures[0] ?? null, startedAt, endedAt: now() };
  }

  /** Subscribes every member to the room from its head; resolves with the counts, subscribe latency and time taken. */
  async subscribe() {
    const latency = new Histogram();
    const failures = [];
    const startedAt = now();
    await pooled(this.members.length, 200, async (index) => {
      const member = this.members[index];
      const sentAt = now();
      try {
        const { headSeq } = await member.connection.request('subscribe', { conversationId: ROOM });
        member.lastSeq = Math.max(member.lastSeq, headSeq);
        latency.record(now() - sentAt);
      } catch (error) {
        failures.push(String(error.message));
      }
    });
    return { subscribed: this.members.length - failures.length, failed: failures.length, firstError: failures[0] ?? null, startedAt, endedAt: now(), histogram: latency.counts };
  }

  /** The counts of the step that ended; the next step counts from zero. */
  phase() {
    const counts = { histogram: this.histogram.counts, deliveries: this.deliveries, duplicates: this.duplicates, lost: this.lost, disconnects: this.disconnects, lastReceiveAt: this.lastReceiveAt, completions: [...this.completions] };
    this.histogram = new Histogram();
    this.completions = new Map();
    this.deliveries = this.duplicates = this.lost = 0;
    return counts;
  }

  /** Waits (at most 10 s) until every member has `finalSeq`; says how many events were still missing, then closes. */
  async settle(finalSeq) {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && this.members.some((member) => member.lastSeq < finalSeq)) await new Promise((resolve) => setTimeout(resolve, 50));
    const behind = this.members.reduce((sum, member) => sum + Math.max(0, finalSeq - member.lastSeq), 0);
    for (const member of this.members) member.connection.close();
    return { behind, disconnects: this.disconnects };
  }

  /** A seq at or below the member's last is a duplicate; a jump over seqs is a loss. */
  #receive(member, frame) {
    if (frame.push !== 'event' || frame.event.conversation !== ROOM) return;
    const receivedAt = now();
    const { seq } = frame.event;
    if (seq <= member.lastSeq) return void this.duplicates++;
    this.lost += seq - member.lastSeq - 1;
    member.lastSeq = seq;
    if (frame.event.type !== 'message.created') return;
    const { index, sentAt } = parsePayload(frame.event.data.content.text);
    this.histogram.record(receivedAt - sentAt);
    this.deliveries++;
    this.lastReceiveAt = receivedAt;
    this.completions.set(index, [sentAt, receivedAt]);
    this.onMessage(index);
  }
}

/**
 * Runs the scenario: `{ members, rates, stepMs, warmupMs, maxMessages, processes }`: a room of `members` users
 * connected from `processes` load processes (the last member, the probe, from the backend's), then one step
 * per rate in `rates` (messages/s) of `stepMs` (or `maxMessages`).
 */
export async function run(options) {
  const backends = await createBackends();
  const server = await startParley(backends.env);
  const group = new LoadGroup('rooms', options.processes + 1);
  const publisher = options.processes;
  const everyProcess = Array.from({ length: options.processes + 1 }, (_, index) => index);
  try {
    const limit = openFileLimit(server.pid);
    if (options.members + 100 > limit) return { available: false, members: options.members, reason: `the server process may open ${limit} files; ${options.members} connections need more` };
    const key = await createApiKey(server.httpUrl);
    const room = await createRoom(server.httpUrl, key, options.members);
    const ranges = [...split(options.members - 1, options.processes), { start: options.members - 1, count: 1 }];
    let cores = cpuMeter(server, group);
    const connected = await Promise.all(ranges.map((range, index) => group.one(index, 'connect', { wsUrl: server.wsUrl, ...range })));
    const connectCores = cores(span(connected));
    cores = cpuMeter(server, group);
    // The probe last, so that it is no earlier than the others in the server's fan-out.
    const subscribed = await Promise.all(ranges.slice(0, publisher).map((_range, index) => group.one(index, 'subscribe')));
    subscribed.push(await group.one(publisher, 'subscribe'));
    const subscribeCores = cores(span(subscribed));
    await group.one(publisher, 'openPublisher', { httpUrl: server.httpUrl, key });
    const steps = await runSteps(group, server, options, everyProcess);
    const finalSeq = await group.one(publisher, 'lastSeq');
    const settled = await Promise.all(everyProcess.map((index) => group.one(index, 'settle', { finalSeq })));
    await group.one(publisher, 'closePublisher');
    return summarize({ options, room, connected: { results: connected, cores: connectCores }, subscribed: { results: subscribed, cores: subscribeCores }, steps, settled });
  } finally {
    await group.stop();
    await server.stop();
    await backends.release();
  }
}

/** Creates the room and adds its members over the API, 1,000 per call; returns what its view says and the time taken. */
async function createRoom(httpUrl, key, members) {
  const api = new ApiClient(httpUrl, key, { connections: 1 });
  try {
    const startedAt = now();
    await api.request('POST', '/v1/api/conversations', { id: ROOM, metadata: { kind: 'large room' } });
    for (const { start, count } of split(members, Math.ceil(members / MEMBERS_PER_CALL))) {
      await api.request('POST', `/v1/api/conversations/${ROOM}/members`, { userIds: Array.from({ length: count }, (_, offset) => roomUser(start + offset)) });
    }
    const addMs = now() - startedAt;
    const { conversation } = await api.request('GET', `/v1/api/conversations/${ROOM}`);
    return { memberCount: conversation.memberCount, membersInView: Array.isArray(conversation.members), addMs };
  } finally {
    api.close();
  }
}

/** The rate steps, each drained before the next; `receivers` are the indexes of every process with members. */
async function runSteps(group, server, options, receivers) {
  const publisher = receivers.at(-1);
  // Not counted: every process has just started, and its code is not yet optimized.
  if (options.warmupMs > 0) {
    const warmup = await group.one(publisher, 'publish', { rate: options.rates[0], durationMs: options.warmupMs });
    await drain(group, receivers.length, warmup.acked * options.members);
    await Promise.all(receivers.map((index) => group.one(index, 'phase')));
  }
  const steps = [];
  for (const rate of options.rates) {
    const cores = cpuMeter(server, group);
    const published = await group.one(publisher, 'publish', { rate, durationMs: options.stepMs, maxMessages: options.maxMessages });
    await drain(group, receivers.length, published.acked * options.members);
    const reports = await Promise.all(receivers.map((index) => group.one(index, 'phase')));
    const step = summarizeStep(rate, published, reports, options.members);
    step.cores = cores((step.lastReceiveAt - published.startedAt) / 1000);
    delete step.lastReceiveAt;
    steps.push(step);
  }
  return steps;
}

function summarizeStep(rate, published, reports, members) {
  const histogram = reports.reduce((merged, report) => merged.merge(Histogram.from(report.histogram)), new Histogram());
  const sum = (key) => reports.reduce((total, report) => total + report[key], 0);
  const lastReceiveAt = Math.max(...reports.map((report) => report.lastReceiveAt));
  const expected = published.acked * members;
  const deliveries = sum('deliveries');
  const offered = rate * members;
  const completions = completionTimes(reports);
  const deliveriesPerSecond = sustainedRate(completions, members);
  const toEveryone = completions.map(([, sentAt, completedAt]) => completedAt - sentAt).sort((a, b) => a - b);
  const pick = (q) => (toEveryone.length === 0 ? null : Math.round(toEveryone[Math.min(toEveryone.length - 1, Math.floor(q * toEveryone.length))]));
  return {
    rate,
    messages: published.acked,
    sendErrors: published.errors,
    deliveries,
    expectedDeliveries: expected,
    offeredDeliveriesPerSecond: offered,
    deliveriesPerSecond,
    latencyMs: histogram.summary(),
    // Per message, from its post until every member had it.
    toEveryoneMs: { p50: pick(0.5), max: pick(1) },
    // Lost: seqs a member skipped (a broken contract); missing: deliveries that had not arrived when the step drained.
    lost: sum('lost'),
    missing: Math.max(0, expected - deliveries),
    duplicates: sum('duplicates'),
    disconnects: sum('disconnects'),
    keptPace: deliveries === expected && deliveriesPerSecond !== null && deliveriesPerSecond >= KEEPS_PACE * offered,
    lastReceiveAt,
  };
}

/** [index, sent at, completed at] of every message of the step, by index: completed when its last member anywhere got it. */
function completionTimes(reports) {
  const merged = new Map();
  for (const report of reports) {
    for (const [index, [sentAt, receivedAt]] of report.completions) merged.set(index, [sentAt, Math.max(receivedAt, merged.get(index)?.[1] ?? 0)]);
  }
  return [...merged].map(([index, [sentAt, completedAt]]) => [index, sentAt, completedAt]).sort((a, b) => a[0] - b[0]);
}

/**
 * Deliveries/s the room sustained: messages completed between the first and the last complete message,
 * times members, over the time between those completions (in order of posting); null under 2 messages.
 */
function sustainedRate(completions, members) {
  if (completions.length < 2) return null;
  const [first, last] = [completions[0], completions.at(-1)];
  return Math.round(((completions.length - 1) * members) / ((last[2] - first[2]) / 1000));
}

/** Counts from now the CPU of the server and of the load processes; the function returned gives the cores each used over `seconds`. */
function cpuMeter(server, group) {
  const before = { server: cpuSeconds(server.pid), load: group.cpuSeconds() };
  const cores = (used, seconds) => Number((used / seconds).toFixed(2));
  return (seconds) => ({ server: cores(cpuSeconds(server.pid) - before.server, seconds), load: cores(group.cpuSeconds() - before.load, seconds) });
}

/** Seconds from the first start to the last end of what several load processes did at once. */
function span(items) {
  return (Math.max(...items.map((item) => item.endedAt)) - Math.min(...items.map((item) => item.startedAt))) / 1000;
}

function summarize({ options, room, connected: { results: connected, cores: connectCores }, subscribed: { results: subscribed, cores: subscribeCores }, steps, settled }) {
  const sum = (items, key) => items.reduce((total, item) => total + item[key], 0);
  const kept = steps.filter((step) => step.keptPace);
  return {
    available: true,
    store: 'postgresql',
    members: options.members,
    payloadBytes: 100,
    room: { memberCount: room.memberCount, largeRoom: !room.membersInView, membersAddedPerSecond: Math.round(options.members / (room.addMs / 1000)) },
    connect: { connected: sum(connected, 'connected'), failed: sum(connected, 'failed'), firstError: connected.find((item) => item.firstError)?.firstError ?? null, seconds: Number(span(connected).toFixed(2)), cores: connectCores },
    subscribe: {
      subscribed: sum(subscribed, 'subscribed'),
      failed: sum(subscribed, 'failed'),
      firstError: subscribed.find((item) => item.firstError)?.firstError ?? null,
      seconds: Number(span(subscribed).toFixed(2)),
      cores: subscribeCores,
      latencyMs: subscribed.reduce((merged, item) => merged.merge(Histogram.from(item.histogram)), new Histogram()).summary(),
    },
    steps,
    // How far the room went: the fastest step that kept pace, and the most deliveries/s any step sustained.
    fastestKeptPace: kept.length === 0 ? null : Math.max(...kept.map((step) => step.rate)),
    peakDeliveriesPerSecond: Math.max(0, ...steps.map((step) => step.deliveriesPerSecond)),
    behindAtEnd: sum(settled, 'behind'),
  };
}
