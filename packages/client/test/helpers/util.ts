import { WebSocket } from 'ws';
import { ParleyClient, type ClientOptions } from '../../src/index.js';
import type { FakeServer } from './fake-server.js';

/** Polls `predicate` until it holds; fails after `timeoutMs` (a generous bound, not a speed assertion). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const clients: ParleyClient[] = [];

/** A client for `server` with fast reconnects; closed by `closeClients()`. */
export function createClient(server: FakeServer, options: Partial<ClientOptions> = {}): ParleyClient {
  const client = new ParleyClient({
    url: server.url,
    token: 'token-1',
    WebSocket,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    requestTimeoutMs: 3_000,
    ...options,
  });
  clients.push(client);
  return client;
}

export function closeClients(): void {
  for (const client of clients.splice(0)) client.close();
}

/** Records every value a subscribe-style `on` delivers. */
export function record<T>(on: (listener: (value: T) => void) => unknown): T[] {
  const values: T[] = [];
  on((value) => values.push(value));
  return values;
}
