// What one idle connection holds on the server's V8 heap, for Parley and for a bare `ws` server: a heap
// snapshot before and after N connections (authenticated with `connect` for Parley), compared by kind of
// object. Steadier than RSS, and it names what a connection costs.
//   node bench/heap-per-connection.mjs [--connections 2000] [--system parley|ws] [--top 25]
// Snapshots go to a temporary directory, removed at the end. Needs PostgreSQL, as `npm run bench` does.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from './lib/load.mjs';
import { ParleyConnection, pooled } from './lib/parley-connection.mjs';
import { openWebSocket } from './lib/relay.mjs';
import { createBackends, startParley, startPeer } from './lib/servers.mjs';
import { token } from './lib/tokens.mjs';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '2000' }, system: { type: 'string', default: 'parley' }, top: { type: 'string', default: '25' } } });
const count = Number(values.connections);
if (!['parley', 'ws'].includes(values.system)) throw new Error('--system is parley or ws');

const directory = await mkdtemp(join(tmpdir(), 'parley-heap-'));
// Read by startProcess for every server it starts.
process.env.BENCH_SERVER_NODE_FLAGS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${directory}`;
const backends = values.system === 'parley' ? await createBackends() : null;
const server = values.system === 'parley' ? await startParley(backends.env) : await startPeer('ws');
try {
  await sleep(1000);
  const before = await snapshot(server.pid);
  const connections = await pooled(count, 100, async (index) =>
    values.system === 'parley' ? ParleyConnection.connect(server.wsUrl, await token(`idle-${index}`), { localAddress: '127.0.0.2' }) : openWebSocket(server.wsUrl, '127.0.0.2'),
  );
  await sleep(2000);
  const after = await snapshot(server.pid);
  for (const connection of connections) connection.close();
  report(await kinds(before), await kinds(after));
} finally {
  await server.stop();
  await backends?.release();
  await rm(directory, { recursive: true, force: true });
}

/** Asks the server for a heap snapshot and resolves with it once it is written. */
async function snapshot(pid) {
  const known = new Set(await readdir(directory));
  process.kill(pid, 'SIGUSR2');
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    await sleep(500);
    const file = (await readdir(directory)).find((name) => !known.has(name) && name.endsWith('.heapsnapshot'));
    // Written when it parses: the server writes it in one go, but the reader may come early.
    if (file) {
      try {
        return JSON.parse(await readFile(join(directory, file), 'utf8'));
      } catch {
        // not complete yet
      }
    }
  }
  throw new Error(`no heap snapshot from process ${pid} within 2 minutes`);
}

/** Count and bytes per kind of heap object: `object:<constructor>`, `closure:<name>`, or `(<type>)`. */
async function kinds(heap) {
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field));
  const totals = new Map();
  for (let index = 0; index < heap.nodes.length; index += fields.length) {
    const kind = types[heap.nodes[index + type]];
    const label = kind === 'object' || kind === 'closure' ? `${kind}:${heap.strings[heap.nodes[index + name]]}` : `(${kind})`;
    const total = totals.get(label) ?? { count: 0, bytes: 0 };
    total.count++;
    total.bytes += heap.nodes[index + size];
    totals.set(label, total);
  }
  return totals;
}

function report(before, after) {
  const rows = [...after].map(([label, total]) => ({ label, count: (total.count - (before.get(label)?.count ?? 0)) / count, bytes: (total.bytes - (before.get(label)?.bytes ?? 0)) / count }));
  const bytes = rows.reduce((sum, row) => sum + row.bytes, 0);
  console.log(`${values.system}: ${count} idle connections, ${Math.round(bytes)} bytes of heap per connection ("(code)" is compiled code, which grows with warm-up and not with connections)\n`);
  console.log('| bytes per connection | objects per connection | kind |\n| --- | --- | --- |');
  for (const row of rows.sort((a, b) => b.bytes - a.bytes).slice(0, Number(values.top))) console.log(`| ${row.bytes.toFixed(1)} | ${row.count.toFixed(2)} | ${row.label} |`);
}
