import { ParleyClientError } from './errors.js';

/** How a client reaches the server: a WebSocket, or one of the HTTP fallbacks (Server-Sent Events, long-polling). */
export type TransportName = 'websocket' | 'sse' | 'long-poll';

/** Every transport, in the order the client tries them by default. */
export const TRANSPORT_NAMES: readonly TransportName[] = ['websocket', 'sse', 'long-poll'];

/** The HTTP fallback endpoints of a server, derived from its WebSocket URL. */
export interface RealtimeEndpoints {
  stream: string;
  poll: string;
  send: string;
}

/**
 * The fallback endpoints next to a WebSocket endpoint: `wss://host/v1/ws` becomes `https://host/v1/rt/stream`,
 * `.../rt/poll` and `.../rt/send`. Throws `bad_request` when the URL's path does not end in `/ws`.
 */
export function realtimeEndpoints(webSocketUrl: string): RealtimeEndpoints {
  let url: URL;
  try {
    url = new URL(webSocketUrl);
  } catch (error) {
    throw new ParleyClientError('bad_request', `url is not a valid URL: ${webSocketUrl}`, { cause: error });
  }
  if (!url.pathname.endsWith('/ws')) {
    throw new ParleyClientError('bad_request', `url must end in /ws (e.g. wss://host/v1/ws) for the HTTP transports to be found next to it: ${webSocketUrl}`);
  }
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  const base = url.pathname.slice(0, -'ws'.length) + 'rt/';
  const endpoint = (name: string) => {
    const target = new URL(url);
    target.pathname = base + name;
    return target.toString();
  };
  return { stream: endpoint('stream'), poll: endpoint('poll'), send: endpoint('send') };
}

// How long after a transport that worked drops the client retries that transport alone, before the others.
const SAME_TRANSPORT_MS = 10_000;

/**
 * Which transports to try, in which order, on each connection attempt. An attempt starts at the transport
 * that worked last and moves down the list while transports fail to open; when none opens, the next attempt
 * starts again from the top (a failure of every transport says the server is away, not that WebSockets are blocked).
 * For 10 s after a transport that worked drops, attempts retry it alone: a network that is briefly away fails
 * every transport at once, and moving down the list then would leave a WebSocket client on a fallback (and
 * waiting out a fallback's open timeout) when the network comes back.
 */
export class TransportOrder {
  private preferred = 0;
  /** Whether a transport has opened yet in this client's life. */
  private worked = false;
  /** When the first attempt failed since a transport last opened; undefined while none has. */
  private failingSince: number | undefined;

  constructor(
    readonly transports: readonly TransportName[],
    private readonly now: () => number = Date.now,
  ) {}

  /** The transports to try in this attempt, in order. */
  attempt(): readonly TransportName[] {
    const retryingAlone = this.worked && (this.failingSince === undefined || this.now() - this.failingSince < SAME_TRANSPORT_MS);
    return retryingAlone ? this.transports.slice(this.preferred, this.preferred + 1) : this.transports.slice(this.preferred);
  }

  /** A transport opened: later attempts start with it. */
  opened(transport: TransportName): void {
    this.preferred = Math.max(0, this.transports.indexOf(transport));
    this.worked = true;
    this.failingSince = undefined;
  }

  /** No transport opened in an attempt: once the one that worked has been retried alone long enough, start from the top. */
  failed(): void {
    this.failingSince ??= this.now();
    if (!this.worked || this.now() - this.failingSince >= SAME_TRANSPORT_MS) this.preferred = 0;
  }

  /** A probe found the first transport working again: the next attempt starts with it. */
  restart(): void {
    this.preferred = 0;
    this.failingSince = undefined;
  }
}
