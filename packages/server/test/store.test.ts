import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendInput, ConversationKey } from '../src/core/types.js';
import { MIGRATIONS } from '../src/store/postgres/migrations.js';
import { openPostgresStore } from '../src/store/postgres/open.js';
import type { PostgresStore } from '../src/store/postgres/store.js';
import { STORE_FACTORIES } from './store-factories.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const factories = STORE_FACTORIES;

describe.each(factories)('Store conformance: $name', (factory) => {
  let store: PostgresStore;
  let cleanup: () => Promise<void>;
  let counter = 0;
  const newKey = (): ConversationKey => ({ tenant: 'acme', conversationId: `c${++counter}` });
  const message = (key: ConversationKey, actor: string, text: string, clientMsgId?: string): AppendInput<'message.created'> => ({
    key,
    type: 'message.created',
    actor: { kind: 'user' as const, id: actor },
    data: { content: { type: 'text', text } },
    ...(clientMsgId ? { causation: { clientMsgId } } : {}),
  });

  beforeAll(async () => {
    ({ store, cleanup } = await factory.open());
    await store.migrate();
    await store.migrate(); // idempotent
  });
  afterAll(() => cleanup());

  it('creates a conversation with its conversation.created event at seq 1', async () => {
    const key = newKey();
    const { conversation, event } = await store.createConversation({ key, createdBy: 'alice', members: ['bob', 'alice'], metadata: { topic: 'x' }, assistant: null });
    expect(conversation).toMatchObject({ id: key.conversationId, tenant: 'acme', createdBy: 'alice', lastSeq: 1, metadata: { topic: 'x' }, assistant: null });
    expect(conversation.members).toEqual(['alice', 'bob']);
    expect(conversation.memberCount).toBe(2);
    expect(event).toMatchObject({ seq: 1, type: 'conversation.created', actor: { kind: 'user', id: 'alice' } });
    const again = await store.createConversation({ key, createdBy: 'mallory', members: [], metadata: {}, assistant: null });
    expect(again.event).toBeNull();
    expect(again.conversation.createdBy).toBe('alice');
    expect(await store.getConversation(key)).toMatchObject({ lastSeq: 1, members: ['alice', 'bob'] });
  });

  it('keeps tenants apart', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    expect(await store.getConversation({ tenant: 'other', conversationId: key.conversationId })).toBeNull();
    await expect(store.append(message({ tenant: 'other', conversationId: key.conversationId }, 'eve', 'x'))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('assigns gapless seqs under concurrent appends', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => store.append(message(key, 'alice', `m${index}`))));
    const seqs = results.map((result) => result.event.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, index) => index + 2));
    const stored = await store.readRange(key, { after: 0, limit: 100, from: 'oldest' });
    expect(stored.map((event) => event.seq)).toEqual(Array.from({ length: 51 }, (_, index) => index + 1));
    expect((await store.getConversation(key))?.lastSeq).toBe(51);
  });

  it('is idempotent per sender and clientMsgId, also under concurrent re-sends', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: ['bob'], metadata: {}, assistant: null });
    const first = await store.append(message(key, 'alice', 'hello', 'm-1'));
    const results = await Promise.all(Array.from({ length: 10 }, () => store.append(message(key, 'alice', 'hello', 'm-1'))));
    expect(first.duplicate).toBe(false);
    for (const result of results) {
      expect(result.duplicate).toBe(true);
      expect(result.event).toEqual(first.event);
    }
    const racing = await Promise.all(Array.from({ length: 10 }, () => store.append(message(key, 'bob', 'hi', 'm-race'))));
    expect(racing.filter((result) => !result.duplicate)).toHaveLength(1);
    // Another sender may use the same clientMsgId.
    expect((await store.append(message(key, 'carol', 'x', 'm-1'))).duplicate).toBe(false);
    expect((await store.getConversation(key))?.lastSeq).toBe(4);
  });

  it('commits concurrent appends of one conversation in arrival order, with re-sends inside and across groups', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: ['bob'], metadata: {}, assistant: null });
    const earlier = await store.append(message(key, 'alice', 'earlier', 'x-0'));
    // Called together: the first goes alone, the rest wait for it and commit as one group.
    const inputs = [
      message(key, 'alice', 'a', 'x-1'),
      message(key, 'bob', 'b', 'x-1'), // another sender may reuse an id
      message(key, 'alice', 'a again', 'x-1'), // re-send inside the group
      message(key, 'alice', 'earlier again', 'x-0'), // re-send of an earlier commit
      message(key, 'alice', 'c', 'x-2'),
    ];
    const results = await Promise.all(inputs.map((input) => store.append(input)));
    expect(results.map((result) => result.duplicate)).toEqual([false, false, true, true, false]);
    expect(results.map((result) => result.event.seq)).toEqual([3, 4, 3, 2, 5]);
    expect(results[2]!.event).toEqual(results[0]!.event);
    expect(results[3]!.event).toEqual(earlier.event);
    const stored = await store.readRange(key, { after: 0, limit: 100, from: 'oldest' });
    expect(stored.slice(1).map((event) => [event.seq, (event.data.content as { text: string }).text])).toEqual([
      [2, 'earlier'],
      [3, 'a'],
      [4, 'b'],
      [5, 'c'],
    ]);
    expect((await store.getConversation(key))?.lastSeq).toBe(5);
  });

  it('fails only the append that cannot be stored, not the others of its group', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    // PostgreSQL's jsonb refuses NUL characters (the gateway refuses them earlier; here the store meets one).
    const results = await Promise.allSettled([
      store.append(message(key, 'alice', 'one', 'y-1')),
      store.append(message(key, 'alice', 'two', 'y-2')),
      store.append(message(key, 'alice', 'nul \u0000 inside', 'y-3')),
      store.append(message(key, 'alice', 'three', 'y-4')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const stored = await store.readRange(key, { after: 1, limit: 10, from: 'oldest' });
    expect(stored.map((event) => [event.seq, (event.data.content as { text: string }).text])).toEqual([
      [2, 'one'],
      [3, 'two'],
      [4, 'three'],
    ]);
    await expect(store.append({ ...message(key, 'bob', 'x', 'y-5'), key: { ...key, conversationId: 'no-such-conversation' } })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('reads ranges from either end, always ascending', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    for (let index = 0; index < 9; index++) await store.append(message(key, 'alice', `m${index}`));
    const seqs = async (query: Parameters<PostgresStore['readRange']>[1]) => (await store.readRange(key, query)).map((event) => event.seq);
    expect(await seqs({ after: 3, limit: 3, from: 'oldest' })).toEqual([4, 5, 6]);
    expect(await seqs({ limit: 3, from: 'newest' })).toEqual([8, 9, 10]);
    expect(await seqs({ before: 5, limit: 10, from: 'newest' })).toEqual([1, 2, 3, 4]);
    expect(await seqs({ after: 2, before: 6, limit: 10, from: 'oldest' })).toEqual([3, 4, 5]);
    const [event] = await store.readRange(key, { after: 1, limit: 1, from: 'oldest' });
    expect(event).toMatchObject({ tenant: 'acme', conversation: key.conversationId, type: 'message.created', data: { content: { type: 'text', text: 'm0' } } });
    expect(typeof event?.ts).toBe('number');
  });

  it('moves read markers forward only, with a receipt.read event', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: ['bob'], metadata: {}, assistant: null });
    await store.append(message(key, 'alice', 'a'));
    await store.append(message(key, 'alice', 'b'));
    const read = await store.markRead(key, 'bob', 3, true);
    expect(read.seq).toBe(3);
    expect(read.event).toMatchObject({ seq: 4, type: 'receipt.read', data: { userId: 'bob', seq: 3 } });
    const back = await store.markRead(key, 'bob', 2, true);
    expect(back).toEqual({ seq: 3, moved: false, event: null });
    expect((await store.getConversation(key))?.lastSeq).toBe(4);
    // Large rooms: the marker moves without an event.
    expect(await store.markRead(key, 'bob', 4, false)).toEqual({ seq: 4, moved: true, event: null });
    expect((await store.getConversation(key))?.lastSeq).toBe(4);
  });

  it('adds and removes members with one durable event per change, and no cap', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    const many = Array.from({ length: 150 }, (_, index) => `user-${String(index).padStart(3, '0')}`);
    const added = await store.addMembers(key, [...many, 'alice'], { kind: 'service', id: 'key-1' });
    expect(added.added).toEqual(many);
    expect(added.event).toMatchObject({ seq: 2, type: 'members.added', actor: { kind: 'service', id: 'key-1' }, data: { userIds: many } });
    // Above the large-room threshold (100 here) the record carries a count, not the members.
    const large = await store.getConversation(key);
    expect(large).toMatchObject({ memberCount: 151, members: null, lastSeq: 2 });
    expect(await store.addMembers(key, ['alice'], { kind: 'user', id: 'alice' })).toEqual({ added: [], event: null });
    const removed = await store.removeMembers(key, ['user-000', 'nobody'], { kind: 'user', id: 'alice' });
    expect(removed.removed).toEqual(['user-000']);
    expect(removed.event).toMatchObject({ seq: 3, type: 'members.removed', data: { userIds: ['user-000'] } });
    expect(await store.isMember(key, 'user-000')).toBe(false);
    expect(await store.isMember(key, 'user-001')).toBe(true);
    expect((await store.getConversation(key))?.memberCount).toBe(150);
    await expect(store.addMembers({ tenant: 'acme', conversationId: 'missing' }, ['x'], { kind: 'user', id: 'a' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('pages members by user id', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: ['bob', 'carol', 'dave'], metadata: {}, assistant: null });
    const first = await store.listMembers(key, null, 3);
    expect(first.items.map((member) => member.userId)).toEqual(['alice', 'bob', 'carol']);
    expect(first.next).toBe('carol');
    const second = await store.listMembers(key, first.next, 3);
    expect(second.items.map((member) => member.userId)).toEqual(['dave']);
    expect(second.next).toBeNull();
  });

  it("lists a user's conversations by last activity, keyset-paged, with read markers", async () => {
    const user = `lister-${randomUUID().slice(0, 8)}`;
    const keys = [newKey(), newKey(), newKey()];
    for (const key of keys) await store.createConversation({ key, createdBy: user, members: [], metadata: {}, assistant: null });
    await store.append(message(keys[0]!, user, 'latest'));
    await store.markRead(keys[0]!, user, 1, true);
    const first = await store.listConversations('acme', user, null, 2);
    const second = await store.listConversations('acme', user, first.next, 2);
    expect(first.items).toHaveLength(2);
    expect(second.next).toBeNull();
    const all = [...first.items, ...second.items];
    expect(all.map((item) => item.conversation.id).sort()).toEqual(keys.map((key) => key.conversationId).sort());
    // Most recently active first (the activity stamp moves at most once a second; ties go by id, descending).
    const order = all.map((item) => [item.conversation.lastEventAt, item.conversation.id] as const);
    expect(order).toEqual([...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1)));
    expect(all.find((item) => item.conversation.id === keys[0]!.conversationId)).toMatchObject({ lastReadSeq: 1, conversation: { lastSeq: 3 } });
    expect((await store.listConversations('other', user, null, 10)).items).toEqual([]);
  });

  it('merges metadata patches with a conversation.updated event', async () => {
    const key = newKey();
    await store.createConversation({ key, createdBy: 'alice', members: [], metadata: { topic: 'x', keep: 1 }, assistant: null });
    const updated = await store.updateMetadata(key, { topic: 'y', keep: null, added: [1] }, { kind: 'user', id: 'alice' });
    expect(updated?.conversation.metadata).toEqual({ topic: 'y', added: [1] });
    expect(updated?.event).toMatchObject({ seq: 2, type: 'conversation.updated', data: { metadata: { topic: 'y', keep: null, added: [1] } } });
    expect(await store.updateMetadata({ tenant: 'acme', conversationId: 'missing' }, { a: 1 }, { kind: 'user', id: 'alice' })).toBeNull();
  });
});

describe('PostgreSQL migrations', () => {
  it('are safe when several nodes start at once', async () => {
    const schema = `parley_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 2 })));
    try {
      await Promise.all(stores.map((store) => store.migrate()));
      const { rows } = await admin.query(`SELECT version FROM ${schema}.parley_schema_migrations`);
      expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });
});
