import { WebhookVerifier } from '@parley/client/webhooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall as call, databaseUrlOf } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const text = (value: string) => ({ type: 'text', text: value });


/** The seqs of `conversation` the receiver accepted (answered 2xx), in the order they arrived. */
function accepted(receiver: WebhookReceiver, conversation: string): number[] {
  return receiver.received.filter((each) => each.answered !== null && each.answered < 300 && each.payload.data.conversation === conversation).map((each) => each.payload.data.seq);
}

const COMMITTER = `parley-webhook-committer-${process.pid}`;

/**
 * Webhooks end to end: endpoints managed over the server API, every durable event of the tenant delivered
 * once, signed, in order per conversation, through failing first attempts, and across a SIGKILL of the node
 * that committed the events before its reaction recorded them.
 */
describe('webhooks over the server API (two nodes, PostgreSQL + Redis)', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-webhooks-${process.pid}-${Date.now()}`;
  let committer: TestServer;
  let survivor: TestServer;
  let receiver: WebhookReceiver;
  let admin: pg.Client;
  let key: string;

  beforeAll(async () => {
    schema = await createTestSchema();
    receiver = await WebhookReceiver.start();
    const env = {
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_OUTBOUND_ALLOW: '127.0.0.1',
      PARLEY_WEBHOOK_RETRY_BASE_MS: '50',
      PARLEY_REACTION_SWEEP_MS: '200',
      PARLEY_USER_SEND_RATE_PER_SECOND: '1000',
      PARLEY_USER_SEND_BURST: '1000',
    };
    committer = await startServer({ ...env, DATABASE_URL: databaseUrlOf(COMMITTER) });
    survivor = await startServer({ ...env, DATABASE_URL: databaseUrlOf(`parley-webhook-survivor-${process.pid}`) });
    admin = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema.schema}` });
    await admin.connect();
    const created = await call(survivor, await token('admin', { roles: ['admin'] }), 'POST', '/keys', { name: 'backend', scopes: ['conversations:write', 'messages:write', 'webhooks:write'] });
    key = created.body.key;
  });
  afterAll(async () => {
    for (const node of [committer, survivor]) if (node.process.exitCode === null && node.process.signalCode === null) await node.stop();
    await admin.end();
    await receiver.close();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  it('delivers every event once, signed, in order per conversation, through failing first attempts', async () => {
    const endpoint = await call(survivor, key, 'POST', '/webhooks', { url: receiver.url('/all'), types: ['*'], description: 'everything' });
    expect(endpoint.status).toBe(201);
    expect(endpoint.body.secret).toMatch(/^whsec_/);
    const verifier = new WebhookVerifier(endpoint.body.secret as string);
    // Each event's first two attempts fail: the third is accepted.
    const attempts = new Map<string, number>();
    receiver.decide = (request) => {
      const count = (attempts.get(request.id) ?? 0) + 1;
      attempts.set(request.id, count);
      return count <= 2 ? 500 : 200;
    };
    const ids = ['orders-1', 'orders-2'];
    for (const id of ids) await call(committer, key, 'POST', '/conversations', { id, members: ['alice'] });
    for (let index = 0; index < 5; index++) {
      for (const id of ids) await call(index % 2 ? committer : survivor, key, 'POST', `/conversations/${id}/messages`, { content: text(`update ${index}`), sender: { kind: 'bot', id: 'shop' } });
    }
    for (const id of ids) await eventually(() => expect(accepted(receiver, id)).toEqual([1, 2, 3, 4, 5, 6]), 30_000);
    for (const each of receiver.received.filter((request) => request.answered === 200)) {
      const verified = verifier.verify(each.body, each.headers as Record<string, string>);
      expect(verified.event.id).toBe(each.id);
    }
    await eventually(async () => {
      const log = await call(survivor, key, 'GET', `/webhooks/${endpoint.body.endpoint.id}/deliveries?limit=100`);
      expect(log.body.deliveries).toHaveLength(12);
      expect(log.body.deliveries.every((delivery: { status: string; attempts: number }) => delivery.status === 'delivered' && delivery.attempts === 3)).toBe(true);
    });
    await call(survivor, key, 'PATCH', `/webhooks/${endpoint.body.endpoint.id}`, { enabled: false });
  });

  it('delivers events committed by a node killed before its reaction recorded them', async () => {
    receiver.decide = () => 200;
    const endpoint = await call(survivor, key, 'POST', '/webhooks', { url: receiver.url('/after-kill'), types: ['message.created'] });
    await call(survivor, key, 'POST', '/conversations', { id: 'killed', members: ['alice'] });
    // The conversation's creation has been handled by the webhook reaction: its cursor exists and is at rest.
    await eventually(async () => {
      const { rows } = await admin.query("SELECT seq FROM parley_reaction_cursors WHERE reaction = 'webhooks' AND conversation = 'killed'");
      expect(rows).toEqual([{ seq: '1' }]);
    });
    // No node can claim a cursor while this transaction lives: the committing node's reactions wait on it.
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE parley_reaction_cursors IN ACCESS EXCLUSIVE MODE');
    const posted = await call(committer, key, 'POST', '/conversations/killed/messages', { content: text('committed, then killed'), sender: { kind: 'system' } });
    expect(posted.body.seq).toBe(2);
    await eventually(async () => {
      const { rows } = await admin.query("SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [COMMITTER]);
      expect(rows[0].waiting).toBeGreaterThan(0);
    });
    await committer.kill();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [COMMITTER]);
    await admin.query('COMMIT');
    await eventually(() => expect(accepted(receiver, 'killed')).toEqual([2]), 30_000);
    const requests = receiver.received.filter((each) => each.payload.data.conversation === 'killed');
    expect(requests.map((each) => each.payload.type)).toEqual(['message.created']);
    // The receiver's answer is recorded just after it is sent.
    await eventually(async () => {
      const log = await call(survivor, key, 'GET', `/webhooks/${endpoint.body.endpoint.id}/deliveries`);
      expect(log.body.deliveries.map((delivery: { seq: number; status: string }) => [delivery.seq, delivery.status])).toEqual([[2, 'delivered']]);
    });
  });
});
