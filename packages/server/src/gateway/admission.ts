import { CountMap } from '../core/count-map.js';
import { ParleyError } from '../core/errors.js';

/** What admission checks, from the request that opens a connection. */
export interface AdmissionRequest {
  /** The `Origin` header; absent when the client is not a browser. */
  origin: string | undefined;
  /** The `Host` header. */
  host: string | undefined;
  remoteAddress: string;
}

export interface AdmissionOptions {
  /** Exact origins allowed; undefined allows only origins on the request's own host. */
  allowedOrigins: string[] | undefined;
  maxConnectionsPerIp: number;
  /** Whether new connections are refused (shutdown). */
  isDraining: () => boolean;
}

/**
 * Who may open a connection, for every transport alike (WebSocket, SSE, HTTP streaming, long-poll): the
 * origin allowlist, the per-IP connection limit (one count across transports) and the refusal while draining.
 */
export class ConnectionAdmission {
  private readonly perIp = new CountMap<string>();

  constructor(private readonly options: AdmissionOptions) {}

  /** Why a new connection is refused (`unavailable`, `forbidden`, `rate_limited`), or null when it may open. */
  refusal(request: AdmissionRequest): ParleyError | null {
    if (this.options.isDraining()) return new ParleyError('unavailable', 'server is shutting down', { retryAfterMs: 1000 });
    if (!this.originAllowed(request.origin, request.host)) return new ParleyError('forbidden', 'origin not allowed');
    if (this.perIp.get(request.remoteAddress) >= this.options.maxConnectionsPerIp) {
      return new ParleyError('rate_limited', 'too many connections from this address', { retryAfterMs: 1000 });
    }
    return null;
  }

  /** Whether a request with this `Origin` may use the transports (no Origin: not a browser, allowed). */
  originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.options.allowedOrigins) return this.options.allowedOrigins.includes(origin);
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  /** A connection from `address` opened; `closed` must follow once. */
  opened(address: string): void {
    this.perIp.increment(address);
  }

  closed(address: string): void {
    this.perIp.decrement(address);
  }
}
