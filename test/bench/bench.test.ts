import { describe, expect, it } from 'vitest';

/** The parts of bench/run.mjs's result this test reads (the bench is plain JavaScript). */
interface Counts {
  lost: number;
  duplicates?: number;
  duplicated?: number;
  deliveries?: number;
  expectedDeliveries?: number;
}
interface TinyRun {
  scenarios: {
    fanout: { systems: Record<string, Counts & { available: boolean; messages: number; disconnects: number }>; subscribers: number };
    idle: { connections: number; systems: Record<string, { available: boolean; connected: number; failed: number }> };
    streams: { runs: Record<string, { generations: number; completed: number; wrongLength: number; sendErrors: number }> };
    storm: Counts & { clients: number; resumed: number; notResumed: number };
    cluster: { messages: number; subscribersPerNode: number; crossNode: Counts; sameNode: Counts };
  };
}
interface Stored {
  acknowledged: number;
  events: number;
  lost: number;
  duplicated: number;
  unacknowledged: number;
}
interface Transport {
  posts: number;
  errors: number;
  duplicateAcks: number;
  stored: Stored;
}
interface Step {
  messages: number;
  sendErrors: number;
  deliveries: number;
  expectedDeliveries: number;
  lost: number;
  missing: number;
  duplicates: number;
  disconnects: number;
}
interface TinyApiRun {
  settings: { api: { maxPosts: number }; rooms: { members: number; maxMessages: number } };
  scenarios: {
    api: { transports: { rest: Transport; ws: Transport }; seqGaps: number };
    rooms: {
      available: boolean;
      members: number;
      room: { memberCount: number; largeRoom: boolean };
      connect: { connected: number; failed: number };
      subscribe: { subscribed: number; failed: number };
      steps: Step[];
      behindAtEnd: number;
    };
  };
}

interface DeskTopology {
  customers: number;
  assigned: number;
  assignedTwice: number;
  notByRouting: number;
  responded: number;
  resolved: number;
  lost: number;
  duplicates: number;
  customerErrors: number;
  agents: { served: number; errors: number; maxOpen: number; stillOpen: number };
  stored: { conversations: number; assignedOnce: number; assignedMoreThanOnce: number; requeued: number; maxOpenPerAgent: number; agentsOverCapacity: number; behindAtEnd: number };
}
interface TinyDeskRun {
  settings: { desk: { customers: number; capacity: number } };
  scenarios: { desk: { oneNode: DeskTopology; twoNodes: DeskTopology } };
}

interface TransportsRun {
  timeToConnected: Array<{ case: string; transport: string; trials: number; connected: number; onExpected: number }>;
  fanout: Record<string, { subscribers: number; connected: number; messages: number; deliveries: number; lost: number; duplicated: number }>;
  idle: Record<string, { connected: number; failed: number }>;
}
interface AiSdkRun {
  answers: number;
  ttftOverheadMs: { parleySdk: { samples: number }; aiSdkEndpoint: { samples: number } };
  stop: { answers: number; stopped: number; withDeltaAfterStop: number; boundMs: number; withinBound: boolean };
}
interface TinyTransportsRun {
  settings: { transports: { idle: { sessions: number } } };
  scenarios: { transports: TransportsRun; aisdk: AiSdkRun };
}

const BENCH = new URL('../../bench/run.mjs', import.meta.url).href;

