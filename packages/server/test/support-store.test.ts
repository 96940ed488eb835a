import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planAssign, planHandoff, planQueued, planResolve } from '../src/conversations/modes.js';
import type { AppendInput, ConversationKey } from '../src/core/types.js';
import type { PostgresStore } from '../src/store/postgres/store.js';
import { STORE_FACTORIES } from './store-factories.js';

const SYSTEM = { kind: 'system' as const, id: 'system' };

describe.each(STORE_FACTORIES)('support store: $name', (factory) => {
  let store: PostgresStore;
  let cleanup: () => Promise<void>;
  let counter = 0;

  beforeAll(async () => {
    ({ store, cleanup } = await factory.open());
    await store.migrate();
  });
  afterAll(async () => cleanup?.());

  async function supportConversation(): Promise<ConversationKey> {
    const key = { tenant: 'acme', conversationId: `s${++counter}` };
    await store.createConversation({ key, createdBy: 'carla', members: [], metadata: {}, assistant: 'assistant' });
    return key;
  }

  const started = (key: ConversationKey, generationId: string): AppendInput<'ai.started'> => ({
    key,
    type: 'ai.started',
    actor: { kind: 'assistant', id: 'assistant' },
    data: { generationId, profile: 'assistant', replyTo: 1 },
    causation: { generationId, clientMsgId: `${generationId}:started` },
    requireModes: ['assistant'],
  });

  it('starts an answer only in assistant mode, checked in the append itself; a re-send gets its original whatever the mode', async () => {
    const key = await supportConversation();
    const first = await store.append(started(key, 'g1'));
    expect(first.duplicate).toBe(false);
    await store.support.transition(key, [], (current) => planHandoff(current, { actor: SYSTEM, reason: 'api', origin: 'api', now: Date.now() }));
    await expect(store.append(started(key, 'g2'))).rejects.toMatchObject({ code: 'conflict', details: { mode: 'queued' } });
    const again = await store.append(started(key, 'g1'));
    expect(again).toMatchObject({ duplicate: true, event: { seq: first.event.seq } });
    // Unconditional appends (messages, terminal events) still go in, gapless.
    const seqs = (await store.readRange(key, { after: 0, limit: 100, from: 'oldest' })).map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
  });

  it('refuses an illegal transition with conflict and changes nothing', async () => {
    const key = await supportConversation();
    await expect(store.support.transition(key, [], (current) => planAssign(current, { actor: SYSTEM, agentId: 'dana', agentName: 'Dana', kind: 'claim', now: Date.now() }))).rejects.toMatchObject({ code: 'conflict' });
    expect((await store.getConversation(key))!.support).toMatchObject({ mode: 'assistant', assigneeId: null });
    expect((await store.getConversation(key))!.lastSeq).toBe(1);
  });

  it('numbers staff-only events in their own gapless sequence, each naming the members seq it follows', async () => {
    const key = await supportConversation();
    const note = (text: string, clientMsgId: string) => store.support.appendStaff(key, { type: 'note.created', actor: { kind: 'agent', id: 'dana' }, data: { text }, causation: { clientMsgId } });
    const one = await note('first', 'n1');
    await store.append({ key, type: 'message.created', actor: { kind: 'user', id: 'carla' }, data: { content: { type: 'text', text: 'hi' } } });
    const two = await note('second', 'n2');
    expect([one.event.staffSeq, one.event.afterSeq, two.event.staffSeq, two.event.afterSeq]).toEqual([1, 1, 2, 2]);
    expect(await note('first', 'n1')).toMatchObject({ duplicate: true, event: { staffSeq: 1 } });
    expect((await store.support.readStaff(key, 0, 10)).map((event) => event.data.text)).toEqual(['first', 'second']);
    // The members' sequence is untouched by them.
    expect((await store.getConversation(key))!.lastSeq).toBe(2);
  });

  it('keeps routing within an agent’s capacity under its row lock', async () => {
    await store.support.putAgent('acme', 'cap', { name: 'Cap', teams: [], skills: [], capacity: 1 });
    await store.support.setAgentStatus('acme', 'cap', 'online', { name: null, picture: null }, Date.now());
    const keys = [await supportConversation(), await supportConversation()];
    for (const key of keys) {
      await store.support.transition(key, [], (current) => planHandoff(current, { actor: SYSTEM, reason: 'api', origin: 'api', now: Date.now() }));
      await store.support.transition(key, [], (current) => planQueued(current, { reason: 'api', now: Date.now() }));
    }
    const route = (key: ConversationKey) =>
      store.support.transition(key, ['cap'], (current) => planAssign(current, { actor: SYSTEM, agentId: 'cap', agentName: 'Cap', kind: 'routing', now: Date.now(), connectedSince: 0 }));
    const outcomes = await Promise.allSettled(keys.map(route));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect((outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'conflict' });
    expect((await store.support.getAgent('acme', 'cap'))!.open).toBe(1);
    // Resolving frees the capacity.
    const owned = keys[outcomes.findIndex((outcome) => outcome.status === 'fulfilled')]!;
    await store.support.transition(owned, [], (current) => planResolve(current, { actor: SYSTEM, now: Date.now() }));
    expect((await store.support.getAgent('acme', 'cap'))!.open).toBe(0);
  });
});
