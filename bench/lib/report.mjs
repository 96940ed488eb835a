// Results as JSON, a Markdown report (machine facts, one table per scenario, Parley-to-peer ratios) and
// one SVG chart per scenario.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { barChart } from './svg.mjs';

/** Facts of the machine and the code a run measured. */
export function machineFacts() {
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  })();
  // The load average when the run started: other work on the machine moves the numbers.
  const loadAverage = Number(loadavg()[0].toFixed(1));
  return { cores: cpus().length, cpuModel: cpus()[0]?.model ?? null, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString(), commit, loadAverage };
}

const number = (value) => (value === null || value === undefined ? '–' : typeof value === 'number' ? value.toLocaleString('en-US') : String(value));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '–');
const table = (header, rows) => [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(number).join(' | ')} |`)].join('\n');

const SECTIONS = {
  fanout: (result) => {
    const systems = Object.entries(result.systems);
    const peers = systems.filter(([name]) => !name.startsWith('parley'));
    const rows = systems.map(([name, item]) =>
      item.available
        ? [name, item.messagesPerSecond, item.deliveriesPerSecond, item.latencyMs.p50, item.latencyMs.p99, item.latencyMs.p999, item.bytesPerEvent, item.lost, item.duplicates, ...peers.map(([, peer]) => ratio(item.deliveriesPerSecond, peer.deliveriesPerSecond))]
        : [name, `not available: ${item.reason}`, ...Array(7 + peers.length).fill(null)],
    );
    const header = ['system', 'messages/s', 'deliveries/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'bytes/event', 'lost', 'dup', ...peers.map(([name]) => `deliveries/s vs ${name}`), 'cores: server / load processes'];
    rows.forEach((row, index) => row.push(systems[index][1].cores ? `${systems[index][1].cores.server} / ${systems[index][1].cores.load}` : null));
    const steadyRows = systems
      .filter(([, item]) => item.available && item.steady)
      .map(([name, { steady }]) => [name, steady.messagesPerSecond, steady.deliveriesPerSecond, steady.latencyMs.p50, steady.latencyMs.p99, steady.latencyMs.p999, steady.lost, steady.duplicates]);
    const steady = steadyRows.length === 0 ? '' : `Latency at a fixed ${result.steadyRate} messages/s for ${result.steadyMs / 1000} s (below every system's ceiling):\n\n${table(['system', 'messages/s', 'deliveries/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'lost', 'dup'], steadyRows)}\n\n`;
    return `### fanout: 1 conversation, ${number(result.subscribers)} subscribers, ${result.payloadBytes}-byte messages\n\n${steady}As fast as each system carries them (at most ${result.window} messages not yet round):\n\n${table(header, rows)}`;
  },
  idle: (result) => {
    const systems = Object.entries(result.systems);
    const rows = systems.map(([name, item]) =>
      item.available ? [name, item.connected, item.failed, item.bytesPerConnection, `${item.rssBeforeMiB} → ${item.rssAfterMiB}`, item.connectsPerSecond, ratio(item.bytesPerConnection, result.systems.ws?.bytesPerConnection)] : [name, `not available: ${item.reason}`, null, null, null, null, null],
    );
    return `### idle: ${number(result.connections)} idle connections on one node\n\n${table(['system', 'connected', 'failed', 'RSS bytes/connection', 'RSS MiB before → after', 'connects/s', 'memory vs ws'], rows)}`;
  },
  streams: (result) => {
    const targets = { 1000: 5, 10000: 25 };
    const rows = Object.entries(result.runs).map(([count, run]) => [
      count, run.completed, run.peakConcurrent, run.ttftOverheadMs.p50, run.ttftOverheadMs.p99, targets[count] ? `< ${targets[count]} ms: ${run.ttftOverheadMs.p99 < targets[count] ? 'met' : 'missed'}` : null, run.deltaLagMs.p50, run.deltaLagMs.p99, run.deltasPerAnswer, run.serverCpuSeconds, run.serverCores, run.wallSeconds,
    ]);
    const header = ['answers', 'completed', 'peak concurrent', 'TTFT overhead p50 ms', 'p99 ms', 'target p99', 'delta lag p50 ms', 'p99 ms', 'deltas/answer', 'server CPU s', 'server cores', 'wall s'];
    return `### streams: demo model, ${result.answerTokens} tokens at ${result.tokensPerSecond}/s, TTFT ${result.modelTtftMs} ms (no peer)\n\n${table(header, rows)}`;
  },
  storm: (result) =>
    `### storm: ${number(result.clients)} clients (${result.conversations} conversations × ${result.membersPerConversation} members) drop and reconnect at once, ${result.messagesPerSecond} messages/s\n\n${table(
      ['clients', 'resumed', 'not resumed', 'resume p50 ms', 'p99 ms', 'all resumed ms', 'reconnect retries', 'lost', 'duplicated', 'not yet received at the end', 'cores while resuming: server / load processes'],
      [[result.clients, result.resumed, result.notResumed, result.resumeMs.p50, result.resumeMs.p99, result.resumeMs.all, result.reconnectRetries, result.lost, result.duplicated, result.behindAtEnd, result.coresWhileResuming ? `${result.coresWhileResuming.server} / ${result.coresWhileResuming.load}` : '–']],
    )}`,
  cluster: (result) =>
    `### cluster: 2 nodes (PostgreSQL + Redis), publisher on node 1 at ${result.messagesPerSecond} messages/s over ${result.publisherConnections} connections, ${result.subscribersPerNode} subscribers per node\n\n${table(
      ['path', 'deliveries', 'lost', 'dup', 'p50 ms', 'p99 ms', 'p99.9 ms'],
      [['node 1 → node 2 (cross-node)', result.crossNode.deliveries, result.crossNode.lost, result.crossNode.duplicates, result.crossNode.latencyMs.p50, result.crossNode.latencyMs.p99, result.crossNode.latencyMs.p999], ['node 1 → node 1 (same node)', result.sameNode.deliveries, result.sameNode.lost, result.sameNode.duplicates, result.sameNode.latencyMs.p50, result.sameNode.latencyMs.p99, result.sameNode.latencyMs.p999]],
    )}\n\nRedis's own ceiling (redis-benchmark, ${result.redis.clients} clients, ${number(result.redis.requests)} requests):\n\n${table(
      ['operation', 'requests/s', 'p50 ms', 'p99 ms', 'vs Parley rate'],
      [['SPUBLISH', result.redis.spublish.requestsPerSecond, result.redis.spublish.latencyMs.p50, result.redis.spublish.latencyMs.p99, ratio(result.redis.spublish.requestsPerSecond, result.messagesPerSecond)], ['EVALSHA publish-event (ZADD + SPUBLISH)', result.redis.publishScript.requestsPerSecond, result.redis.publishScript.latencyMs.p50, result.redis.publishScript.latencyMs.p99, ratio(result.redis.publishScript.requestsPerSecond, result.messagesPerSecond)]],
    )}`,
  api: (result) => {
    const { rest, ws } = result.transports;
    const row = (name, item) => [name, item.connections, item.posts, item.requestsPerSecond, item.latencyMs.p50, item.latencyMs.p99, item.latencyMs.p999, item.errors, item.duplicateAcks, item.stored.events, item.stored.lost, item.stored.duplicated, item.serverCpuMsPerPost, `${item.cores.server} / ${item.cores.load}`];
    return `### api: message posts over REST against WebSocket \`message.send\`, one node, ${result.inFlight} in flight each, ${result.conversations} conversations, ${result.payloadBytes}-byte messages\n\n${table(
      ['transport', 'connections', 'posts', 'posts/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'duplicate acks', 'stored', 'lost', 'duplicated', 'server CPU ms/post', 'cores: server / load processes'],
      [row('REST (keep-alive HTTP/1.1, Idempotency-Key)', rest), row('WebSocket message.send (pipelined)', ws)],
    )}\n\nREST / WebSocket posts/s: ${ratio(rest.requestsPerSecond, ws.requestsPerSecond)}; server CPU per post: ${ratio(rest.serverCpuMsPerPost, ws.serverCpuMsPerPost)}. Stored counts every acknowledged post of the run (warm-up included) by its idempotency key; seqs missing in any conversation: ${number(result.seqGaps)}.`;
  },
  rooms: (result) => {
    if (!result.available) return `### rooms: one conversation of ${number(result.members)} members\n\nNot available: ${result.reason}.`;
    const setup = table(
      ['members', 'large room', 'members added/s (REST, 1,000 per call)', 'connected', 'connect failures', 'connect s', 'cores while connecting: server / load', 'subscribed', 'subscribe failures', 'time to subscribe all s', 'subscribe p50 ms', 'p99 ms', 'cores while subscribing: server / load'],
      [[result.room.memberCount, result.room.largeRoom ? 'yes' : 'no', result.room.membersAddedPerSecond, result.connect.connected, result.connect.failed, result.connect.seconds, `${result.connect.cores.server} / ${result.connect.cores.load}`, result.subscribe.subscribed, result.subscribe.failed, result.subscribe.seconds, result.subscribe.latencyMs.p50, result.subscribe.latencyMs.p99, `${result.subscribe.cores.server} / ${result.subscribe.cores.load}`]],
    );
    const steps = table(
      ['messages/s', 'messages', 'deliveries/s offered', 'deliveries/s sustained', 'kept pace', 'p50 ms', 'p99 ms', 'p99.9 ms', 'to every member p50 ms', 'max ms', 'lost', 'missing', 'dup', 'disconnects', 'cores: server / load processes'],
      result.steps.map((step) => [step.rate, step.messages, step.offeredDeliveriesPerSecond, step.deliveriesPerSecond, step.keptPace ? 'yes' : 'no', step.latencyMs.p50, step.latencyMs.p99, step.latencyMs.p999, step.toEveryoneMs.p50, step.toEveryoneMs.max, step.lost, step.missing, step.duplicates, step.disconnects, `${step.cores.server} / ${step.cores.load}`]),
    );
    return `### rooms: one conversation of ${number(result.members)} members (users), ${result.payloadBytes}-byte messages posted over REST at fixed rates\n\n${setup}\n\n${steps}\n\nDeliveries/s sustained: messages completed (received by every member) from the step's first completion to its last, times members, over the time between the two. A step keeps pace when every delivery arrived and that rate was at least 90% of the offered one (the backend posts at most 2 s of its rate ahead of the last member, so a room that falls behind slows it down). Fastest step that kept pace: ${result.fastestKeptPace === null ? 'none' : `${number(result.fastestKeptPace)} messages/s`}; most deliveries/s sustained in a step: ${number(result.peakDeliveriesPerSecond)}; events not received at the end: ${number(result.behindAtEnd)}.`;
  },
  desk: (result) => {
    const topologies = [['1 node', result.oneNode], ['2 nodes', result.twoNodes]];
    const rows = topologies.map(([name, item]) => [
      name, item.customers, item.handoffSeconds, item.assigned, item.stored.assignedOnce, item.stored.assignedMoreThanOnce, item.stored.requeued,
      item.handoffToAssignmentMs.p50, item.handoffToAssignmentMs.p99, item.handoffToAssignmentMs.max,
      item.firstResponseMs.p50, item.firstResponseMs.p99, item.firstResponseMs.max,
      item.assignmentsPerSecond, item.resolved, `${item.stored.maxOpenPerAgent} / ${result.capacity}`, item.lost, item.duplicates, item.stored.behindAtEnd,
      item.customerErrors + item.agents.errors, `${item.cores.server} / ${item.cores.load}`,
    ]);
    const header = ['nodes', 'customers', 'handoffs over s', 'assigned', 'assigned once (store)', 'more than once', 'requeued', 'handoff → assignment p50 ms', 'p99 ms', 'max ms', 'first response p50 ms', 'p99 ms', 'max ms', 'assignments/s', 'resolved', 'most open per agent / capacity', 'lost', 'dup', 'not received at the end', 'errors', 'cores: servers / load processes'];
    const one = result.oneNode;
    const two = result.twoNodes;
    return `### desk: ${number(result.customers)} customers hand off at ${result.handoffsPerSecond}/s to ${result.agents} agents (capacity ${result.capacity}, think time ${result.thinkMs} ms, inbox read every ${result.pollMs} ms), PostgreSQL; 2 nodes also Redis (no peer)\n\n${table(header, rows)}\n\nTwo nodes / one node: handoff → assignment p50 ${ratio(two.handoffToAssignmentMs.p50, one.handoffToAssignmentMs.p50)}, p99 ${ratio(two.handoffToAssignmentMs.p99, one.handoffToAssignmentMs.p99)}; first response p50 ${ratio(two.firstResponseMs.p50, one.firstResponseMs.p50)}, p99 ${ratio(two.firstResponseMs.p99, one.firstResponseMs.p99)}; assignments/s ${ratio(two.assignmentsPerSecond, one.assignmentsPerSecond)}. First response includes the agent's think time (${result.thinkMs} ms) and the wait for its next inbox read (up to ${result.pollMs} ms). By the server's event timestamps, handoff requested → queued p50 / p99: ${topologies.map(([name, item]) => `${name} ${item.stored.requestedToQueuedMs.p50} / ${item.stored.requestedToQueuedMs.p99} ms`).join(', ')}; queued → assigned (routing): ${topologies.map(([name, item]) => `${name} ${item.stored.queuedToAssignedMs.p50} / ${item.stored.queuedToAssignedMs.p99} ms`).join(', ')}.`;
  },
  transports: (result) => {
    const connect = table(
      ['case', 'ends on', 'trials', 'on it', 'median ms', 'max ms', 'median vs websocket'],
      result.timeToConnected.map((row) => [row.case, row.transport, row.trials, row.onExpected, row.medianMs, row.maxMs, ratio(row.medianMs, result.timeToConnected[0].medianMs)]),
    );
    const fanoutRows = Object.values(result.fanout);
    const fan = table(
      ['transport', 'subscribers', 'connected', 'messages', 'deliveries', 'deliveries/s', 'vs websocket', 'lost', 'dup'],
      fanoutRows.map((row) => [row.transport, row.subscribers, row.connected, row.messages, row.deliveries, row.deliveriesPerSecond, ratio(row.deliveriesPerSecond, result.fanout.websocket?.deliveriesPerSecond), row.lost, row.duplicated]),
    );
    const idleRows = Object.values(result.idle);
    const idle = table(
      ['transport', 'sessions', 'failed', 'RSS bytes/session', 'RSS MiB before → after', 'V8 heap bytes/session', 'RSS vs websocket', 'RSS vs raw ws'],
      idleRows.map((row) => [row.transport === 'ws' ? 'raw `ws` server' : row.transport, row.connected, row.failed, row.rssBytesPerSession, `${row.rssBeforeMiB} → ${row.rssAfterMiB}`, row.heapBytesPerSession, ratio(row.rssBytesPerSession, result.idle.websocket?.rssBytesPerSession), ratio(row.rssBytesPerSession, result.idle.ws?.rssBytesPerSession)]),
    );
    return `### transports: the SDK over WebSocket, SSE and long-poll, one node (PostgreSQL)\n\nTime to connected (\`connect()\` until connected; the WebSocket blocked in the fallback cases):\n\n${connect}\n\nFan-out to SDK clients on one transport, a WebSocket publisher:\n\n${fan}\n\nIdle sessions, a fresh node per transport (server RSS and V8 heap in use, after - before, per session):\n\n${idle}`;
  },
  aisdk: (result) => {
    const { parleySdk, aiSdkEndpoint, addedByEndpoint } = result.ttftOverheadMs;
    const { stop } = result;
    const ttft = table(
      ['client', 'answers', 'TTFT overhead p50 ms', 'p99 ms', 'max ms'],
      [['Parley SDK (`/v1/ws`)', parleySdk.samples, parleySdk.p50, parleySdk.p99, parleySdk.max], ['ai 7 `WebSocketChatTransport` (`/v1/ai-sdk/ws`)', aiSdkEndpoint.samples, aiSdkEndpoint.p50, aiSdkEndpoint.p99, aiSdkEndpoint.max], ['added by the endpoint', null, addedByEndpoint.p50, addedByEndpoint.p99, null]],
    );
    const stops = table(
      ['stops', 'ended in ai.stopped', 'with a delta after it', 'stop → ai.stopped p50 ms', 'p99 ms', 'max ms', `bound ${stop.boundMs} ms (p99)`],
      [[stop.answers, stop.stopped, stop.withDeltaAfterStop, stop.stopToStoppedMs.p50, stop.stopToStoppedMs.p99, stop.stopToStoppedMs.max, stop.withinBound ? 'pass' : 'fail']],
    );
    return `### aisdk: ai 7 \`WebSocketChatTransport\` against Parley's SDK on one node, demo model (TTFT ${result.modelTtftMs} ms), one answer at a time\n\n${ttft}\n\nStop: the chat's \`stop()\` (the transport sends \`abort\`) until a Parley subscriber of the conversation receives \`ai.stopped\`:\n\n${stops}`;
  },
};

