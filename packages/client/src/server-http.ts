import type { UploadTarget } from '@parley/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { ParleyApiError, errorFromResponse, type ApiErrorCode } from './server-errors.js';

/** A `fetch` function: the global one, or any with its signature (a test double, a proxy agent's). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** Automatic retries: at most `retries` more attempts, `initialDelayMs` doubling up to `maxDelayMs` (full jitter). */
export interface RetryOptions extends BackoffOptions {
  retries: number;
}

/** The default retries: 3 more attempts, waiting up to 250 ms, 500 ms, 1 s (or what `Retry-After` says, up to 10 s). */
export const DEFAULT_RETRY: Readonly<RetryOptions> = { retries: 3, initialDelayMs: 250, maxDelayMs: 10_000 };

/** What `onRetry` is told before the SDK waits and sends a request again. */
export interface RetryInfo {
  method: string;
  path: string;
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  error: ParleyApiError;
}

/** One call of the server API. */
export interface ApiRequest<Result> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Below `/v1/api`, with its parameters already encoded. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether a repeat has no further effect, so that the call may be sent again after an unclear failure. */
  idempotent: boolean;
  /** Checks the answer's body when the client validates responses. */
  result?: { parse(value: unknown): Result };
}

/** The transport's settings, checked. */
export interface TransportOptions {
  /** The API's base URL, ending in `/v1/api`. */
  baseUrl: string;
  credential: string;
  fetch: FetchFunction;
  timeoutMs: number;
  retry: RetryOptions | null;
  validateResponses: boolean;
  onRetry: ((info: RetryInfo) => void) | undefined;
}

// Failures after which the request is refused or its fate unknown, and waiting may help.
const RETRIED_CODES: ReadonlySet<ApiErrorCode> = new Set<ApiErrorCode>(['rate_limited', 'busy', 'unavailable', 'timeout', 'disconnected']);

/**
 * Sends API requests with `fetch`: bearer credential, JSON bodies, a time limit per attempt, protocol errors as
 * ParleyApiError, and bounded retries of idempotent requests that honour `retryAfterMs` / `Retry-After`.
 */
export class ApiTransport {
  constructor(private readonly options: TransportOptions) {}

  async request<Result>(request: ApiRequest<Result>): Promise<Result> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(request);
      } catch (error) {
        const delayMs = error instanceof ParleyApiError ? this.retryDelay(request, error, attempt) : null;
        if (delayMs === null) throw error;
        this.options.onRetry?.({ method: request.method, path: request.path, attempt: attempt + 1, delayMs, error: error as ParleyApiError });
        await sleep(delayMs);
      }
    }
  }

  /** How long to wait before retry number `attempt`, or null to give up (not safe, not transient, or too long a wait). */
  private retryDelay(request: ApiRequest<unknown>, error: ParleyApiError, attempt: number): number | null {
    const retry = this.options.retry;
    if (!retry || !request.idempotent || attempt >= retry.retries || !RETRIED_CODES.has(error.code)) return null;
    const delayMs = error.retryAfterMs ?? backoffDelay(attempt, retry);
    return delayMs <= retry.maxDelayMs ? delayMs : null;
  }

  private async attempt<Result>(request: ApiRequest<Result>): Promise<Result> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const response = await this.options.fetch(this.urlOf(request), this.initOf(request, controller.signal));
      if (!response.ok) throw await errorFromResponse(response);
      return await this.readResult(request, response);
    } catch (error) {
      if (error instanceof ParleyApiError) throw error;
      if (controller.signal.aborted) throw new ParleyApiError('timeout', `${request.method} ${request.path} got no answer within ${this.options.timeoutMs} ms`, { cause: error });
      throw new ParleyApiError('disconnected', `${request.method} ${request.path} failed: ${describeFailure(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends an attachment's bytes where the server said: to object storage (an absolute presigned URL, which
   * carries its own signature: no credential is sent there), or through the server, with the credential.
   */
  async upload(target: UploadTarget, body: Uint8Array | Blob): Promise<void> {
    const viaServer = target.via === 'server';
    const url = viaServer ? `${this.options.baseUrl.replace(/\/v1\/api$/, '')}${target.url}` : target.url;
    const headers = viaServer ? { ...target.headers, authorization: `Bearer ${this.options.credential}` } : target.headers;
    let response: Response;
    try {
      response = await this.options.fetch(url, { method: target.method, headers, body: body as BodyInit });
    } catch (error) {
      throw new ParleyApiError('disconnected', `the upload failed: ${describeFailure(error)}`, { cause: error });
    }
    if (response.ok) return;
    if (viaServer) throw await errorFromResponse(response);
    const text = (await response.text()).slice(0, 300);
    throw new ParleyApiError(response.status >= 500 ? 'unavailable' : 'bad_request', `the storage refused the upload with ${response.status}: ${text}`, { status: response.status });
  }

  private urlOf(request: ApiRequest<unknown>): string {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const search = query.toString();
    return `${this.options.baseUrl}${request.path}${search ? `?${search}` : ''}`;
  }

  private initOf(request: ApiRequest<unknown>, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.options.credential}`, ...request.headers };
    if (request.body === undefined) return { method: request.method, headers, signal };
    headers['content-type'] = 'application/json';
    return { method: request.method, headers, body: JSON.stringify(request.body), signal };
  }

  private async readResult<Result>(request: ApiRequest<Result>, response: Response): Promise<Result> {
    if (response.status === 204) return undefined as Result;
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new ParleyApiError('internal', `${request.method} ${request.path} answered ${response.status} with a body that is not JSON`, { status: response.status, cause: error });
    }
    if (!this.options.validateResponses || !request.result) return body as Result;
    try {
      return request.result.parse(body);
    } catch (error) {
      throw new ParleyApiError('internal', `${request.method} ${request.path} answered with a body the protocol does not describe`, { status: response.status, cause: error });
    }
  }
}

/** A failed fetch's reason: Node's says only "fetch failed" and keeps the socket's error as its cause. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
  return cause ? `${message} (${cause})` : message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
