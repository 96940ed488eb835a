import type { ConversationEvent, Signal } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { generationsStore, transportStore } from '../src/react.js';
import type { ParleyClient, TransportName } from '../src/index.js';
import type { Subscription } from '../src/subscription.js';

/** The store behind `useGenerations`: what React's useSyncExternalStore reads. */
describe('generationsStore', () => {
  it('gives one shared, stable snapshot per subscription that changes on every update', () => {
    const listeners: { event: Array<(event: ConversationEvent) => void>; signal: Array<(signal: Signal) => void> } = { event: [], signal: [] };
    const subscription = {
      on: (type: 'event' | 'signal', listener: never) => {
        (listeners[type] as unknown[]).push(listener);
        return () => undefined;
      },
    } as unknown as Subscription;
    const store = generationsStore(subscription);
    expect(generationsStore(subscription)).toBe(store);
    const first = store.getSnapshot();
    expect(first).toEqual([]);
    expect(store.getSnapshot()).toBe(first); // stable while nothing changes
    let renders = 0;
    const unsubscribe = store.subscribe(() => renders++);
    const delta = (generationId: string, index: number, text: string) =>
      listeners.signal.forEach((listener) => listener({ tenant: 't', conversation: 'c', type: 'ai.delta', ts: 0, actor: { kind: 'assistant', id: 'a' }, data: { generationId, index, text } }));
    delta('g1', 0, 'Hi');
    delta('g2', 0, 'Other');
    delta('g1', 1, ' there');
    expect(renders).toBe(3);
    expect(store.getSnapshot().map((state) => [state.generationId, state.text])).toEqual([
      ['g1', 'Hi there'],
      ['g2', 'Other'],
    ]);
    unsubscribe();
    delta('g1', 2, '!');
    expect(renders).toBe(3);
    expect(store.getSnapshot()[0]!.text).toBe('Hi there!');
  });
});

/** The store behind `useTransport`. */
describe('transportStore', () => {
  it('reads client.transport and re-renders on the transport event, one store per client', () => {
    const listeners: Array<(transport: TransportName) => void> = [];
    const client = {
      transport: undefined as TransportName | undefined,
      on: (type: string, listener: (transport: TransportName) => void) => {
        if (type === 'transport') listeners.push(listener);
        return () => listeners.splice(listeners.indexOf(listener), 1);
      },
    };
    const store = transportStore(client as unknown as ParleyClient);
    expect(transportStore(client as unknown as ParleyClient)).toBe(store);
    expect(store.getSnapshot()).toBeUndefined();
    let renders = 0;
    const unsubscribe = store.subscribe(() => renders++);
    client.transport = 'sse';
    listeners.forEach((listener) => listener('sse'));
    expect(renders).toBe(1);
    expect(store.getSnapshot()).toBe('sse');
    unsubscribe();
    expect(listeners).toHaveLength(0);
  });
});
