import { parseEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendInput, ConversationKey } from '../src/core/types.js';
import type { ConversationLog } from '../src/log/conversation-log.js';
import { AiHarness } from './ai/harness.js';

// One in-memory PGlite for the file: opening and migrating one takes seconds.
let ai: AiHarness;

beforeAll(async () => {
  ai = await AiHarness.open();
});

afterAll(() => ai?.close());

/** The log checks every event against the catalogue before the store sees it. */
describe('ConversationLog.append and the event catalogue', () => {
  let log: ConversationLog;
  let counter = 0;

  beforeAll(() => {
    log = ai.log;
  });

  async function conversation(): Promise<ConversationKey> {
    const key = { tenant: 'acme', conversationId: `log-${++counter}` };
    await log.create({ key, createdBy: 'alice', members: ['bob'], metadata: { topic: 'orders' }, assistant: null });
    return key;
  }

  it('stores an event whose data matches its type', async () => {
    const key = await conversation();
    const { event } = await log.append({ key, type: 'members.added', actor: { kind: 'service', id: 'key_1' }, data: { userIds: ['carol'] } });
    expect(event).toMatchObject({ seq: 2, type: 'members.added', data: { userIds: ['carol'] } });
    expect(parseEvent(event).ok).toBe(true);
  });

  it('refuses data that drifted from its schema as a server bug, and stores nothing', async () => {
    const key = await conversation();
    const drifted = { key, type: 'ai.stopped', actor: { kind: 'assistant', id: 'p' }, data: { generationId: 'g1', text: 'Hi', origin: 'user' } } as unknown as AppendInput<'ai.stopped'>;
    await expect(log.append(drifted)).rejects.toMatchObject({ code: 'internal', message: expect.stringContaining('ai.stopped data') });
    const missing = { key, type: 'ai.started', actor: { kind: 'assistant', id: 'p' }, data: { generationId: 'g1', profile: 'p' } } as unknown as AppendInput<'ai.started'>;
    await expect(log.append(missing)).rejects.toMatchObject({ code: 'internal', message: expect.stringContaining('replyTo') });
    const unknownType = { key, type: 'support.note', actor: { kind: 'agent', id: 'dana' }, data: {} } as unknown as AppendInput;
    await expect(log.append(unknownType)).rejects.toMatchObject({ code: 'internal', message: expect.stringContaining('not in the catalogue') });
    expect((await log.get(key))?.lastSeq).toBe(1);
  });

  it('refuses a client-given payload as bad_request', async () => {
    const key = await conversation();
    const update = { key, type: 'conversation.updated', actor: { kind: 'user', id: 'alice' }, data: { metadata: 'not an object' } } as unknown as AppendInput<'conversation.updated'>;
    await expect(log.append(update, { origin: 'client' })).rejects.toMatchObject({ code: 'bad_request' });
    expect((await log.get(key))?.lastSeq).toBe(1);
  });

  it('checks type and data together at compile time', () => {
    // Never called: the assertions are the compiler's.
    const compileOnly = (key: ConversationKey) => [
      // @ts-expect-error members.added needs userIds
      log.append({ key, type: 'members.added', actor: { kind: 'user', id: 'alice' }, data: { users: ['carol'] } }),
      // @ts-expect-error message.created data is { content }
      log.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { text: 'hi' } }),
      // @ts-expect-error only catalogue types are written
      log.append({ key, type: 'support.note', actor: { kind: 'agent', id: 'dana' }, data: {} }),
    ];
    expect(typeof compileOnly).toBe('function');
  });
});

/** What the server writes in a real answer (tool call, its failure, approval, completion) and for receipts all reads back as typed events. */
describe('events the server writes', () => {
  it('every event of a conversation with an answer, a failed tool and a receipt parses against the catalogue', async () => {
    const failing = {
      name: 'lookup_order',
      description: 'Look up an order',
      inputSchema: { type: 'object' as const, properties: { orderId: { type: 'string' as const } } },
      timeoutMs: 1000,
      execute: async () => {
        throw new Error('webhook answered HTTP 500');
      },
    };
    const { orchestrator } = ai.orchestrator({ models: [{ provider: 'demo', ttftMs: 0, tokensPerSecond: 10_000 }], tools: ['lookup_order'] }, undefined, undefined, [failing]);
    const key = await ai.conversation();
    const message = await ai.send(orchestrator, key, 'where is my order 1234?');
    await ai.terminals(key);
    await ai.log.markRead(key, 'alice', message.seq, true);
    const events = await ai.events(key);
    expect(events.map((event) => event.type)).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.completed', 'receipt.read']);
    for (const event of events) expect(parseEvent(event), event.type).toEqual({ ok: true, event });
    const result = parseEvent(events[4]!);
    expect(result.ok && result.event.type === 'ai.tool_result' && result.event.data.output).toEqual({ error: 'failed', message: 'webhook answered HTTP 500' });
  });
});
