// streams: N concurrent answers of the built-in demo model, whose pace is known exactly (its TTFT and
// tokens per second), so what the client sees beyond that pace is what Parley adds.
// - TTFT overhead: the client's time from `message.send` to its first `ai.delta`, minus the model's TTFT.
// - Delta lag: for every later delta, its arrival after the first delta minus when the model produced
//   its last token after the first one ((tokens so far - tokens of the first delta) x token interval).
//   It includes Parley's delta coalescing (at most one delta per ~30 ms) by design.
// - Server CPU: utime + stime of the server process over the run.
// Sends are spread evenly over one answer's duration, so that at the peak all N answers are running.
import { Histogram, now } from '../lib/histogram.mjs';
import { LoadGroup, sleep, split } from '../lib/load.mjs';
import { ParleyConnection, pooled } from '../lib/parley-connection.mjs';
import { cpuSeconds } from '../lib/proc.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

const ENDINGS = new Set(['ai.completed', 'ai.failed', 'ai.stopped']);
const countTokens = (text) => text.match(/\S+/g)?.length ?? 0;

/** Commands run in the load processes. */
export const client = {
  async prepare(state, { url, localAddress, start, count }) {
    state.streams = await pooled(count, 200, async (offset) => {
      const connection = await ParleyConnection.connect(url, await token(`stream-${start + offset}`), { localAddress });
      const { conversation } = await connection.request('conversation.open', { members: [], assistant: 'assistant' });
      const stream = { connection, index: start + offset, sentAt: 0, firstAt: 0, firstTokens: 0, tokens: 0, deltas: 0, endedAt: 0, ending: null, finalTokens: 0 };
      connection.onPush = (frame) => receive(state, stream, frame);
      await connection.request('subscribe', { conversationId: conversation.id });
      stream.conversationId = conversation.id;
      return stream;
    });
    return { prepared: state.streams.length };
  },
  async go(state, { startAt, rampMs, total, tokenIntervalMs, ttftMs, timeoutMs }) {
    state.lag = new Histogram();
    state.tokenIntervalMs = tokenIntervalMs;
    const errors = [];
    const finished = Promise.all(state.streams.map((stream) => new Promise((resolve) => (stream.done = resolve))));
    for (const stream of state.streams) {
      setTimeout(() => send(stream, errors), startAt + (stream.index / total) * rampMs - Date.now());
    }
    await Promise.race([finished, sleep(timeoutMs)]);
    return report(state, errors, ttftMs);
  },
  close(state) {
    for (const stream of state.streams) stream.connection.close();
    return {};
  },
};

function send(stream, errors) {
  stream.sentAt = now();
  stream.connection.request('message.send', { conversationId: stream.conversationId, clientMsgId: 'question', content: { type: 'text', text: 'How long does shipping take?' } }).catch((error) => {
    errors.push(String(error.message));
    stream.done();
  });
}

function receive(state, stream, frame) {
  if (frame.push === 'signal' && frame.signal.type === 'ai.delta') {
    const at = now();
    stream.tokens += countTokens(frame.signal.data.text);
    stream.deltas++;
    if (stream.firstAt === 0) {
      stream.firstAt = at;
      stream.firstTokens = stream.tokens;
    } else {
      state.lag.record(at - stream.firstAt - (stream.tokens - stream.firstTokens) * state.tokenIntervalMs);
    }
  } else if (frame.push === 'event' && ENDINGS.has(frame.event.type)) {
    stream.endedAt = now();
    stream.ending = frame.event.type;
    stream.finalTokens = countTokens(frame.event.data.text ?? '');
    stream.done();
  }
}

function report(state, errors, ttftMs) {
  const streams = state.streams;
  return {
    ttftOverheads: streams.filter((stream) => stream.firstAt > 0).map((stream) => stream.firstAt - stream.sentAt - ttftMs),
    lag: state.lag.counts,
    completed: streams.filter((stream) => stream.ending === 'ai.completed').length,
    endedOtherwise: streams.filter((stream) => stream.ending && stream.ending !== 'ai.completed').length,
    unfinished: streams.filter((stream) => !stream.ending).length - errors.length,
    sendErrors: errors.length,
    firstError: errors[0] ?? null,
    finalTokens: streams.map((stream) => stream.finalTokens),
    deltas: streams.reduce((sum, stream) => sum + stream.deltas, 0),
    intervals: streams.filter((stream) => stream.endedAt > 0).map((stream) => [stream.sentAt, stream.endedAt]),
  };
}

