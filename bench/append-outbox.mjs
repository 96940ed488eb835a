// Append throughput with the reactions' outbox against without, in the same run. The outbox is the stamp
// every append puts on its conversation (`last_event_at`, in the UPDATE that takes the seq, moved when a
// second old) and the index on it (docs/architecture.md, Reactions). Both sides run the store's own
// append statement, captured from PostgresStore: "with" as it is, on the full schema; "without" with the
// stamp taken out, on the schema before the outbox (migrations 1-3). Phases alternate (without, with,
// with, without, ...) so that drift on a shared machine falls on both; the ratio is the median of each
// round's. Then, for the whole cost: PostgresStore.append alone against PostgresStore.append while a
// reaction runner hands every event to two reactions that do nothing. With many conversations each append
// moves its conversation's stamp (no update in place); with few busy ones most appends leave it and
// PostgreSQL updates the row in place (HOT): the share is reported.
// Usage: node bench/append-outbox.mjs [--seconds 5] [--rounds 3] [--writers 16] [--conversations 1000]
//        (after `npm install`, which builds; PostgreSQL at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { MemoryBus } from '../packages/server/dist/adapters/memory/bus.js';
import { ReactionRunner } from '../packages/server/dist/reactions/runner.js';
import { MIGRATIONS } from '../packages/server/dist/store/postgres/migrations.js';
import { openPostgresStore } from '../packages/server/dist/store/postgres/open.js';
import { PostgresReactionCursors } from '../packages/server/dist/store/postgres/reaction-cursors.js';
import { STAMP_ACTIVITY } from '../packages/server/dist/store/postgres/store.js';

const { values: flags } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, writers: { type: 'string' }, conversations: { type: 'string' } } });
const SECONDS = Number(flags.seconds ?? 5);
const ROUNDS = Number(flags.rounds ?? 3);
const WRITERS = Number(flags.writers ?? 16);
const CONVERSATIONS = Number(flags.conversations ?? 1000);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const OUTBOX_VERSION = 4;
const STAMP = `, ${STAMP_ACTIVITY}`;
const TENANT = 'bench';

const admin = new pg.Client({ connectionString: DATABASE_URL });
await admin.connect();
const schemas = [];
try {
  const without = await createSchema((migration) => migration.version < OUTBOX_VERSION);
  const withOutbox = await createSchema(() => true);
  const statement = await captureAppendStatement(withOutbox);
  if (!statement.includes(STAMP)) throw new Error('the append statement no longer has the stamp this bench takes out: update the bench');
  const statements = { without: statement.replace(STAMP, ''), with: statement };
  const raw = { without: [], with: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['without', 'with'] : ['with', 'without']) {
      raw[mode].push(await rawAppends(mode === 'with' ? withOutbox : without, statements[mode]));
    }
  }
  const store = { alone: [], reacting: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['alone', 'reacting'] : ['reacting', 'alone']) store[mode].push(await storeAppends(withOutbox, mode === 'reacting'));
  }
  const result = {
    scenario: 'append-outbox',
    settings: { seconds: SECONDS, rounds: ROUNDS, writers: WRITERS, conversations: CONVERSATIONS },
    statementAppendsPerSecond: { without: median(raw.without), with: median(raw.with), runs: raw },
    // Each round's two phases ran back to back: the median of their ratios is steadier than a ratio of medians.
    outboxRatio: pairedRatio(raw.with, raw.without),
    conversationUpdatesInPlace: { without: await hotShare(without), with: await hotShare(withOutbox) },
    storeAppendsPerSecond: { alone: median(store.alone), withTwoReactions: median(store.reacting), runs: store },
    reactionsRatio: pairedRatio(store.reacting, store.alone),
  };
  console.log(JSON.stringify(result));
} finally {
  for (const schema of schemas) await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}

