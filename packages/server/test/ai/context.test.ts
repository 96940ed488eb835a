import type { ConversationEvent } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { buildContext } from '../../src/ai/context.js';
import { profileSchema } from '../../src/ai/profiles.js';

const profile = profileSchema.parse({ id: 'p', models: [{ provider: 'demo' }], systemPrompt: 'Be brief.' });

function event(seq: number, type: string, data: Record<string, unknown>, actor: ConversationEvent['actor'] = { kind: 'user', id: 'alice' }, replyTo?: number): ConversationEvent {
  return { id: `e${seq}`, tenant: 'acme', conversation: 'c1', seq, type, ts: seq, actor, data, ...(replyTo ? { causation: { replyTo } } : {}) };
}

describe('buildContext', () => {
  it('builds turns from typed events, leaves out unknown types, and reports events whose data does not match the catalogue', () => {
    const assistant = { kind: 'assistant' as const, id: 'p' };
    const events = [
      event(1, 'conversation.created', { createdBy: 'alice', members: ['alice'], metadata: {}, assistant: 'p' }),
      event(2, 'message.created', { content: { type: 'text', text: 'where is my order 1234?' } }),
      event(3, 'ai.completed', { generationId: 'g1', text: 'Order 1234 is shipped.', model: 'demo', ttftMs: 5, usage: { inputTokens: 10, outputTokens: 5 } }, assistant, 2),
      event(4, 'support.note', { text: 'a type from a newer server' }, { kind: 'agent', id: 'dana' }),
      event(5, 'message.created', { content: { text: 'no type' } }),
      event(6, 'message.created', { content: { type: 'order.card', data: { orderId: '1234' } } }, { kind: 'agent', id: 'dana' }),
      event(7, 'ai.stopped', { generationId: 'g2', text: '' }, assistant, 6),
      event(8, 'message.created', { content: { type: 'text', text: 'thanks' } }),
    ];
    const context = buildContext(profile, events, 8);
    expect(context.messages).toEqual([
      { role: 'user', content: 'where is my order 1234?' },
      { role: 'assistant', content: 'Order 1234 is shipped.' },
      { role: 'user', content: '(support agent dana) [order.card] {"orderId":"1234"}' },
      { role: 'user', content: 'thanks' },
    ]);
    expect(context.invalid.map((error) => error.message)).toEqual([expect.stringMatching(/^event 5 \(message\.created\) of c1 has invalid data: content/)]);
  });
});

describe('buildContext with rich messages', () => {
  it('shows the model a quick-reply choice and a form submission as the user turns they are', () => {
    const assistant = { kind: 'assistant' as const, id: 'p' };
    const options = { type: 'parts', parts: [{ type: 'text', text: 'Which one?' }, { type: 'quick_replies', options: [{ id: 'std', label: 'Standard' }] }] };
    const events = [
      event(1, 'message.created', { content: options }, assistant),
      event(2, 'message.created', { content: { type: 'parts', parts: [{ type: 'choice', replyTo: 1, optionId: 'std', label: 'Standard' }] } }),
      event(3, 'message.created', { content: { type: 'parts', parts: [{ type: 'form_response', replyTo: 1, formId: 'address', values: { city: 'Lyon' } }] } }),
    ];
    const context = buildContext(profile, events, 3);
    expect(context.messages).toEqual([
      { role: 'assistant', content: 'Which one?\n[quick replies: "Standard"]' },
      { role: 'user', content: '[chose "Standard"]' },
      { role: 'user', content: '[submitted form address: {"city":"Lyon"}]' },
    ]);
    expect(context.invalid).toEqual([]);
  });
});
