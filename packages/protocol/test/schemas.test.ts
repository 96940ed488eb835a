import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  ERROR_CODES,
  eventSchema,
  jsonCodec,
  jsonProblem,
  OPERATION_NAMES,
  operationArgsSchemas,
  operationResultSchemas,
  pushFrameSchema,
  replyFrameSchema,
  requestFrameSchema,
  shouldReconnect,
} from '../src/index.js';

describe('request frames', () => {
  it('accepts string and integer ids and rejects others', () => {
    expect(requestFrameSchema.safeParse({ id: 'a1', op: 'ping' }).success).toBe(true);
    expect(requestFrameSchema.safeParse({ id: 7, op: 'ping', args: {} }).success).toBe(true);
    for (const id of [-1, 1.5, '', 'x'.repeat(65), null, {}]) expect(requestFrameSchema.safeParse({ id, op: 'ping' }).success).toBe(false);
    expect(requestFrameSchema.safeParse({ id: 1 }).success).toBe(false);
  });

  it('has argument and result schemas for every operation', () => {
    expect(Object.keys(operationResultSchemas).sort()).toEqual([...OPERATION_NAMES].sort());
  });

  it('validates message.send content', () => {
    const send = operationArgsSchemas['message.send'];
    const base = { conversationId: 'c1', clientMsgId: 'm-1' };
    expect(send.safeParse({ ...base, content: { type: 'text', text: 'hi' } }).success).toBe(true);
    expect(send.safeParse({ ...base, content: { type: 'order.card', data: { id: 5, items: [1, 2] } } }).success).toBe(true);
    expect(send.safeParse({ ...base, content: { type: 'text', text: '' } }).success).toBe(false);
    expect(send.safeParse({ ...base, content: { type: 'text', text: 'x'.repeat(32_769) } }).success).toBe(false);
    expect(send.safeParse({ ...base, content: { type: 'text', data: {} } }).success).toBe(false);
    expect(send.safeParse({ ...base, content: { type: 'order.card', data: {}, text: 'a card' } }).success).toBe(false);
    expect(send.safeParse({ ...base, content: { type: 'Bad Type', data: {} } }).success).toBe(false);
    expect(send.safeParse({ ...base, clientMsgId: 'has space', content: { type: 'text', text: 'x' } }).success).toBe(false);
    expect(send.safeParse({ ...base, conversationId: 'c'.repeat(129), content: { type: 'text', text: 'x' } }).success).toBe(false);
  });

  it('applies defaults and bounds to history and conversation.open', () => {
    expect(operationArgsSchemas.history.parse({ conversationId: 'c' })).toEqual({ conversationId: 'c', limit: 50 });
    expect(operationArgsSchemas.history.safeParse({ conversationId: 'c', limit: 201 }).success).toBe(false);
    expect(operationArgsSchemas['conversation.open'].parse({})).toEqual({ members: [], metadata: {} });
    expect(operationArgsSchemas['conversation.open'].safeParse({ members: Array.from({ length: 1001 }, (_, i) => `u${i}`) }).success).toBe(false);
    expect(operationArgsSchemas.subscribe.safeParse({ conversationId: 'c', since: -1 }).success).toBe(false);
  });
});

describe('server frames', () => {
  const event = { id: 'e', tenant: 't', conversation: 'c', seq: 1, type: 'message.created', ts: 1, actor: { kind: 'user', id: 'u' }, data: {} };

  it('parses replies, errors and pushes', () => {
    expect(replyFrameSchema.safeParse({ id: 1, result: { ok: true } }).success).toBe(true);
    expect(replyFrameSchema.safeParse({ id: null, error: { code: 'bad_request', message: 'x' } }).success).toBe(true);
    expect(replyFrameSchema.safeParse({ id: 1, error: { code: 'nope', message: 'x' } }).success).toBe(false);
    expect(pushFrameSchema.safeParse({ push: 'event', event }).success).toBe(true);
    expect(pushFrameSchema.safeParse({ push: 'disconnect', code: 4000, reason: 'restart', reconnect: true }).success).toBe(true);
    expect(eventSchema.safeParse({ ...event, seq: 0 }).success).toBe(false);
  });
});

describe('codes', () => {
  it('has the documented error codes', () => {
    expect(ERROR_CODES).toEqual(['unauthorized', 'forbidden', 'bad_request', 'not_found', 'conflict', 'rate_limited', 'busy', 'too_large', 'unavailable', 'internal', 'session_expired']);
  });

  it('splits close codes into reconnect and give-up ranges', () => {
    for (const name of ['serverShutdown', 'slowConsumer', 'heartbeatTimeout', 'tokenExpired', 'authTimeout', 'tooManyConnections'] as const) {
      expect(shouldReconnect(CLOSE_CODES[name])).toBe(true);
    }
    for (const name of ['unauthorized', 'policyViolation', 'unsupportedProtocol'] as const) expect(shouldReconnect(CLOSE_CODES[name])).toBe(false);
    expect(shouldReconnect(1006)).toBe(true);
    expect(shouldReconnect(1008)).toBe(false);
  });
});

describe('JSON codec', () => {
  it('round-trips frames and rejects invalid bytes', () => {
    const frame = { id: 1, result: { text: 'héllo' } };
    expect(jsonCodec.decode(jsonCodec.encode(frame) as string)).toEqual(frame);
    expect(jsonCodec.decode(new TextEncoder().encode('{"a":1}'))).toEqual({ a: 1 });
    expect(() => jsonCodec.decode('{')).toThrow();
    expect(() => jsonCodec.decode(new Uint8Array([0xff, 0xfe, 0x00]))).toThrow();
  });
});

describe('jsonProblem', () => {
  it('refuses deep nesting without recursing', () => {
    let deep: unknown = 'leaf';
    for (let level = 0; level < 100_000; level++) deep = [deep];
    expect(jsonProblem(deep)).toMatch(/nesting deeper than 32/);
    let fine: unknown = 1;
    for (let level = 0; level < 31; level++) fine = { next: fine };
    expect(jsonProblem(fine)).toBeNull();
  });

  it('refuses strings PostgreSQL cannot store, in values and keys', () => {
    expect(jsonProblem({ text: 'a\u0000b' })).toMatch(/U\+0000/);
    expect(jsonProblem({ ['k\u0000']: 1 })).toMatch(/U\+0000/);
    expect(jsonProblem(['\ud800'])).toMatch(/surrogates/);
    expect(jsonProblem(['x\udc00'])).toMatch(/surrogates/);
    expect(jsonProblem({ emoji: '😀 é ✓' })).toBeNull();
  });
});
