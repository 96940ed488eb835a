import { useSyncExternalStore } from 'react';
import type { ParleyClient } from './client.js';
import type { ClientState } from './options.js';
import { Generations, type GenerationState } from './generations.js';
import type { Subscription } from './subscription.js';
import type { TransportName } from './transports.js';

/** A value that changes over time, in the shape React's useSyncExternalStore reads. */
export interface ExternalStore<T> {
  subscribe(onChange: () => void): () => void;
  getSnapshot(): T;
}

const generationStores = new WeakMap<Subscription, ExternalStore<readonly GenerationState[]>>();

/**
 * The AI answers of a subscription as an external store: every answer's latest state, in the order the
 * answers started. One store per subscription, shared by every component that reads it.
 */
export function generationsStore(subscription: Subscription): ExternalStore<readonly GenerationState[]> {
  let store = generationStores.get(subscription);
  if (store) return store;
  const generations = new Generations(subscription);
  const listeners = new Set<() => void>();
  const order: string[] = [];
  let snapshot: readonly GenerationState[] = [];
  generations.on('update', (state) => {
    if (!order.includes(state.generationId)) order.push(state.generationId);
    snapshot = order.map((id) => generations.get(id)!);
    for (const listener of [...listeners]) listener();
  });
  store = {
    subscribe: (onChange) => {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    getSnapshot: () => snapshot,
  };
  generationStores.set(subscription, store);
  return store;
}

const connectionStores = new WeakMap<ParleyClient, ExternalStore<ClientState>>();

/** The connection state of a client as an external store; one per client, so React does not re-subscribe on every render. */
export function connectionStore(client: ParleyClient): ExternalStore<ClientState> {
  let store = connectionStores.get(client);
  if (!store) {
    store = { subscribe: (onChange) => client.on('state', onChange), getSnapshot: () => client.state };
    connectionStores.set(client, store);
  }
  return store;
}

const transportStores = new WeakMap<ParleyClient, ExternalStore<TransportName | undefined>>();

/** The transport a client uses (`client.transport`) as an external store; one per client. */
export function transportStore(client: ParleyClient): ExternalStore<TransportName | undefined> {
  let store = transportStores.get(client);
  if (!store) {
    store = { subscribe: (onChange) => client.on('transport', onChange), getSnapshot: () => client.transport };
    transportStores.set(client, store);
  }
  return store;
}

const EMPTY: readonly GenerationState[] = [];
const NO_STORE: ExternalStore<readonly GenerationState[]> = { subscribe: () => () => undefined, getSnapshot: () => EMPTY };

/** React hook: the AI answers of a subscription, re-rendering on every delta, snapshot and final event. */
export function useGenerations(subscription: Subscription | undefined): readonly GenerationState[] {
  const store = subscription ? generationsStore(subscription) : NO_STORE;
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** React hook: the client's connection state (for a "reconnecting" banner). */
export function useConnectionState(client: ParleyClient): ClientState {
  const store = connectionStore(client);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** React hook: the transport the client uses (`websocket`, `sse`, `long-poll`; undefined before it first connected). */
export function useTransport(client: ParleyClient): TransportName | undefined {
  const store = transportStore(client);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
