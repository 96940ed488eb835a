// fanout: one conversation, many subscribers, a publisher sending 100-byte messages, for Parley and its
// peers, in two phases on the same connections:
// - at a fixed rate below every system's ceiling: delivery latency (receive time minus the send time
//   embedded in the message) when nothing queues;
// - as fast as the system carries them (a bounded window of messages not yet round): deliveries per
//   second, and latency at saturation, which is mostly queueing.
import { Histogram } from '../lib/histogram.mjs';
import { LoadGroup, sleep, split } from '../lib/load.mjs';
import { openPublisher, publish, Subscribers } from '../lib/relay.mjs';
import { cpuSeconds } from '../lib/proc.mjs';
import { createBackends, startParley, startPeer } from '../lib/servers.mjs';

/** Commands run in the load processes. */
export const client = {
  async openPublisher(state, args) {
    state.publisher = await openPublisher(args);
    return { conversationId: state.publisher.conversationId };
  },
  publish: (state, args) => publish(state.publisher, args),
  closePublisher(state) {
    state.publisher.close();
    return {};
  },
  async subscribe(state, args) {
    state.subscribers = new Subscribers();
    await state.subscribers.connect(args);
    return {};
  },
  progress: (state) => state.subscribers.progress(),
  /** The counts of the phase that ended; the next phase counts from zero. */
  phase: (state) => state.subscribers.phase(),
  report: (state) => state.subscribers.report(),
};

/** The systems compared: Parley with each codec, then the peers. */
function systems(codecs) {
  return [...codecs.map((codec) => ({ name: `parley-${codec}`, system: 'parley', codec })), { name: 'ws', system: 'ws' }, { name: 'socket.io', system: 'socketio' }];
}

/**
 * Runs the scenario for every system: `subscribers`, `processes`, `codecs`; the fixed-rate phase `steadyRate`
 * (messages/s) for `warmupMs` (not counted), then `steadyMs`; the saturation phase for `durationMs` or
 * `maxMessages`, with `window`.
 */
export async function run(options) {
  const results = {};
  for (const target of systems(options.codecs)) results[target.name] = await runOne(target, options);
  return { store: 'postgresql', subscribers: options.subscribers, payloadBytes: 100, window: options.window, steadyRate: options.steadyRate, steadyMs: options.steadyMs, systems: results };
}

async function runOne({ system, codec }, options) {
  const backends = system === 'parley' ? await createBackends() : null;
  const server = system === 'parley' ? await startParley(backends.env) : await startPeer(system);
  const group = new LoadGroup('fanout', options.processes + 1);
  const publisherIndex = options.processes;
  try {
    const common = { system, url: server.wsUrl, codec };
    const opened = await group.one(publisherIndex, 'openPublisher', common).catch((error) => error);
    if (opened instanceof Error && /HTTP 400/.test(opened.message)) return { available: false, reason: `server refused subprotocol (HTTP 400)` };
    if (opened instanceof Error) throw opened;
    const ranges = split(options.subscribers, options.processes);
    await Promise.all(ranges.map((range, index) => group.one(index, 'subscribe', { ...common, ...range, conversationId: opened.conversationId })));
    // The fixed rate first: the window only guards against a system that falls behind it. A first second
    // at that rate is not counted: every process has just started, and its code is not yet optimized.
    const atRate = (durationMs) => group.one(publisherIndex, 'publish', { durationMs, maxMessages: options.maxMessages, window: 10_000, rate: options.steadyRate });
    const warmup = await atRate(options.warmupMs);
    await drain(group, ranges.length, warmup.acked * options.subscribers);
    await Promise.all(ranges.map((_range, index) => group.one(index, 'phase')));
    const steady = await atRate(options.steadyMs);
    await drain(group, ranges.length, steady.acked * options.subscribers);
    const steadyReports = await Promise.all(ranges.map((_range, index) => group.one(index, 'phase')));
    const cpuBefore = { server: cpuSeconds(server.pid), load: group.cpuSeconds() };
    const published = await group.one(publisherIndex, 'publish', { durationMs: options.durationMs, maxMessages: options.maxMessages, window: options.window });
    const expected = published.acked * options.subscribers;
    await drain(group, ranges.length, expected);
    const cpu = { server: cpuSeconds(server.pid) - cpuBefore.server, load: group.cpuSeconds() - cpuBefore.load };
    const reports = await Promise.all(ranges.map((_range, index) => group.one(index, 'report')));
    await group.one(publisherIndex, 'closePublisher');
    return { ...summarize(system, published, reports, expected, cpu), steady: summarize(system, steady, steadyReports, steady.acked * options.subscribers) };
  } finally {
    await group.stop();
    await server.stop();
    await backends?.release();
  }
}

/** Waits until subscribers received `expected` messages, or nothing arrived for 5 s. */
export async function drain(group, count, expected) {
  let last = -1;
  let quietSince = Date.now();
  for (;;) {
    const progress = await Promise.all(Array.from({ length: count }, (_, index) => group.one(index, 'progress')));
    const deliveries = progress.reduce((sum, item) => sum + item.deliveries, 0);
    if (deliveries >= expected) return;
    if (deliveries !== last) quietSince = Date.now();
    else if (Date.now() - quietSince > 5000) return;
    last = deliveries;
    await sleep(100);
  }
}

function summarize(system, published, reports, expected, cpu) {
  const histogram = reports.reduce((merged, report) => merged.merge(Histogram.from(report.histogram)), new Histogram());
  const deliveries = reports.reduce((sum, report) => sum + report.deliveries, 0);
  const duplicates = reports.reduce((sum, report) => sum + report.duplicates, 0);
  const bytes = reports.reduce((sum, report) => sum + report.bytes, 0);
  const lastReceiveAt = Math.max(...reports.map((report) => report.lastReceiveAt));
  const seconds = (lastReceiveAt - published.startedAt) / 1000;
  return {
    available: true,
    messages: published.acked,
    sendErrors: published.errors,
    messagesPerSecond: Math.round(published.acked / ((published.lastAckAt - published.startedAt) / 1000)),
    deliveries,
    expectedDeliveries: expected,
    lost: expected - (deliveries - duplicates),
    duplicates,
    disconnects: reports.reduce((sum, report) => sum + report.disconnects, 0),
    deliveriesPerSecond: Math.round(deliveries / seconds),
    latencyMs: histogram.summary(),
    bytesPerEvent: system === 'socketio' || deliveries === 0 ? null : Math.round(bytes / deliveries),
    // Who had the CPU during the phase (server and load processes share the cores).
    ...(cpu ? { cores: { server: Number((cpu.server / seconds).toFixed(2)), load: Number((cpu.load / seconds).toFixed(2)) } } : {}),
  };
}
