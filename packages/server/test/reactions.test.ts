import { randomUUID } from 'node:crypto';
import type { ConversationEvent } from '@parley/protocol';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.js';
import { MemoryBus } from '../src/adapters/memory/bus.js';
import type { Reaction } from '../src/core/ports.js';
import { conversationKeyString, type ConversationKey } from '../src/core/types.js';
import { ReactionRunner, type RunnerSettings } from '../src/reactions/runner.js';
import { PostgresReactionCursors } from '../src/store/postgres/reaction-cursors.js';
import type { PostgresStore } from '../src/store/postgres/store.js';
import { STORE_FACTORIES } from './store-factories.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const factories = STORE_FACTORIES;

const SETTINGS: RunnerSettings = { leaseMs: 5000, pageSize: 3, concurrency: 4, retryBaseMs: 20, retryMaxMs: 200, sweepIntervalMs: 100, lookbackMs: 60_000, sweepLimit: 100 };
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reaction that records what it is handed, by conversation; `fail` may refuse a call. */
function recorder(name: string, fail: (key: ConversationKey, events: ConversationEvent[]) => boolean = () => false) {
  const seen = new Map<string, number[]>();
  const calls: Array<{ key: ConversationKey; seqs: number[] }> = [];
  let failures = 0;
  const reaction: Reaction = {
    name,
    handle: async (key, events) => {
      calls.push({ key, seqs: events.map((event) => event.seq) });
      if (fail(key, events)) {
        failures++;
        throw new Error('receiver unavailable');
      }
      const list = seen.get(conversationKeyString(key)) ?? [];
      list.push(...events.map((event) => event.seq));
      seen.set(conversationKeyString(key), list);
    },
  };
  return { reaction, calls, seqs: (key: ConversationKey) => seen.get(conversationKeyString(key)) ?? [], failures: () => failures };
}

