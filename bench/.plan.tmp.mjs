import { randomUUID } from 'node:crypto';
import pg from 'pg';
const DIST = '/work/wt-webhooks/packages/server/dist/';
const { openPostgresStore } = await import(DIST + 'store/postgres/open.js');
const url = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `parley_cb_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const admin = new pg.Client({ connectionString: url }); await admin.connect(); await admin.query(`CREATE SCHEMA ${schema}`);
const store = await openPostgresStore({ kind: 'postgres', url, schema, poolSize: 4 });
await store.migrate();
await store.webhooks.createEndpoint({ id: 'we_x', tenant: 'b', url: 'http://x', types: ['*'], description: '', secret: 'whsec_eA==', createdAt: 0 }, 10);
const C = Number(process.argv[2] ?? 200), N = Number(process.argv[3] ?? 20);
for (let c = 0; c < C; c++) {
  const key = { tenant: 'b', conversationId: 'c' + c };
  await store.createConversation({ key, createdBy: 'a', members: [], metadata: {}, assistant: null });
  const evs = [];
  for (let i = 0; i < N; i++) evs.push({ id: randomUUID(), type: 'message.created', seq: i + 2 });
  await admin.query(`INSERT INTO ${schema}.parley_events (tenant, conversation, seq, id, type, ts, actor_kind, actor_id, data) SELECT 'b', $1, s, gen_random_uuid()::text, 'message.created', 0, 'user', 'a', '{}' FROM generate_series(2, $2::int + 1) s`, [key.conversationId, N]);
  await admin.query(`UPDATE ${schema}.parley_conversations SET last_seq = $2 WHERE id = $1`, [key.conversationId, N + 1]);
  const { rows } = await admin.query(`SELECT id, type, seq::int FROM ${schema}.parley_events WHERE conversation = $1 AND seq > 1`, [key.conversationId]);
  await store.webhooks.enqueue('b', key.conversationId, rows.map((e) => ({ id: 'wd_' + randomUUID(), endpointId: 'we_x', event: e })), 1);
}
await admin.query(`SET search_path=${schema}`);
await admin.query('ANALYZE');
let t = performance.now();
for (let i = 0; i < 20; i++) await store.webhooks.claim({ owner: 'o', now: 2, leaseUntil: 3, limit: 32, perEndpoint: 32, busy: new Map() });
console.log(C, 'lanes x', N, 'claim ms', (performance.now() - t) / 20);
await store.close(); await admin.query(`DROP SCHEMA ${schema} CASCADE`); await admin.end();
