import type { ConversationEvent, Signal } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { Generations, type GenerationState } from '../src/generations.js';

/** A stand-in subscription: the test pushes events and signals into it. */
function fakeSubscription() {
  const listeners: { event: Array<(event: ConversationEvent) => void>; signal: Array<(signal: Signal) => void> } = { event: [], signal: [] };
  return {
    on: ((type: 'event' | 'signal', listener: never) => {
      (listeners[type] as unknown[]).push(listener);
      return () => undefined;
    }) as never,
    event: (type: string, data: Record<string, unknown>, seq: number) =>
      listeners.event.forEach((listener) => listener({ id: `e${seq}`, tenant: 't', conversation: 'c', seq, type, ts: 0, actor: { kind: 'assistant', id: 'a' }, data: { generationId: 'g', ...data }, causation: { replyTo: 1, generationId: 'g' } })),
    signal: (type: 'ai.delta' | 'ai.snapshot', index: number, text: string) =>
      listeners.signal.forEach((listener) => listener({ tenant: 't', conversation: 'c', type, ts: 0, actor: { kind: 'assistant', id: 'g' }, data: { generationId: 'g', index, text } })),
  };
}

describe('Generations', () => {
  it('assembles deltas in index order, dropping repeats and waiting for missing ones', () => {
    const subscription = fakeSubscription();
    const generations = new Generations(subscription);
    const updates: GenerationState[] = [];
    generations.on('update', (state) => updates.push(state));
    subscription.event('ai.started', {}, 2);
    subscription.signal('ai.delta', 0, 'Hel');
    subscription.signal('ai.delta', 0, 'Hel');
    subscription.signal('ai.delta', 2, 'there');
    expect(generations.get('g')?.text).toBe('Hel');
    subscription.signal('ai.delta', 1, 'lo ');
    expect(generations.get('g')).toMatchObject({ text: 'Hello there', status: 'streaming', replyTo: 1 });
    subscription.event('ai.completed', { text: 'Hello there' }, 3);
    subscription.signal('ai.delta', 3, 'late');
    expect(generations.get('g')).toMatchObject({ text: 'Hello there', status: 'completed' });
    expect(updates.at(-1)?.status).toBe('completed');
  });

  it('starts from a snapshot mid-answer and continues with the deltas after it', () => {
    const subscription = fakeSubscription();
    const generations = new Generations(subscription);
    subscription.event('ai.started', {}, 2);
    subscription.signal('ai.delta', 5, ' and more');
    subscription.signal('ai.snapshot', 4, 'text so far');
    subscription.signal('ai.delta', 4, 'dropped: covered by the snapshot');
    expect(generations.get('g')?.text).toBe('text so far and more');
  });

  it('takes the final text and the error of a failed answer', () => {
    const subscription = fakeSubscription();
    const generations = new Generations(subscription);
    subscription.signal('ai.delta', 0, 'par');
    subscription.event('ai.failed', { text: 'par', code: 'timeout', message: 'slow', fallbackText: 'Sorry' }, 3);
    expect(generations.get('g')).toMatchObject({ status: 'failed', text: 'par', error: { code: 'timeout', message: 'slow', fallbackText: 'Sorry' } });
  });

  it('carries the knowledge-base sources a completed answer cites', () => {
    const subscription = fakeSubscription();
    const generations = new Generations(subscription);
    const sources = [{ n: 1, chunkId: 'doc_a:0', documentId: 'doc_a', title: 'Returns', url: 'https://help.example/returns', heading: 'Returns > Refunds' }];
    subscription.event('ai.completed', { text: 'Within 5 days [1].', sources }, 3);
    expect(generations.get('g')).toMatchObject({ status: 'completed', sources });
    subscription.event('ai.completed', { text: 'No sources here.' }, 4);
    const other = new Generations(subscription);
    subscription.event('ai.completed', { text: 'No sources here.' }, 5);
    expect(other.get('g')?.sources).toBeUndefined();
  });
});
