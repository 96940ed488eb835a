import { Generations, ParleyClient, type ConversationEvent, type GenerationState } from '@parley/client';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlOf } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/** The node's PostgreSQL sessions carry its name, so that the test can find the ones a killed node left. */
const COMMITTER = `parley-committer-${process.pid}`;

/**
 * At least once across a SIGKILL: a node commits a user message to an assistant conversation and is killed
 * before its answer reaction handled it. Another node's sweep finds the message and answers it, once.
 */
describe('reactions across a SIGKILL', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-reactions-${process.pid}-${Date.now()}`;
  let committer: TestServer;
  let survivor: TestServer;
  let admin: pg.Client;
  const clients: ParleyClient[] = [];
  const client = (user: string, node: TestServer) => {
    const created = new ParleyClient({ url: node.wsUrl, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    schema = await createTestSchema();
    const env = {
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_DEMO_TTFT_MS: '20',
      PARLEY_DEMO_TOKENS_PER_SECOND: '200',
      PARLEY_REACTION_SWEEP_MS: '200',
    };
    committer = await startServer({ ...env, DATABASE_URL: databaseUrlOf(COMMITTER) });
    survivor = await startServer({ ...env, DATABASE_URL: databaseUrlOf(`parley-survivor-${process.pid}`) });
    admin = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema.schema}` });
    await admin.connect();
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    for (const node of [committer, survivor]) if (node.process.exitCode === null && node.process.signalCode === null) await node.stop();
    await admin.end();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  it('a message committed by a node killed before its reaction ran is still answered, once, by another node', async () => {
    // Alice follows her assistant conversation on the surviving node, and sends through the other one.
    const follower = client('alice', survivor);
    const sender = client('alice', committer);
    await Promise.all([follower.connect(), sender.connect()]);
    const { conversation } = await follower.open({ assistant: 'assistant' });
    const subscription = follower.subscribe(conversation.id, { since: 0 });
    const events: ConversationEvent[] = [];
    const states: GenerationState[] = [];
    subscription.on('event', (event) => events.push(event));
    new Generations(subscription).on('update', (state) => states.push(state));
    await subscription.ready;
    // The conversation's creation has been handled: its answer cursor exists and is at rest.
    await eventually(async () => {
      const { rows } = await admin.query("SELECT seq, due_at FROM parley_reaction_cursors WHERE reaction = 'ai-answers' AND conversation = $1", [conversation.id]);
      expect(rows).toEqual([{ seq: '1', due_at: '0' }]);
    });

    // No node can claim a cursor while this transaction lives: the committing node's reaction waits on it.
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE parley_reaction_cursors IN ACCESS EXCLUSIVE MODE');
    const ack = await sender.send(conversation.id, 'where is my order 1234?');
    expect(ack.seq).toBe(2);
    await eventually(async () => {
      const { rows } = await admin.query("SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [COMMITTER]);
      expect(rows[0].waiting).toBeGreaterThan(0);
    });
    await committer.kill();
    // What the killed node left waiting in PostgreSQL goes too (as its sockets' timeouts would end them).
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [COMMITTER]);
    await admin.query('COMMIT');

    await eventually(() => expect(states.at(-1)?.status).toBe('completed'));
    expect(states.at(-1)!.text).toContain('Order 1234');
    const answers = events.filter((event) => event.type.startsWith('ai.'));
    expect(answers.map((event) => [event.type, event.causation?.replyTo])).toEqual([
      ['ai.started', 2],
      ['ai.tool_call', 2],
      ['ai.tool_result', 2],
      ['ai.completed', 2],
    ]);
    // The survivor's reaction handled it: its cursor is past the message and at rest.
    await eventually(async () => {
      const { rows } = await admin.query("SELECT seq, due_at FROM parley_reaction_cursors WHERE reaction = 'ai-answers' AND conversation = $1", [conversation.id]);
      expect(Number(rows[0].seq)).toBeGreaterThanOrEqual(2);
    });
    const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
    expect(metrics).toMatch(/parley_reaction_events_handled_total\{reaction="ai-answers"\} [1-9]/);
    expect(metrics).toMatch(/parley_reaction_lag_seconds\{reaction="ai-answers"\} /);
  });
});