// Every scenario of `npm run bench` in its tiny configuration, checked for correctness only: counts,
// never timing (CI machines are too noisy for that). Needs PostgreSQL and Redis, like the cluster suites.
describe('npm run bench (tiny)', () => {
  it('delivers every message exactly once in every scenario, for Parley and the peers', async () => {
    const { runBench } = (await import(BENCH)) as { runBench(options: { tiny: boolean; only: string[] }): Promise<TinyRun> };
    const { scenarios } = await runBench({ tiny: true, only: ['fanout', 'idle', 'streams', 'storm', 'cluster'] });

    for (const [name, system] of Object.entries(scenarios.fanout.systems)) {
      if (!system.available) continue; // a codec the server does not offer (yet)
      expect({ name, ...system }).toMatchObject({ name, messages: 20, deliveries: 20 * scenarios.fanout.subscribers, lost: 0, duplicates: 0, disconnects: 0 });
    }
    expect(scenarios.fanout.systems['parley-json']?.available).toBe(true);

    for (const system of Object.values(scenarios.idle.systems)) expect(system).toMatchObject({ available: true, connected: scenarios.idle.connections, failed: 0 });

    for (const run of Object.values(scenarios.streams.runs)) expect(run).toMatchObject({ completed: run.generations, wrongLength: 0, sendErrors: 0 });

    expect(scenarios.storm).toMatchObject({ resumed: scenarios.storm.clients, notResumed: 0, lost: 0, duplicated: 0, behindAtEnd: 0 });

    const { cluster } = scenarios;
    expect(cluster.messages).toBeGreaterThan(0);
    for (const side of [cluster.crossNode, cluster.sameNode]) {
      expect(side).toMatchObject({ deliveries: cluster.messages * cluster.subscribersPerNode, lost: 0, duplicates: 0 });
    }
  }, 120_000);

  it('stores every REST and WebSocket post once, and delivers every message to every member of a large room once', async () => {
    const { runBench } = (await import(BENCH)) as { runBench(options: { tiny: boolean; only: string[] }): Promise<TinyApiRun> };
    const { settings, scenarios } = await runBench({ tiny: true, only: ['api', 'rooms'] });

    const { api, rooms } = scenarios;
    for (const transport of [api.transports.rest, api.transports.ws]) {
      const posts = settings.api.maxPosts;
      expect(transport).toMatchObject({ posts, errors: 0, duplicateAcks: 0 });
      expect(transport.stored).toEqual({ acknowledged: posts, events: posts, lost: 0, duplicated: 0, unacknowledged: 0 });
    }
    expect(api.seqGaps).toBe(0);

    const members = settings.rooms.members;
    expect(rooms).toMatchObject({ available: true, members, room: { memberCount: members, largeRoom: true }, connect: { connected: members, failed: 0 }, subscribe: { subscribed: members, failed: 0 }, behindAtEnd: 0 });
    expect(rooms.steps.length).toBeGreaterThan(0);
    for (const step of rooms.steps) {
      expect(step).toMatchObject({ messages: settings.rooms.maxMessages, sendErrors: 0, deliveries: settings.rooms.maxMessages * members, lost: 0, missing: 0, duplicates: 0, disconnects: 0 });
    }
  }, 60_000);

  it('assigns every handed-off conversation once, within capacity, on one node and on two', async () => {
    const { runBench } = (await import(BENCH)) as { runBench(options: { tiny: boolean; only: string[] }): Promise<TinyDeskRun> };
    const { settings, scenarios } = await runBench({ tiny: true, only: ['desk'] });

    const { customers, capacity } = settings.desk;
    for (const topology of [scenarios.desk.oneNode, scenarios.desk.twoNodes]) {
      expect(topology).toMatchObject({ customers, assigned: customers, assignedTwice: 0, notByRouting: 0, responded: customers, resolved: customers, lost: 0, duplicates: 0, customerErrors: 0 });
      expect(topology.agents).toMatchObject({ served: customers, errors: 0, stillOpen: 0 });
      expect(topology.agents.maxOpen).toBeLessThanOrEqual(capacity);
      expect(topology.stored).toMatchObject({ conversations: customers, assignedOnce: customers, assignedMoreThanOnce: 0, requeued: 0, agentsOverCapacity: 0, behindAtEnd: 0 });
      expect(topology.stored.maxOpenPerAgent).toBeLessThanOrEqual(capacity);
    }
  }, 90_000);

  it('connects every client over every transport and its fallbacks, loses and doubles nothing, and ends every AI SDK stop in ai.stopped', async () => {
    const { runBench } = (await import(BENCH)) as { runBench(options: { tiny: boolean; only: string[] }): Promise<TinyTransportsRun> };
    const { settings, scenarios } = await runBench({ tiny: true, only: ['transports', 'aisdk'] });

    const { transports, aisdk } = scenarios;
    expect(transports.timeToConnected.map((row) => row.transport)).toEqual(['websocket', 'sse', 'sse', 'long-poll']);
    for (const row of transports.timeToConnected) expect(row).toMatchObject({ connected: row.trials, onExpected: row.trials });
    expect(Object.keys(transports.fanout)).toEqual(['websocket', 'sse', 'long-poll']);
    for (const [transport, row] of Object.entries(transports.fanout)) {
      expect({ transport, ...row }).toMatchObject({ transport, connected: row.subscribers, deliveries: row.subscribers * row.messages, lost: 0, duplicated: 0 });
    }
    expect(Object.keys(transports.idle)).toEqual(['websocket', 'sse', 'long-poll', 'ws']);
    for (const [transport, row] of Object.entries(transports.idle)) expect({ transport, ...row }).toMatchObject({ transport, connected: settings.transports.idle.sessions, failed: 0 });

    // Stop's latency bound is reported by the bench (stop.withinBound), never asserted here.
    expect(aisdk.ttftOverheadMs.parleySdk.samples).toBe(aisdk.answers);
    expect(aisdk.ttftOverheadMs.aiSdkEndpoint.samples).toBe(aisdk.answers);
    expect(aisdk.stop).toMatchObject({ answers: aisdk.answers, stopped: aisdk.answers, withDeltaAfterStop: 0 });
  }, 60_000);
});
