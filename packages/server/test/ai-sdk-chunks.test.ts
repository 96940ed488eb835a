import type { KnownEvent } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { AnswerChunks, answerEventOf, type AnswerEvent } from '../src/gateway/ai-sdk/chunks.js';
import { approvalAnswers, runningAnswer } from '../src/gateway/ai-sdk/chats.js';

const GENERATION = 'g1';
let seq = 0;
function event<Type extends AnswerEvent['type']>(type: Type, data: Omit<Extract<AnswerEvent, { type: Type }>['data'], 'generationId'>): AnswerEvent {
  seq++;
  return { id: `e${seq}`, tenant: 't', conversation: 'c', seq, type, ts: seq, actor: { kind: 'assistant', id: GENERATION }, data: { generationId: GENERATION, ...data } } as unknown as AnswerEvent;
}
const delta = (index: number, text: string) => ({ generationId: GENERATION, index, text });
const texts = (chunks: Array<{ type: string; delta?: string }>) => chunks.filter((chunk) => chunk.type === 'text-delta').map((chunk) => chunk.delta).join('');

describe('AnswerChunks: Parley generation -> AI SDK UI message stream chunks', () => {
  it('starts with the generation id as the message id and one text part, streams deltas, finishes on ai.completed', () => {
    const answer = new AnswerChunks(GENERATION, 'g1-text');
    const chunks = [...answer.begin(), ...answer.event(event('ai.started', { profile: 'assistant', replyTo: 1 })), ...answer.delta(delta(0, 'Hel')), ...answer.delta(delta(1, 'lo')), ...answer.event(event('ai.completed', { text: 'Hello', model: 'demo', ttftMs: 5, usage: { inputTokens: 1, outputTokens: 2 } }))];
    expect(chunks).toEqual([
      { type: 'start', messageId: GENERATION },
      { type: 'text-start', id: 'g1-text' },
      { type: 'text-delta', id: 'g1-text', delta: 'Hel' },
      { type: 'text-delta', id: 'g1-text', delta: 'lo' },
      { type: 'text-end', id: 'g1-text' },
      { type: 'finish', finishReason: 'stop' },
    ]);
    expect(answer.ended).toBe('completed');
    expect(answer.delta(delta(2, 'late'))).toEqual([]);
  });

  it('drops repeated deltas, and after a missed one waits for the snapshot, which sends only what is missing', () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    expect(texts(answer.delta(delta(0, 'a')))).toBe('a');
    expect(answer.delta(delta(0, 'a'))).toEqual([]);
    expect(answer.delta(delta(2, 'c'))).toEqual([]);
    expect(answer.behind).toBe(true);
    expect(texts(answer.snapshot({ generationId: GENERATION, index: 2, text: 'abc' }))).toBe('bc');
    expect(answer.behind).toBe(false);
    expect(texts(answer.delta(delta(3, 'd')))).toBe('d');
  });

  it('fills in the text the deltas missed from the final event', () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    answer.delta(delta(0, 'Hi'));
    const chunks = answer.event(event('ai.completed', { text: 'Hi there', model: 'demo', ttftMs: 1, usage: { inputTokens: null, outputTokens: 2 } }));
    expect(texts(chunks)).toBe(' there');
  });

  it('maps tool calls and results, and a denial to tool-output-denied', () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    const call = answer.event(event('ai.tool_call', { toolCallId: 'c1', toolName: 'lookup_order', input: { orderId: '1' } }));
    expect(call).toEqual([
      { type: 'tool-input-start', toolCallId: 'c1', toolName: 'lookup_order' },
      { type: 'tool-input-available', toolCallId: 'c1', toolName: 'lookup_order', input: { orderId: '1' } },
    ]);
    expect(answer.event(event('ai.tool_result', { toolCallId: 'c1', toolName: 'lookup_order', output: { status: 'shipped' } }))).toEqual([{ type: 'tool-output-available', toolCallId: 'c1', output: { status: 'shipped' } }]);
    answer.event(event('ai.tool_call', { toolCallId: 'c2', toolName: 'cancel_order', input: {} }));
    expect(answer.event(event('ai.tool_result', { toolCallId: 'c2', toolName: 'cancel_order', output: { error: 'denied', message: 'no' } }))).toEqual([{ type: 'tool-output-denied', toolCallId: 'c2' }]);
    expect(answer.event(event('ai.tool_result', { toolCallId: 'c1', toolName: 'lookup_order', output: { error: 'timeout', message: 'took too long' } }))).toEqual([{ type: 'tool-output-error', toolCallId: 'c1', errorText: 'took too long' }]);
  });

  it('asks for approval, and ends the response there only when told that no decision follows', () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    const asked = answer.event(event('ai.approval_requested', { approvalId: 'g1:c1', toolCallId: 'c1', toolName: 'cancel_order', input: { orderId: '9' } }));
    expect(asked.map((chunk) => chunk.type)).toEqual(['tool-input-start', 'tool-input-available', 'tool-approval-request']);
    expect(answer.waitingFor).toBe('g1:c1');
    expect(answer.endForApproval()).toEqual([{ type: 'text-end', id: 't' }, { type: 'finish', finishReason: 'tool-calls' }]);
    expect(answer.ended).toBe('approval');
  });

  it('in a replay, an approval already decided does not end the response', () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    answer.event(event('ai.approval_requested', { approvalId: 'g1:c1', toolCallId: 'c1', toolName: 'cancel_order', input: {} }));
    expect(answer.event(event('ai.approval_resolved', { approvalId: 'g1:c1', approved: true }))).toEqual([{ type: 'tool-approval-response', approvalId: 'g1:c1', approved: true }]);
    expect(answer.endForApproval()).toEqual([]);
    expect(answer.ended).toBeNull();
  });

  it('continues after an approval from what the client has: only new text, known tool calls not repeated', () => {
    const answer = new AnswerChunks(GENERATION, 'after', { generationId: GENERATION, index: 1, text: 'Sure.' });
    answer.knowCall('c1');
    answer.begin();
    const result = answer.event(event('ai.tool_result', { toolCallId: 'c1', toolName: 'cancel_order', output: { cancelled: true } }));
    expect(result).toEqual([{ type: 'tool-output-available', toolCallId: 'c1', output: { cancelled: true } }]);
    expect(texts(answer.delta(delta(2, ' Done.')))).toBe(' Done.');
    expect(texts(answer.event(event('ai.completed', { text: 'Sure. Done.', model: 'demo', ttftMs: 1, usage: { inputTokens: 1, outputTokens: 1 } })))).toBe('');
  });

  it('ends a stopped answer with abort, and a failed one with its fallback text and an error', () => {
    const stopped = new AnswerChunks(GENERATION, 't');
    stopped.begin();
    stopped.delta(delta(0, 'Once'));
    expect(stopped.event(event('ai.stopped', { text: 'Once upon', reason: 'user' }))).toEqual([
      { type: 'text-delta', id: 't', delta: ' upon' },
      { type: 'text-end', id: 't' },
      { type: 'abort', reason: 'user' },
    ]);
    const failed = new AnswerChunks(GENERATION, 't');
    failed.begin();
    expect(failed.event(event('ai.failed', { code: 'timeout', message: 'too slow', text: '', fallbackText: 'Please try again.' }))).toEqual([
      { type: 'text-delta', id: 't', delta: 'Please try again.' },
      { type: 'text-end', id: 't' },
      { type: 'error', errorText: 'timeout: too slow' },
    ]);
  });

  it("ignores other generations' events and deltas", () => {
    const answer = new AnswerChunks(GENERATION, 't');
    answer.begin();
    expect(answer.delta({ generationId: 'other', index: 0, text: 'x' })).toEqual([]);
    const other = { ...event('ai.completed', { text: 'x', model: 'demo', ttftMs: 1, usage: { inputTokens: 1, outputTokens: 1 } }), data: { generationId: 'other', text: 'x', model: 'demo', ttftMs: 1, usage: { inputTokens: 1, outputTokens: 1 } } } as AnswerEvent;
    expect(answer.event(other)).toEqual([]);
    expect(answer.ended).toBeNull();
  });

  it('tells answer events from other events', () => {
    const message = { id: 'm', tenant: 't', conversation: 'c', seq: 1, type: 'message.created', ts: 1, actor: { kind: 'user', id: 'u' }, data: { content: { type: 'text', text: 'hi' } } } as KnownEvent;
    expect(answerEventOf(message)).toBeNull();
    const started = event('ai.started', { profile: 'assistant', replyTo: 1 });
    expect(answerEventOf(started)).toBe(started);
  });
});