const CHARTS = {
  fanout: (result) => {
    const systems = Object.entries(result.systems).filter(([, item]) => item.available);
    return [
      { name: 'fanout-throughput', chart: { title: 'fanout: deliveries per second', unit: 'deliveries/s', groups: [{ label: `${result.subscribers} subscribers`, bars: systems.map(([name, item]) => ({ series: name, value: item.deliveriesPerSecond })) }] } },
      { name: 'fanout-latency', chart: { title: 'fanout: delivery latency', unit: 'ms', groups: ['p50', 'p99', 'p999'].map((key) => ({ label: key.replace('p999', 'p99.9'), bars: systems.map(([name, item]) => ({ series: name, value: item.latencyMs[key] })) })) } },
    ];
  },
  idle: (result) => [{ name: 'idle', chart: { title: `idle: server memory per connection (${result.connections} connections)`, unit: 'bytes/connection', groups: [{ label: `${result.connections} connections`, bars: Object.entries(result.systems).map(([name, item]) => ({ series: name, value: item.bytesPerConnection ?? null })) }] } }],
  streams: (result) => [{ name: 'streams', chart: { title: 'streams: what Parley adds to the model', unit: 'ms', groups: Object.entries(result.runs).map(([count, run]) => ({ label: `${count} answers`, bars: [{ series: 'TTFT overhead p50', value: run.ttftOverheadMs.p50 }, { series: 'TTFT overhead p99', value: run.ttftOverheadMs.p99 }, { series: 'delta lag p99', value: run.deltaLagMs.p99 }] })) } }],
  storm: (result) => [{ name: 'storm', chart: { title: `storm: ${result.clients} clients reconnect at once`, unit: 'ms from the drop', groups: [{ label: 'time to resumed', bars: [{ series: 'p50', value: result.resumeMs.p50 }, { series: 'p99', value: result.resumeMs.p99 }, { series: 'all', value: result.resumeMs.all }] }] } }],
  cluster: (result) => [{ name: 'cluster', chart: { title: `cluster: delivery latency at ${result.messagesPerSecond} messages/s`, unit: 'ms', groups: ['p50', 'p99', 'p999'].map((key) => ({ label: key.replace('p999', 'p99.9'), bars: [{ series: 'same node', value: result.sameNode.latencyMs[key] }, { series: 'cross-node', value: result.crossNode.latencyMs[key] }] })) } }],
  api: (result) => {
    const transports = [['REST', result.transports.rest], ['WebSocket', result.transports.ws]];
    return [
      { name: 'api-throughput', chart: { title: `api: message posts per second (${result.inFlight} in flight)`, unit: 'posts/s', groups: [{ label: `${result.conversations} conversations`, bars: transports.map(([name, item]) => ({ series: name, value: item.requestsPerSecond })) }] } },
      { name: 'api-latency', chart: { title: 'api: post latency (request to acknowledgement)', unit: 'ms', groups: ['p50', 'p99', 'p999'].map((key) => ({ label: key.replace('p999', 'p99.9'), bars: transports.map(([name, item]) => ({ series: name, value: item.latencyMs[key] })) })) } },
    ];
  },
  rooms: (result) => {
    if (!result.available) return [];
    const label = (step) => `${step.rate} msg/s`;
    return [
      { name: 'rooms-throughput', chart: { title: `rooms: deliveries per second, one room of ${result.members} members`, unit: 'deliveries/s', groups: result.steps.map((step) => ({ label: label(step), bars: [{ series: 'offered', value: step.offeredDeliveriesPerSecond }, { series: 'delivered', value: step.deliveriesPerSecond }] })) } },
      { name: 'rooms-latency', chart: { title: `rooms: delivery latency, one room of ${result.members} members`, unit: 'ms', groups: result.steps.map((step) => ({ label: label(step), bars: [{ series: 'p50', value: step.latencyMs.p50 }, { series: 'p99', value: step.latencyMs.p99 }] })) } },
    ];
  },
  desk: (result) => {
    const topologies = [['1 node', result.oneNode], ['2 nodes', result.twoNodes]];
    const latency = (key, title) => ({ title, unit: 'ms', groups: ['p50', 'p99', 'max'].map((percentile) => ({ label: percentile, bars: topologies.map(([name, item]) => ({ series: name, value: item[key][percentile] })) })) });
    return [
      { name: 'desk-assignment', chart: latency('handoffToAssignmentMs', `desk: handoff to assignment, ${result.customers} customers at ${result.handoffsPerSecond}/s, ${result.agents} agents`) },
      { name: 'desk-first-response', chart: latency('firstResponseMs', `desk: handoff to the agent's first message (think ${result.thinkMs} ms)`) },
    ];
  },
  transports: (result) => [
    { name: 'transports-fanout', chart: { title: 'transports: fan-out deliveries per second (SDK clients)', unit: 'deliveries/s', groups: [{ label: `${result.fanout.websocket?.subscribers ?? ''} subscribers`, bars: Object.values(result.fanout).map((row) => ({ series: row.transport, value: row.deliveriesPerSecond })) }] } },
    { name: 'transports-idle', chart: { title: 'transports: server memory per idle session', unit: 'bytes/session', groups: [{ label: 'RSS', bars: Object.values(result.idle).map((row) => ({ series: row.transport === 'ws' ? 'raw ws' : row.transport, value: row.rssBytesPerSession })) }] } },
  ],
  aisdk: (result) => [
    { name: 'aisdk', chart: { title: 'aisdk: TTFT overhead and Stop', unit: 'ms', groups: [{ label: 'TTFT overhead p50', bars: [{ series: 'Parley SDK', value: result.ttftOverheadMs.parleySdk.p50 }, { series: 'ai-sdk endpoint', value: result.ttftOverheadMs.aiSdkEndpoint.p50 }] }, { label: 'TTFT overhead p99', bars: [{ series: 'Parley SDK', value: result.ttftOverheadMs.parleySdk.p99 }, { series: 'ai-sdk endpoint', value: result.ttftOverheadMs.aiSdkEndpoint.p99 }] }, { label: 'stop → ai.stopped p99', bars: [{ series: 'ai-sdk endpoint', value: result.stop.stopToStoppedMs.p99 }] }] } },
  ],
};

/** The Markdown report of a run. */
export function markdown(run) {
  const { machine } = run;
  const lines = [
    `## Results (${machine.date.slice(0, 10)}, commit ${machine.commit ?? 'unknown'})`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}${machine.loadAverage === undefined ? '' : `, load average ${machine.loadAverage} at the start`}; servers and load clients share it, over loopback.${run.tiny ? ' **Tiny configuration: correctness only, numbers mean nothing.**' : ''}`,
    '',
  ];
  for (const [name, result] of Object.entries(run.scenarios)) lines.push(SECTIONS[name](result), '', `_${name} took ${run.seconds[name]} s._`, '');
  return lines.join('\n');
}

/** Writes latest.json, latest.md and the charts to `directory`. */
export async function writeResults(directory, run) {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'latest.json'), `${JSON.stringify(run, null, 2)}\n`);
  await writeFile(join(directory, 'latest.md'), markdown(run));
  for (const [name, result] of Object.entries(run.scenarios)) {
    for (const { name: file, chart } of CHARTS[name](result)) await writeFile(join(directory, `${file}.svg`), barChart(chart));
  }
}