/** Runs the scenario once per count in `counts`: `{ counts, tokens, tokensPerSecond, ttftMs }`. */
export async function run(options) {
  const results = {};
  for (const count of options.counts) results[count] = await runOne(count, options);
  return { store: 'postgresql', answerTokens: options.tokens, tokensPerSecond: options.tokensPerSecond, modelTtftMs: options.ttftMs, runs: results };
}

async function runOne(count, { tokens, tokensPerSecond, ttftMs }) {
  const backends = await createBackends();
  const server = await startParley({
    ...backends.env,
    PARLEY_DEMO_TTFT_MS: String(ttftMs),
    PARLEY_DEMO_TOKENS_PER_SECOND: String(tokensPerSecond),
    PARLEY_DEMO_ANSWER_TOKENS: String(tokens),
    PARLEY_AI_CONCURRENCY: String(count),
    PARLEY_AI_QUEUE_SIZE: String(count),
    PARLEY_AI_TENANT_CONCURRENCY: String(count),
    PARLEY_AI_BUDGET_REQUESTS: '1000',
  });
  const processes = Math.min(4, Math.max(2, Math.ceil(count / 2500)));
  const group = new LoadGroup('streams', processes);
  try {
    const ranges = split(count, processes);
    await group.all('prepare', (index) => ({ url: server.wsUrl, ...ranges[index] }));
    const tokenIntervalMs = 1000 / tokensPerSecond;
    const answerMs = ttftMs + tokens * tokenIntervalMs;
    const cpuBefore = cpuSeconds(server.pid);
    const startedAt = performance.now();
    // Sends spread over one answer's length: the first answer ends as the last one starts.
    const go = { startAt: Date.now() + 500, rampMs: answerMs, total: count, tokenIntervalMs, ttftMs, timeoutMs: 2 * answerMs + 60_000 };
    const reports = await group.all('go', () => go);
    const wallSeconds = (performance.now() - startedAt) / 1000;
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    await group.all('close');
    return summarize(count, reports, tokens, { cpu, wallSeconds });
  } finally {
    await group.stop();
    await server.stop();
    await backends.release();
  }
}

function summarize(count, reports, tokens, { cpu, wallSeconds }) {
  const overheads = reports.flatMap((report) => report.ttftOverheads).sort((a, b) => a - b);
  const pick = (q) => (overheads.length === 0 ? null : Number(overheads[Math.min(overheads.length - 1, Math.floor(q * overheads.length))].toFixed(1)));
  const lag = reports.reduce((merged, report) => merged.merge(Histogram.from(report.lag)), new Histogram()).summary();
  const sum = (key) => reports.reduce((total, report) => total + report[key], 0);
  return {
    generations: count,
    completed: sum('completed'),
    endedOtherwise: sum('endedOtherwise'),
    unfinished: sum('unfinished'),
    sendErrors: sum('sendErrors'),
    firstError: reports.find((report) => report.firstError)?.firstError ?? null,
    wrongLength: reports.flatMap((report) => report.finalTokens).filter((length) => length !== tokens).length,
    peakConcurrent: peakOverlap(reports.flatMap((report) => report.intervals)),
    deltasPerAnswer: Number((sum('deltas') / count).toFixed(1)),
    ttftOverheadMs: { p50: pick(0.5), p99: pick(0.99), max: pick(1) },
    deltaLagMs: { p50: lag.p50, p99: lag.p99, max: lag.max },
    serverCpuSeconds: Number(cpu.toFixed(2)),
    serverCores: Number((cpu / wallSeconds).toFixed(2)),
    wallSeconds: Number(wallSeconds.toFixed(1)),
  };
}

/** The most intervals [start, end] open at one time. */
function peakOverlap(intervals) {
  const points = intervals.flatMap(([start, end]) => [[start, 1], [end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, change] of points) peak = Math.max(peak, (open += change));
  return peak;
}