describe('reading an AI SDK request', () => {
  it('finds the approvals the user answered in the last assistant message', () => {
    const parts = [
      { type: 'text', text: 'Sure' },
      { type: 'tool-cancel_order', toolCallId: 'c1', state: 'approval-responded', approval: { id: 'g1:c1', approved: false } },
      { type: 'tool-lookup_order', toolCallId: 'c2', state: 'output-available' },
      { type: 'dynamic-tool', toolCallId: 'c3', state: 'approval-responded', approval: { id: 'g1:c3', approved: true } },
      { type: 'tool-x', toolCallId: 'c4', state: 'approval-responded', approval: { id: 'g1:c4' } },
    ];
    expect(approvalAnswers(parts)).toEqual([
      { approvalId: 'g1:c1', toolCallId: 'c1', approved: false },
      { approvalId: 'g1:c3', toolCallId: 'c3', approved: true },
    ]);
  });

  it('finds the running answer: the newest one started and not ended', () => {
    const log = (type: string, generationId: string, at: number) => ({ id: `e${at}`, tenant: 't', conversation: 'c', seq: at, type, ts: at, actor: { kind: 'assistant' as const, id: generationId }, data: { generationId } });
    expect(runningAnswer([log('ai.started', 'a', 2), log('ai.completed', 'a', 3)])).toBeNull();
    expect(runningAnswer([log('ai.started', 'a', 2), log('ai.completed', 'a', 3), log('ai.started', 'b', 5), log('ai.tool_call', 'b', 6)])).toEqual({ generationId: 'b', startedSeq: 5 });
    expect(runningAnswer([])).toBeNull();
  });
});