/** The share of the conversations table's updates that PostgreSQL made in place (HOT: no index entry added). */
async function hotShare(schema) {
  const { rows } = await admin.query("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'parley_conversations'", [schema]);
  return rows[0] && Number(rows[0].n_tup_upd) > 0 ? round3(Number(rows[0].n_tup_hot_upd) / Number(rows[0].n_tup_upd)) : null;
}

/** A schema with the migrations `include` selects, and the bench's conversations in it. */
async function createSchema(include) {
  const schema = `parley_bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  schemas.push(schema);
  await admin.query(`CREATE SCHEMA ${schema}`);
  const client = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
  await client.connect();
  for (const migration of MIGRATIONS.filter(include)) await client.query(migration.sql);
  await client.query(
    `INSERT INTO parley_conversations (tenant, id, created_by, created_at) SELECT $1, 'c' || n, 'bench', $2 FROM generate_series(1, $3) AS n`,
    [TENANT, Date.now(), CONVERSATIONS],
  );
  await client.end();
  return schema;
}

/** The SQL text PostgresStore sends for one append. */
async function captureAppendStatement(schema) {
  const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 1 });
  const database = store.database;
  const query = database.query;
  let captured = null;
  database.query = (text, params) => {
    if (text.includes('INSERT INTO parley_events')) captured ??= text;
    return query(text, params);
  };
  await store.append(message('c1', 0));
  await store.close();
  if (!captured) throw new Error('no append statement seen');
  return captured;
}

/** Appends per second of WRITERS loops, each sending `statement` (one event, autocommit) to its conversations in turn. */
async function rawAppends(schema, statement) {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, options: `-c search_path=${schema}`, max: WRITERS });
  const deadline = performance.now() + SECONDS * 1000;
  let appended = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let turn = 0; performance.now() < deadline; turn++) {
        const conversation = `c${1 + ((writer + turn * WRITERS) % CONVERSATIONS)}`;
        await pool.query(statement, parametersOf(conversation, turn));
        appended++;
      }
    }),
  );
  await pool.end();
  return Math.round(appended / SECONDS);
}

/** Appends per second through PostgresStore.append (group commits), with or without a runner handing every event to two reactions. */
async function storeAppends(schema, reacting) {
  const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: WRITERS });
  let runner = null;
  if (reacting) {
    const settings = { leaseMs: 30_000, pageSize: 100, concurrency: 32, retryBaseMs: 500, retryMaxMs: 60_000, sweepIntervalMs: 2000, lookbackMs: 60_000, sweepLimit: 1000 };
    runner = new ReactionRunner(new PostgresReactionCursors(store.database), new MemoryBus(10), settings);
    for (const name of ['bench-first', 'bench-second']) runner.add({ name, handle: async () => undefined }, { runsHere: true });
    await runner.start();
  }
  const deadline = performance.now() + SECONDS * 1000;
  let appended = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let turn = 0; performance.now() < deadline; turn++) {
        const { event } = await store.append(message(`c${1 + ((writer + turn * WRITERS) % CONVERSATIONS)}`, turn));
        runner?.committed(event);
        appended++;
      }
    }),
  );
  await runner?.stop(5000);
  await store.close();
  return Math.round(appended / SECONDS);
}

function message(conversationId, turn) {
  return { key: { tenant: TENANT, conversationId }, type: 'message.created', actor: { kind: 'user', id: 'bench' }, data: { content: { type: 'text', text: `message ${turn} of about a hundred bytes, as a chat message would be, more or less` } } };
}

/** The parameters PostgresStore passes for one event. */
function parametersOf(conversationId, turn) {
  const { actor, type, data } = message(conversationId, turn);
  return [TENANT, conversationId, 1, Date.now(), [randomUUID()], [type], [actor.kind], [actor.id], [JSON.stringify(data)], [null], [null]];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function pairedRatio(values, baselines) {
  return round3(median(values.map((value, round) => value / baselines[round])));
}

function round3(value) {
  return Math.round(value * 1000) / 1000;
}
