import type { Ack, OperationArgs } from '@parley/protocol';
import { ParleyClientError, toClientError } from './errors.js';

/** The arguments of a `message.send` request. */
export type SendArgs = OperationArgs<'message.send'>;

/** What the outbox needs from the client. */
export interface OutboxOptions {
  /** Most messages kept unacknowledged at once. */
  limit: number;
  /** Sends on the current connection; undefined while there is none. */
  send(args: SendArgs): Promise<Ack> | undefined;
  /** The delay before retry number `attempt`, when the server did not say. */
  retryDelay(attempt: number): number;
}

interface Entry {
  args: SendArgs;
  promise: Promise<Ack>;
  resolve(ack: Ack): void;
  reject(error: ParleyClientError): void;
  inFlight: boolean;
  attempt: number;
}

/**
 * Messages sent but not yet acknowledged, oldest first. Re-sends keep the clientMsgId, so they cannot create a
 * second message: the server answers a repeat with the original ack (`duplicate: true`).
 */
export class Outbox {
  private readonly entries = new Map<string, Entry>();
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: OutboxOptions) {}

  /** How many messages wait for an ack. */
  get size(): number {
    return this.entries.size;
  }

  /** Queues a message and sends it if connected; resolves with its ack. Rejects with `busy` when the outbox is full. */
  enqueue(args: SendArgs): Promise<Ack> {
    const existing = this.entries.get(args.clientMsgId);
    if (existing) return existing.promise;
    if (this.entries.size >= this.options.limit) {
      return Promise.reject(new ParleyClientError('busy', `the outbox is full: ${this.options.limit} messages wait for an ack`));
    }
    const entry = createEntry(args);
    this.entries.set(args.clientMsgId, entry);
    if (this.pauseTimer === undefined) this.dispatch(entry);
    return entry.promise;
  }

  /** Sends every message not in flight, oldest first; called after each (re)connect. */
  flush(): void {
    if (this.pauseTimer !== undefined) return;
    for (const entry of this.entries.values()) if (!entry.inFlight) this.dispatch(entry);
  }

  /** Gives up on every message (the client closed). */
  rejectAll(error: ParleyClientError): void {
    if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) entry.reject(error);
  }

  private dispatch(entry: Entry): void {
    const reply = this.options.send(entry.args);
    if (!reply) return;
    entry.inFlight = true;
    reply.then(
      (ack) => this.acknowledged(entry, ack),
      (error: unknown) => this.failed(entry, toClientError(error)),
    );
  }

  private acknowledged(entry: Entry, ack: Ack): void {
    if (this.entries.get(entry.args.clientMsgId) !== entry) return;
    this.entries.delete(entry.args.clientMsgId);
    entry.resolve(ack);
  }

  private failed(entry: Entry, error: ParleyClientError): void {
    if (this.entries.get(entry.args.clientMsgId) !== entry) return;
    entry.inFlight = false;
    if (error.code === 'disconnected') return; // flush() re-sends it after reconnecting
    if (!error.retryable) {
      this.entries.delete(entry.args.clientMsgId);
      return entry.reject(error);
    }
    // Pause everything, not just this message, so that retries keep the original order as far as possible.
    this.pause(error.retryAfterMs ?? this.options.retryDelay(entry.attempt++));
  }

  private pause(delayMs: number): void {
    if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      this.flush();
    }, delayMs);
  }
}

function createEntry(args: SendArgs): Entry {
  let settle = { resolve: (_ack: Ack) => {}, reject: (_error: ParleyClientError) => {} };
  const promise = new Promise<Ack>((resolve, reject) => (settle = { resolve, reject }));
  return { args, promise, ...settle, inFlight: false, attempt: 0 };
}
