import { lookup as dnsLookup } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { OutboundPolicy } from './outbound-policy.js';

/** Why an outbound request failed before an HTTP answer. */
export type OutboundFailure = 'refused' | 'timeout' | 'aborted' | 'network';

/** An outbound request that got no HTTP answer: refused by the policy, timed out, aborted, or a network error. */
export class OutboundError extends Error {
  constructor(
    readonly reason: OutboundFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OutboundError';
  }
}

/** One request to a tenant-configured URL. */
export interface OutboundRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** For the whole exchange: connect, send, and read the answer. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Bytes of the answer kept; the rest is not read (`truncated`). */
  maxResponseBytes: number;
}

/** The HTTP answer, whatever its status (redirects are answers too: they are never followed). */
export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  truncated: boolean;
}

type AddressGuard = (socket: Duplex, hostname: string) => void;

/** Agents whose every new connection is checked against the policy once connected (defence in depth after the lookup). */
class GuardedHttpAgent extends HttpAgent {
  constructor(private readonly guard: AddressGuard) {
    super({ keepAlive: true, scheduling: 'lifo' });
  }

  override createConnection(options: ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    if (socket) this.guard(socket, options.hostname ?? options.host ?? '');
    return socket;
  }
}

class GuardedHttpsAgent extends HttpsAgent {
  constructor(private readonly guard: AddressGuard) {
    super({ keepAlive: true, scheduling: 'lifo' });
  }

  override createConnection(options: ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    if (socket) this.guard(socket, options.hostname ?? options.host ?? '');
    return socket;
  }
}

/**
 * HTTP(S) client for URLs that tenants configure (webhooks, tool and context webhooks). Every address is
 * checked against the policy after DNS resolution, in the connection's own lookup (so a name that resolves
 * to a public address for a check and to a private one for the connection gains nothing), and again on the
 * connected socket. Redirects are not followed. Connections are kept alive and reused.
 */
export class OutboundHttp {
  private readonly httpAgent: GuardedHttpAgent;
  private readonly httpsAgent: GuardedHttpsAgent;

  constructor(readonly policy: OutboundPolicy) {
    const guard: AddressGuard = (socket, hostname) => this.guardConnection(socket as Socket, hostname);
    this.httpAgent = new GuardedHttpAgent(guard);
    this.httpsAgent = new GuardedHttpsAgent(guard);
  }

  /** Sends one request and reads its answer; throws an OutboundError when there is no answer. */
  async request(url: string, request: OutboundRequest): Promise<OutboundResponse> {
    const target = this.checkedUrl(url);
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    try {
      return await this.exchange(target, request, signal);
    } catch (error) {
      if (error instanceof OutboundError) throw error;
      if (timeout.aborted) throw new OutboundError('timeout', `no answer from ${target.host} within ${request.timeoutMs} ms`, { cause: error });
      if (signal.aborted) throw new OutboundError('aborted', 'the request was aborted', { cause: error });
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof OutboundError) throw cause;
      throw new OutboundError('network', `${target.host}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Closes idle kept-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The URL, if it is http(s) and, when its host is an address literal, an allowed one. */
  private checkedUrl(url: string): URL {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new OutboundError('refused', `not a URL: ${url}`);
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new OutboundError('refused', `only http and https URLs are called, not ${target.protocol}`);
    // An address literal is connected to without a lookup: check it here, before any connection.
    const host = bareHost(target.hostname);
    if (isIP(host) !== 0) this.check(host, host);
    return target;
  }

  private exchange(target: URL, request: OutboundRequest, signal: AbortSignal): Promise<OutboundResponse> {
    const https = target.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const outgoing = (https ? httpsRequest : httpRequest)(
        target,
        { method: request.method ?? 'POST', headers: request.headers, agent: https ? this.httpsAgent : this.httpAgent, lookup: this.lookup, signal },
        (response) => readAnswer(response, request.maxResponseBytes).then(resolve, reject),
      );
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });
  }

  /** dns.lookup, keeping only the addresses the policy allows; none left is a refusal. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const refusals = addresses.map((entry) => this.policy.refusal(hostname, entry.address));
      const allowed = addresses.filter((_, index) => refusals[index] === null);
      if (allowed.length === 0) return callback(new OutboundError('refused', refusals.find(Boolean) ?? `${hostname} did not resolve`), '');
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };

  private guardConnection(socket: Socket, hostname: string): void {
    socket.once('connect', () => {
      try {
        this.check(bareHost(hostname), socket.remoteAddress ?? '');
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
  }

  private check(hostname: string, address: string): void {
    const refusal = isIP(address) === 0 ? `no address to check for ${hostname}` : this.policy.refusal(hostname, address);
    if (refusal !== null) throw new OutboundError('refused', refusal);
  }
}

/** `[::1]` -> `::1`: URL host names keep the brackets of IPv6 literals. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Reads the answer up to `maxBytes`; beyond it the rest is dropped with the connection. */
function readAnswer(response: IncomingMessage, maxBytes: number): Promise<OutboundResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (truncated: boolean) =>
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'), truncated });
    response.on('data', (chunk: Buffer) => {
      const room = maxBytes - size;
      chunks.push(room < chunk.length ? chunk.subarray(0, room) : chunk);
      size += chunk.length;
      if (size > maxBytes) {
        response.destroy();
        done(true);
      }
    });
    response.on('end', () => done(false));
    response.on('error', reject);
  });
}
