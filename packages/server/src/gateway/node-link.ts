import { randomBytes } from 'node:crypto';
import { errorBodySchema } from '@parley/protocol';
import { z } from 'zod';
import type { Bus } from '../core/ports.js';
import { ParleyError, toParleyError } from '../core/errors.js';

/** The bus topic a node listens on for messages addressed to it. */
export function nodeTopic(nodeId: string): string {
  return `rt.${nodeId}`;
}

const messageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('request'), id: z.string(), from: z.string(), op: z.string(), payload: z.unknown() }),
  z.object({ kind: z.literal('response'), id: z.string(), result: z.unknown().optional(), error: errorBodySchema.optional() }),
  z.object({ kind: z.literal('notice'), from: z.string(), op: z.string(), payload: z.unknown() }),
]);
type LinkMessage = z.infer<typeof messageSchema>;

/** What a node does with the messages addressed to it. Payloads are unvalidated: handlers check them. */
export interface NodeLinkHandlers {
  /** A request from node `from`: its result (JSON-serializable) or a thrown error is the response. */
  request(op: string, payload: unknown, from: string): Promise<unknown>;
  /** A one-way message from node `from`. */
  notice(op: string, payload: unknown, from: string): void;
}

interface Waiting {
  resolve: (result: unknown) => void;
  reject: (error: ParleyError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests and one-way messages between two nodes over the bus: each node listens on its own topic, a
 * request carries an id and the sender's node, and the answer comes back on the sender's topic. A request
 * not answered in time (the other node is gone) fails with `session_expired`; the bus being down, with
 * `unavailable`.
 */
export class NodeLink {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly bus: Pick<Bus, 'publishTopic' | 'onTopic'>,
    readonly nodeId: string,
    private readonly handlers: NodeLinkHandlers,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Starts listening on this node's topic. */
  start(): Promise<void> {
    return this.bus.onTopic(nodeTopic(this.nodeId), (message) => this.receive(message));
  }

  /** Sends `payload` to `node` and resolves with its answer, or rejects within `timeoutMs`. */
  request(node: string, op: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const id = randomBytes(9).toString('base64url');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new ParleyError('session_expired', 'the node holding this session did not answer (it may be gone); open a new session and resume by seq'));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.publish(node, { kind: 'request', id, from: this.nodeId, op, payload }).catch((error: unknown) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new ParleyError('unavailable', 'cannot reach the node holding this session; retry shortly', { retryAfterMs: 1000, cause: error }));
      });
    });
  }

  /** Sends a one-way message to `node`; best effort (rejects when the bus is down). */
  notify(node: string, op: string, payload: unknown): Promise<void> {
    return this.publish(node, { kind: 'notice', from: this.nodeId, op, payload });
  }

  /** Fails every request still waiting (the node stops). */
  close(): void {
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new ParleyError('unavailable', 'server is shutting down', { retryAfterMs: 1000 }));
      this.waiting.delete(id);
    }
  }

  private publish(node: string, message: LinkMessage): Promise<void> {
    return this.bus.publishTopic(nodeTopic(node), message);
  }

  private receive(raw: unknown): void {
    const parsed = messageSchema.safeParse(raw);
    if (!parsed.success) return; // not ours: another writer on the topic
    const message = parsed.data;
    if (message.kind === 'response') return this.answered(message);
    if (message.kind === 'notice') return this.handlers.notice(message.op, message.payload, message.from);
    void this.answer(message);
  }

  private async answer(message: Extract<LinkMessage, { kind: 'request' }>): Promise<void> {
    let response: LinkMessage;
    try {
      response = { kind: 'response', id: message.id, result: await this.handlers.request(message.op, message.payload, message.from) };
    } catch (error) {
      const failure = toParleyError(error);
      if (failure.code === 'internal') this.onError(error);
      response = { kind: 'response', id: message.id, error: failure.toBody() };
    }
    await this.publish(message.from, response).catch(this.onError);
  }

  private answered(message: Extract<LinkMessage, { kind: 'response' }>): void {
    const waiting = this.waiting.get(message.id);
    if (!waiting) return; // timed out already
    this.waiting.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error) waiting.reject(new ParleyError(message.error.code, message.error.message, message.error.retryAfterMs !== undefined ? { retryAfterMs: message.error.retryAfterMs } : {}));
    else waiting.resolve(message.result);
  }
}
