// idle: many idle connections on one node (authenticated, for Parley); the server's resident memory
// per connection is (RSS with them - RSS before) / count, read from /proc after a pause to let GC settle.
import { LoadGroup, sleep, split } from '../lib/load.mjs';
import { ParleyConnection, pooled } from '../lib/parley-connection.mjs';
import { openFileLimit, rssBytes } from '../lib/proc.mjs';
import { openSocketIo, openWebSocket } from '../lib/relay.mjs';
import { createBackends, startParley, startPeer } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';


/** Commands run in the load processes. */
export const client = {
  async connect(state, { system, url, localAddress, start, count }) {
    let failed = 0;
    let firstError = null;
    const opened = await pooled(count, 200, async (offset) => {
      try {
        return await openIdle(system, url, localAddress, `idle-${start + offset}`);
      } catch (error) {
        failed++;
        firstError ??= String(error);
        return null;
      }
    });
    state.connections = opened.filter(Boolean);
    return { connected: state.connections.length, failed, firstError };
  },
  close(state) {
    for (const connection of state.connections) connection.close();
    return {};
  },
};

async function openIdle(system, url, localAddress, user) {
  if (system === 'parley') return ParleyConnection.connect(url, await token(user), { localAddress });
  if (system === 'ws') return openWebSocket(url, localAddress);
  // The peers check no token; Socket.IO still carries one in its handshake, as an app would.
  return openSocketIo(url, localAddress, { token: await token(user) });
}

/** Runs the scenario for Parley and the peers with `connections` spread over `processes` load processes. */
export async function run({ connections, processes, settleMs = 3000 }) {
  const results = {};
  for (const system of ['parley', 'ws', 'socketio']) results[system === 'socketio' ? 'socket.io' : system] = await runOne(system, connections, processes, settleMs);
  return { store: 'postgresql', connections, systems: results };
}

/** `settleMs`: the pause before each RSS reading, for garbage collection to settle. */
async function runOne(system, connections, processes, settleMs) {
  const backends = system === 'parley' ? await createBackends() : null;
  const server = system === 'parley' ? await startParley(backends.env) : await startPeer(system);
  const group = new LoadGroup('idle', processes);
  try {
    const limit = openFileLimit(server.pid);
    if (connections + 100 > limit) return { available: false, reason: `the server process may open ${limit} files; ${connections} connections need more` };
    await sleep(settleMs);
    const before = rssBytes(server.pid);
    const startedAt = performance.now();
    const ranges = split(connections, processes);
    const opened = await group.all('connect', (index) => ({ system, url: server.wsUrl, ...ranges[index] }));
    const connectSeconds = (performance.now() - startedAt) / 1000;
    await sleep(settleMs);
    const after = rssBytes(server.pid);
    const connected = opened.reduce((sum, item) => sum + item.connected, 0);
    await group.all('close');
    return {
      available: true,
      connected,
      failed: opened.reduce((sum, item) => sum + item.failed, 0),
      firstError: opened.find((item) => item.firstError)?.firstError ?? null,
      connectsPerSecond: Math.round(connected / connectSeconds),
      rssBeforeMiB: Number((before / 2 ** 20).toFixed(1)),
      rssAfterMiB: Number((after / 2 ** 20).toFixed(1)),
      bytesPerConnection: connected === 0 ? null : Math.round((after - before) / connected),
    };
  } finally {
    await group.stop();
    await server.stop();
    await backends?.release();
  }
}
