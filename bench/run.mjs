// `npm run bench`: runs every scenario against Parley and its peers in one command, on loopback, and
// writes bench/results/latest.{json,md} plus one SVG chart per scenario. See bench/README.md.
//   node bench/run.mjs [--only fanout,idle,streams,storm,cluster,api,rooms,desk,transports,aisdk] [--tiny] [--idle 50000]
//                      [--streams 1000,10000] [--subscribers 1000] [--duration-ms 10000] [--window 64] [--steady-rate 40]
//                      [--codec json|msgpack|both] [--api-in-flight 64] [--api-ws-connections 8] [--api-duration-ms 10000]
//                      [--room-members 10000] [--room-rates 2,5,10,20,40] [--desk-customers 1000] [--desk-agents 50]
//                      [--desk-rate 20] [--desk-think-ms 200] [--desk-poll-ms 1000] [--transports-subscribers 100]
//                      [--transports-messages 300] [--transports-idle 5000] [--aisdk-answers 100] [--out bench/results]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineFacts, markdown, writeResults } from './lib/report.mjs';

export const SCENARIOS = ['fanout', 'idle', 'streams', 'storm', 'cluster', 'api', 'rooms', 'desk', 'transports', 'aisdk'];

/** Sizes of each scenario: the full run, and a tiny one that only checks correctness. */
function settings(tiny, flags) {
  const idleConnections = Number(flags.idle ?? (tiny ? 20 : 10_000));
  const roomMembers = Number(flags['room-members'] ?? 10_000);
  return {
    fanout: tiny
      ? { subscribers: 4, durationMs: 30_000, maxMessages: 20, window: 8, steadyRate: 100, warmupMs: 100, steadyMs: 200, processes: 1, codecs: codecs(flags.codec) }
      : { subscribers: Number(flags.subscribers ?? 1000), durationMs: Number(flags['duration-ms'] ?? 10_000), window: Number(flags.window ?? 64), steadyRate: Number(flags['steady-rate'] ?? 40), warmupMs: 1000, steadyMs: 5000, processes: 2, codecs: codecs(flags.codec) },
    // At most 10,000 sockets per load process (each has a 20,000 open-file limit), each from its own address.
    idle: { connections: idleConnections, processes: tiny ? 1 : Math.max(2, Math.ceil(idleConnections / 10_000)), settleMs: tiny ? 200 : 3000 },
    streams: tiny
      ? { counts: [5], tokens: 20, tokensPerSecond: 200, ttftMs: 20 }
      : { counts: (flags.streams ?? '1000,10000').split(',').map(Number), tokens: 200, tokensPerSecond: 50, ttftMs: 100 },
    storm: tiny ? { conversations: 2, members: 3, rate: 50, processes: 1, warmMs: 500 } : { conversations: 50, members: 100, rate: 250, processes: 4 },
    cluster: tiny ? { subscribers: 2, rate: 100, durationMs: 500, publishers: 2, redisRequests: 1000 } : { subscribers: 20, rate: 1000, durationMs: 10_000, publishers: 8, redisRequests: 100_000 },
    api: tiny
      ? { conversations: 2, concurrency: 4, wsConnections: 2, durationMs: 30_000, warmupMs: 0, maxPosts: 40, processes: 1 }
      : { conversations: 8, concurrency: Number(flags['api-in-flight'] ?? 64), wsConnections: Number(flags['api-ws-connections'] ?? 8), durationMs: Number(flags['api-duration-ms'] ?? 10_000), warmupMs: 1000, processes: 2 },
    // 150 members is above the default large-room threshold (100); at most 10,000 sockets per load process.
    rooms: tiny
      ? { members: 150, rates: [40], stepMs: 10_000, maxMessages: 10, warmupMs: 0, processes: 1 }
      : { members: roomMembers, rates: (flags['room-rates'] ?? '2,5,10,20,40').split(',').map(Number), stepMs: 5000, warmupMs: 1000, processes: Math.max(2, Math.ceil(roomMembers / 10_000)) },
    desk: tiny
      ? { customers: 12, agents: 3, capacity: 2, rate: 40, thinkMs: 20, pollMs: 50, customerProcesses: 1 }
      : { customers: Number(flags['desk-customers'] ?? 1000), agents: Number(flags['desk-agents'] ?? 50), capacity: 5, rate: Number(flags['desk-rate'] ?? 20), thinkMs: Number(flags['desk-think-ms'] ?? 200), pollMs: Number(flags['desk-poll-ms'] ?? 1000), customerProcesses: 2 },
    // Fallback timeouts: the SDK's defaults (3 s) in the full run; short in the tiny one, which checks counts only.
    transports: tiny
      ? { connect: { trials: 1, slowTrials: 1, fallbackTimeoutMs: 300 }, fanout: { subscribers: 3, messages: 10, window: 4, timeoutMs: 10_000 }, idle: { sessions: 5, settleMs: 100, freshNodes: false } }
      : {
          connect: { trials: 10, slowTrials: 3, fallbackTimeoutMs: 3000 },
          fanout: { subscribers: Number(flags['transports-subscribers'] ?? 100), messages: Number(flags['transports-messages'] ?? 300), window: 32, timeoutMs: 120_000 },
          idle: { sessions: Number(flags['transports-idle'] ?? 5000), settleMs: 3000 },
        },
    aisdk: tiny
      ? { answers: 2, ttftMs: 20, tokensPerSecond: 100, tokens: 100, timeoutMs: 10_000 }
      : { answers: Number(flags['aisdk-answers'] ?? 100), ttftMs: 100, tokensPerSecond: 50, tokens: 200, timeoutMs: 30_000 },
  };
}

