import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got: the raw body, its headers, the parsed payload, and what it answered. */
export interface ReceivedWebhook {
  id: string;
  timestamp: number;
  body: string;
  headers: IncomingHttpHeaders;
  payload: { type: string; timestamp: string; data: { id: string; conversation: string; seq: number; type: string; [key: string]: unknown } };
  /** The status answered; null when the receiver did not answer (a hang). */
  answered: number | null;
}

/** How to answer one request: a status, or `hang` (never answer: the sender times out). */
export type Answer = number | 'hang';

/**
 * A webhook receiver on 127.0.0.1 (tests allow-list it): records every request and answers as `decide` says
 * (200 by default). Counts requests open at once per path, to check concurrency bounds.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  decide: (request: ReceivedWebhook, path: string) => Answer = () => 200;
  /** The body answered with a status. */
  bodyOf: (status: number) => string = (status) => (status < 300 ? 'thanks' : `refused with ${status}`);
  private readonly open = new Map<string, number>();
  readonly maxOpen = new Map<string, number>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      const path = request.url ?? '/';
      this.enter(path);
      response.on('close', () => this.open.set(path, (this.open.get(path) ?? 1) - 1));
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        const entry: ReceivedWebhook = {
          id: String(request.headers['webhook-id']),
          timestamp: Number(request.headers['webhook-timestamp']),
          body,
          headers: request.headers,
          payload: JSON.parse(body) as ReceivedWebhook['payload'],
          answered: null,
        };
        this.received.push(entry);
        const answer = this.decide(entry, path);
        if (answer === 'hang') return;
        entry.answered = answer;
        response.writeHead(answer, { 'Content-Type': 'text/plain' }).end(this.bodyOf(answer));
      });
    });
  }

  /** Starts listening on 127.0.0.1 and a free port. */
  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  url(path = '/hooks'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** Requests answered 2xx, in the order they arrived. */
  accepted(): ReceivedWebhook[] {
    return this.received.filter((entry) => entry.answered !== null && entry.answered < 300);
  }

  /** Verifies a request with the `standardwebhooks` package, as a receiver would; throws if it does not verify. */
  static verify(secret: string, entry: ReceivedWebhook): unknown {
    const headers = { 'webhook-id': String(entry.headers['webhook-id']), 'webhook-timestamp': String(entry.headers['webhook-timestamp']), 'webhook-signature': String(entry.headers['webhook-signature']) };
    return new Webhook(secret).verify(entry.body, headers);
  }

  private enter(path: string): void {
    const now = (this.open.get(path) ?? 0) + 1;
    this.open.set(path, now);
    this.maxOpen.set(path, Math.max(this.maxOpen.get(path) ?? 0, now));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