describe.each(factories)('Reactions: $name', (factory) => {
  let store: PostgresStore;
  let schema: string | undefined;
  let cleanup: () => Promise<void>;
  const runners: ReactionRunner[] = [];
  let counter = 0;
  const newKey = (): ConversationKey => ({ tenant: 'acme', conversationId: `r${++counter}-${randomUUID().slice(0, 8)}` });
  let reactionCounter = 0;
  const reactionName = () => `test-${++reactionCounter}`;

  beforeAll(async () => {
    ({ store, schema, cleanup } = await factory.open());
    await store.migrate();
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.stop(1000);
  });
  afterAll(() => cleanup());

  async function startRunner(reactions: Array<{ reaction: Reaction; runsHere?: boolean }>, bus = new MemoryBus(10), settings: Partial<RunnerSettings> = {}) {
    const runner = new ReactionRunner(new PostgresReactionCursors(store.database), bus, { ...SETTINGS, ...settings });
    for (const { reaction, runsHere } of reactions) runner.add(reaction, { runsHere: runsHere ?? true });
    runners.push(runner);
    await runner.start();
    return runner;
  }

  /** Creates the conversation with `messages` more events, each committed and then handed to `runner` as a node's log does. */
  async function conversation(key: ConversationKey, messages: number, runner?: ReactionRunner): Promise<void> {
    const { event } = await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    if (event) runner?.committed(event);
    await append(key, messages, runner);
  }

  async function append(key: ConversationKey, count: number, runner?: ReactionRunner): Promise<ConversationEvent[]> {
    const results = await Promise.all(
      Array.from({ length: count }, (_, index) => store.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text: `m${index}` } } })),
    );
    for (const { event } of results) runner?.committed(event);
    return results.map((result) => result.event);
  }

  it('stamps the conversation with its appends, to within a second (the outbox the sweep reads)', async () => {
    const key = newKey();
    await conversation(key, 0);
    const stamp = async () => Number((await store.database.query<{ last_event_at: string }>('SELECT last_event_at FROM parley_conversations WHERE tenant = $1 AND id = $2', [key.tenant, key.conversationId])).rows[0]!.last_event_at);
    const created = await stamp();
    expect(Math.abs(created - Date.now())).toBeLessThan(60_000);
    // Within the second, the stamp stays (the row is updated in place); older, it moves to now.
    await append(key, 1);
    expect(await stamp()).toBe(created);
    await store.database.query('UPDATE parley_conversations SET last_event_at = last_event_at - 5000 WHERE tenant = $1 AND id = $2', [key.tenant, key.conversationId]);
    await append(key, 1);
    expect(await stamp()).toBeGreaterThanOrEqual(created);
  });

  it('hands each event to each reaction once, in seq order per conversation, from where the reaction started', async () => {
    const before = newKey();
    await conversation(before, 2);
    await delay(5);
    const first = recorder(reactionName());
    const second = recorder(reactionName());
    const runner = await startRunner([{ reaction: first.reaction }, { reaction: second.reaction }]);
    const keys = [newKey(), newKey()];
    for (const key of keys) await conversation(key, 4, runner);
    for (const key of keys) await append(key, 5, runner);
    const later = await append(before, 2, runner);
    for (const { seqs } of [first, second]) {
      for (const key of keys) await eventually(() => expect(seqs(key)).toEqual(Array.from({ length: 10 }, (_, index) => index + 1)));
      // Events committed before the reaction existed are not its business (an upgrade must not answer old messages).
      await eventually(() => expect(seqs(before)).toEqual(later.map((event) => event.seq)));
    }
    // Pages of at most pageSize (3) events.
    expect(first.calls.every((call) => call.seqs.length <= 3)).toBe(true);
  });

  it('retries a failing handle with backoff, without holding up other conversations, and reports the backlog meanwhile', async () => {
    const failing = newKey();
    const healthy = newKey();
    let refusals = 3;
    const reaction = recorder(reactionName(), (key) => conversationKeyString(key) === conversationKeyString(failing) && refusals-- > 0);
    const runner = await startRunner([{ reaction: reaction.reaction }]);
    await conversation(failing, 2, runner);
    await eventually(() => expect(reaction.failures()).toBeGreaterThanOrEqual(1));
    const [backlog] = await runner.backlogs();
    expect(backlog).toMatchObject({ reaction: reaction.reaction.name, events: 3 });
    expect(backlog!.oldestTs).toBeLessThanOrEqual(Date.now());
    await conversation(healthy, 2, runner);
    await eventually(() => expect(reaction.seqs(healthy)).toEqual([1, 2, 3]));
    await eventually(() => expect(reaction.seqs(failing)).toEqual([1, 2, 3]));
    expect(reaction.failures()).toBe(3);
    // Every attempt on the failing conversation began again at its first event: nothing skipped, nothing reordered.
    const attempts = reaction.calls.filter((call) => call.key.conversationId === failing.conversationId).map((call) => call.seqs);
    expect(attempts).toHaveLength(4);
    for (const seqs of attempts) expect(seqs).toEqual([1, 2, 3].slice(0, seqs.length));
    await eventually(async () => expect(await runner.backlogs()).toEqual([{ reaction: reaction.reaction.name, oldestTs: null, events: 0 }]));
  });

  it('two nodes share the work: each event is handled once, each conversation in order', async () => {
    const name = reactionName();
    const handled: Array<{ node: number; key: string; seq: number }> = [];
    const nodeReaction = (node: number): Reaction => ({
      name,
      handle: async (key, events) => {
        await delay(1);
        for (const event of events) handled.push({ node, key: conversationKeyString(key), seq: event.seq });
      },
    });
    const bus = new MemoryBus(10);
    const nodes = [await startRunner([{ reaction: nodeReaction(0) }], bus), await startRunner([{ reaction: nodeReaction(1) }], bus)];
    const keys = Array.from({ length: 6 }, () => newKey());
    for (const [index, key] of keys.entries()) await conversation(key, 3, nodes[index % 2]);
    // Both nodes commit to every conversation at once.
    await Promise.all(keys.flatMap((key) => nodes.map((node) => append(key, 4, node))));
    await eventually(() => expect(handled).toHaveLength(keys.length * 12));
    for (const key of keys) {
      expect(handled.filter((entry) => entry.key === conversationKeyString(key)).map((entry) => entry.seq)).toEqual(Array.from({ length: 12 }, (_, index) => index + 1));
    }
  });

  it('a conversation held by a node that died is taken over when its lease runs out', async () => {
    const name = reactionName();
    const reaction = recorder(name);
    const key = newKey();
    const cursors = new PostgresReactionCursors(store.database);
    await cursors.register(name);
    await conversation(key, 2);
    // The dead node claimed the conversation, then never handled it nor renewed its lease.
    const { claims: [dead] } = await cursors.claim(name, [{ key }], { leaseMs: 400, limit: 10 });
    expect(dead).toMatchObject({ seq: 0, events: [{ seq: 1 }, { seq: 2 }, { seq: 3 }] });
    const runner = await startRunner([{ reaction: reaction.reaction }]);
    runner.committed((await append(key, 1))[0]!);
    await eventually(() => expect(reaction.seqs(key)).toEqual([1, 2, 3, 4]));
    // The dead node cannot move the cursor any more.
    expect(await cursors.settle([{ claim: dead!, seq: 4 }], { leaseMs: 1000, keep: true, recentMs: 60_000 })).toEqual(['lost']);
  });

  it('a node that does not run a reaction wakes the node that does, over the bus (no sweep needed)', async () => {
    const name = reactionName();
    const reaction = recorder(name);
    const bus = new MemoryBus(10);
    const slowSweeps = { sweepIntervalMs: 600_000 };
    const worker = await startRunner([{ reaction: reaction.reaction }], bus, slowSweeps);
    const gateway = await startRunner([{ reaction: { name, handle: () => Promise.reject(new Error('runs elsewhere')) }, runsHere: false }], bus, slowSweeps);
    expect(gateway.local).toEqual([]);
    expect(worker.local).toEqual([name]);
    // The worker's first sweep has run; from now on only wakes bring work.
    await delay(100);
    const key = newKey();
    await conversation(key, 2, gateway);
    await eventually(() => expect(reaction.seqs(key)).toEqual([1, 2, 3]));
  });

  it.runIf(factory.name === 'PostgreSQL')('sees two appends committed out of order of their stamps (the later stamp committed first)', async () => {
    const reaction = recorder(reactionName());
    // Sweeps only (no wakes): what a node finds after the committing node died.
    const runner = await startRunner([{ reaction: reaction.reaction }]);
    const early = newKey();
    const late = newKey();
    await conversation(early, 0);
    await conversation(late, 0);
    await eventually(() => expect(reaction.seqs(early)).toEqual([1]));
    const held = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await held.connect();
    try {
      await held.query('BEGIN');
      // An append that takes its seq and stamp first, and commits last.
      const stamped = await held.query<{ last_seq: string; last_event_at: string }>(
        "UPDATE parley_conversations SET last_seq = last_seq + 1, last_event_at = (date_part('epoch', clock_timestamp()) * 1000)::bigint WHERE tenant = $1 AND id = $2 RETURNING last_seq, last_event_at",
        [early.tenant, early.conversationId],
      );
      await held.query(
        `INSERT INTO parley_events (tenant, conversation, seq, id, type, ts, actor_kind, actor_id, data) VALUES ($1, $2, $3, $4, 'message.created', $5, 'user', 'alice', '{"content":{"type":"text","text":"late commit"}}')`,
        [early.tenant, early.conversationId, stamped.rows[0]!.last_seq, randomUUID(), Date.now()],
      );
      await delay(5);
      await append(late, 1);
      await eventually(() => expect(reaction.seqs(late)).toEqual([1, 2]));
      // A sweep has run past the held append's stamp since: a reader paging by stamp or id would skip it now.
      await eventually(async () => {
        const { rows } = await store.database.query<{ swept_at: string }>('SELECT swept_at FROM parley_reactions WHERE name = $1', [reaction.reaction.name]);
        expect(Number(rows[0]!.swept_at)).toBeGreaterThan(Number(stamped.rows[0]!.last_event_at));
      });
      await held.query('COMMIT');
      await eventually(() => expect(reaction.seqs(early)).toEqual([1, 2]));
    } finally {
      await held.end();
    }
    void runner;
  });

  it.runIf(factory.name === 'PostgreSQL')('keeps flowing while a write transaction is held open elsewhere', async () => {
    const reaction = recorder(reactionName());
    const runner = await startRunner([{ reaction: reaction.reaction }]);
    const blocked = newKey();
    const flowing = newKey();
    await conversation(blocked, 0, runner);
    await conversation(flowing, 0, runner);
    const held = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await held.connect();
    try {
      // A long write transaction: it holds the oldest snapshot of the server and one conversation's row lock.
      await held.query('BEGIN');
      await held.query('SELECT txid_current()');
      await held.query('UPDATE parley_conversations SET metadata = $3 WHERE tenant = $1 AND id = $2', [blocked.tenant, blocked.conversationId, JSON.stringify({ topic: 'held' })]);
      for (let round = 0; round < 3; round++) await append(flowing, 2, runner);
      await eventually(() => expect(reaction.seqs(flowing)).toEqual([1, 2, 3, 4, 5, 6, 7]));
      await held.query('ROLLBACK');
    } finally {
      await held.end();
    }
  });
});
