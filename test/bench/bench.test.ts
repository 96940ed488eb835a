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
});
