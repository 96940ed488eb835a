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

const BENCH = new URL('../../bench/run.mjs', import.meta.url).href;

// Every scenario of `npm run bench` in its tiny configuration, checked for correctness only: counts,
// never timing (CI machines are too noisy for that). Needs PostgreSQL and Redis, like the cluster suites.
describe('npm run bench (tiny)', () => {
  it('delivers every message exactly once in every scenario, for Parley and the peers', async () => {
    const { runBench } = (await import(BENCH)) as { runBench(options: { tiny: boolean }): Promise<TinyRun> };
    const { scenarios } = await runBench({ tiny: true });

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
});