function codecs(flag = 'both') {
  return flag === 'both' ? ['json', 'msgpack'] : [flag];
}

/** Runs the scenarios `only` (all by default); resolves with the results, machine facts and seconds per scenario. */
export async function runBench({ tiny = false, only = SCENARIOS, flags = {}, log = () => {} } = {}) {
  const sizes = settings(tiny, flags);
  const run = { machine: machineFacts(), tiny, settings: {}, scenarios: {}, seconds: {} };
  for (const name of only) {
    log(`${name}: running`);
    const startedAt = performance.now();
    const scenario = await import(`./scenarios/${name}.mjs`);
    run.settings[name] = sizes[name];
    run.scenarios[name] = await scenario.run(sizes[name]);
    run.seconds[name] = Math.round((performance.now() - startedAt) / 1000);
    log(`${name}: done in ${run.seconds[name]} s`);
  }
  return run;
}

async function main() {
  const { values } = parseArgs({
    options: {
      tiny: { type: 'boolean' },
      only: { type: 'string' },
      idle: { type: 'string' },
      streams: { type: 'string' },
      subscribers: { type: 'string' },
      'duration-ms': { type: 'string' },
      window: { type: 'string' },
      'steady-rate': { type: 'string' },
      codec: { type: 'string' },
      'api-in-flight': { type: 'string' },
      'api-ws-connections': { type: 'string' },
      'api-duration-ms': { type: 'string' },
      'room-members': { type: 'string' },
      'room-rates': { type: 'string' },
      'desk-customers': { type: 'string' },
      'desk-agents': { type: 'string' },
      'desk-rate': { type: 'string' },
      'desk-think-ms': { type: 'string' },
      'desk-poll-ms': { type: 'string' },
      'transports-subscribers': { type: 'string' },
      'transports-messages': { type: 'string' },
      'transports-idle': { type: 'string' },
      'aisdk-answers': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const only = values.only ? values.only.split(',') : SCENARIOS;
  const unknown = only.filter((name) => !SCENARIOS.includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  const run = await runBench({ tiny: values.tiny ?? false, only, flags: values, log: (line) => console.error(`[bench] ${line}`) });
  // A tiny run checks correctness; it keeps the last real results unless told where to write.
  const out = values.out ?? (values.tiny ? null : fileURLToPath(new URL('./results/', import.meta.url)));
  if (out) await writeResults(out, run);
  console.log(markdown(run));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
