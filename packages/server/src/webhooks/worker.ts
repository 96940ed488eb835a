import { randomBytes } from 'node:crypto';
import type { ClaimedWebhookDelivery, WebhookAttemptResult, WebhookStore } from '../core/ports.js';
import type { OutboundHttp } from '../net/outbound-http.js';
import { signedHeaders, webhookBody } from './payload.js';

/** What became of one attempt: delivered, to be retried, or finally failed (retry window used up). */
export type AttemptOutcome = 'delivered' | 'retrying' | 'failed';

/** Hooks for metrics and logs. */
export interface WebhookObserver {
  attempted?(outcome: AttemptOutcome, seconds: number): void;
  endpointDisabled?(endpointId: string, reason: string): void;
  /** The store failed while claiming, recording or pruning; the worker goes on at its next wake. */
  failed?(error: unknown): void;
}

/** How the worker delivers. */
export interface WebhookWorkerOptions {
  store: WebhookStore;
  outbound: OutboundHttp;
  /** Deliveries in flight on this node. */
  concurrency: number;
  /** Deliveries in flight to one endpoint from this node (less than `concurrency`). */
  perEndpoint: number;
  /** One attempt's deadline: connect, send, answer. */
  timeoutMs: number;
  /** How long a delivery is retried; an endpoint failing for this long is disabled. */
  retryWindowMs: number;
  /** The first retry waits up to this long, each further one up to twice as long as the one before ... */
  retryBaseMs: number;
  /** ... but never more than this (default an hour). */
  retryMaxMs?: number;
  /** Due deliveries are looked for this often, besides when woken (default 1 s). */
  pollMs?: number;
  /** Finished deliveries are deleted after this long (default 30 days). */
  logRetentionMs?: number;
  observer?: WebhookObserver;
}

// Bytes of an answer kept in the delivery log, and characters of an error.
const KEPT_RESPONSE_BYTES = 1024;
const KEPT_ERROR_CHARACTERS = 1000;
// A lease outlasts the attempt's timeout by this much, so that only a dead worker's lease expires.
const LEASE_MARGIN_MS = 30_000;
const HOUR_MS = 3_600_000;
const PRUNE_INTERVAL_MS = HOUR_MS;
const PRUNE_BATCH = 1000;

/**
 * Delivers pending webhook deliveries; runs on every node. Claims due deliveries with a lease (the store
 * hands each to one worker and, per endpoint and conversation, only the oldest pending one, so order holds),
 * signs each attempt anew, POSTs it through the outbound client, and records the outcome: delivered, a retry
 * after an exponential backoff with full jitter, or failed once the retry window is used up. An endpoint that
 * has failed for the whole window is disabled. In-flight deliveries are bounded per node and per endpoint and
 * each attempt by its timeout, so a slow endpoint holds only its own slots.
 */
export class WebhookWorker {
  /** Identifies this worker's leases. */
  readonly owner = `worker-${randomBytes(6).toString('hex')}`;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly busy = new Map<string, number>();
  private running = false;
  private claiming = false;
  private again = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WebhookWorkerOptions) {}

  /** Starts claiming: now, on every wake and every poll. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.pollTimer = setInterval(() => this.wake(), this.options.pollMs ?? 1000).unref();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS).unref();
    this.wake();
  }

  /** Looks for due deliveries now (new ones were enqueued, or one was redelivered). */
  wake(): void {
    if (!this.running) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    void this.claimWhileRoom();
  }

  /** Stops claiming and waits for the attempts in flight to be recorded. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.pollTimer);
    clearInterval(this.pruneTimer);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Deliveries in flight on this node. */
  get activeCount(): number {
    return this.inFlight.size;
  }

  private async claimWhileRoom(): Promise<void> {
    this.claiming = true;
    try {
      do {
        this.again = false;
        const room = this.options.concurrency - this.inFlight.size;
        if (room <= 0) break;
        const now = Date.now();
        const claimed = await this.options.store.claim({
          owner: this.owner,
          now,
          leaseUntil: now + this.options.timeoutMs + LEASE_MARGIN_MS,
          limit: room,
          perEndpoint: this.options.perEndpoint,
          busy: this.busy,
        });
        for (const delivery of claimed) this.launch(delivery);
        // A full batch: more may be due.
        if (claimed.length === room) this.again = true;
      } while (this.again && this.running);
    } catch (error) {
      this.options.observer?.failed?.(error);
    } finally {
      this.claiming = false;
    }
  }

  private launch(claimed: ClaimedWebhookDelivery): void {
    const endpointId = claimed.delivery.endpointId;
    this.busy.set(endpointId, (this.busy.get(endpointId) ?? 0) + 1);
    const attempt = this.attempt(claimed)
      .catch((error: unknown) => this.options.observer?.failed?.(error))
      .finally(() => {
        const left = (this.busy.get(endpointId) ?? 1) - 1;
        if (left > 0) this.busy.set(endpointId, left);
        else this.busy.delete(endpointId);
        this.inFlight.delete(attempt);
        // A slot is free, and the conversation's next delivery may now be due.
        this.wake();
      });
    this.inFlight.add(attempt);
  }

  private async attempt(claimed: ClaimedWebhookDelivery): Promise<void> {
    const started = performance.now();
    const sent = await this.send(claimed);
    const now = Date.now();
    const next = sent.ok ? ({ status: 'delivered' } as const) : this.afterFailure(claimed, now);
    const result: WebhookAttemptResult = {
      deliveryId: claimed.delivery.id,
      endpointId: claimed.delivery.endpointId,
      conversationId: claimed.delivery.conversationId,
      owner: this.owner,
      attempt: claimed.delivery.attempts,
      now,
      next,
      statusCode: sent.statusCode,
      response: sent.response,
      error: sent.error,
      runGapMs: this.retryMaxMs + this.options.timeoutMs + LEASE_MARGIN_MS,
    };
    const { recorded, failingSince } = await this.options.store.finishAttempt(result);
    this.options.observer?.attempted?.(next.status === 'pending' ? 'retrying' : next.status, (performance.now() - started) / 1000);
    if (recorded && !sent.ok && failingSince !== null && this.failedTooLong(claimed, next, failingSince, now)) {
      await this.disable(claimed.delivery.endpointId, failingSince, sent.error);
    }
  }

  /**
   * Whether the endpoint has failed for the whole retry window: its failing run is that long, or this delivery
   * has used up its window without the endpoint answering any attempt well since this delivery first failed.
   */
  private failedTooLong(claimed: ClaimedWebhookDelivery, next: WebhookAttemptResult['next'], failingSince: number, now: number): boolean {
    if (now - failingSince >= this.options.retryWindowMs) return true;
    return next.status === 'failed' && failingSince <= (claimed.firstFailedAt ?? now);
  }

  /** POSTs the signed event; any answer but 2xx (redirects too: they are not followed) is a failure. */
  private async send(claimed: ClaimedWebhookDelivery): Promise<{ ok: boolean; statusCode: number | null; response: string | null; error: string | null }> {
    const body = webhookBody(claimed.event);
    try {
      const response = await this.options.outbound.request(claimed.url, {
        headers: signedHeaders(claimed.secrets, claimed.event.id, body, Date.now()),
        body,
        timeoutMs: this.options.timeoutMs,
        maxResponseBytes: KEPT_RESPONSE_BYTES,
      });
      const ok = response.status >= 200 && response.status <= 299;
      const redirect = response.status >= 300 && response.status <= 399 ? ' (redirects are not followed)' : '';
      return { ok, statusCode: response.status, response: storable(response.body), error: ok ? null : `HTTP ${response.status}${redirect}` };
    } catch (error) {
      return { ok: false, statusCode: null, response: null, error: storable((error as Error).message).slice(0, KEPT_ERROR_CHARACTERS) };
    }
  }

  /** A retry after the backoff, at the latest at the window's end; failed once the window is over. */
  private afterFailure(claimed: ClaimedWebhookDelivery, now: number): WebhookAttemptResult['next'] {
    const deadline = claimed.windowStart + this.options.retryWindowMs;
    if (now >= deadline) return { status: 'failed' };
    return { status: 'pending', at: Math.min(now + retryDelay(claimed.delivery.attempts, this.options.retryBaseMs, this.retryMaxMs), deadline) };
  }

  private async disable(endpointId: string, failingSince: number, lastError: string | null): Promise<void> {
    const hours = Math.round((this.options.retryWindowMs / HOUR_MS) * 100) / 100;
    const reason = `every attempt failed since ${new Date(failingSince).toISOString()} (the retry window is ${hours} h); last error: ${lastError ?? 'unknown'}`;
    // Several deliveries may find the window over at once: the first one disables the endpoint.
    if (await this.options.store.disableEndpoint(endpointId, reason, Date.now())) this.options.observer?.endpointDisabled?.(endpointId, reason);
  }

  private async prune(): Promise<void> {
    const before = Date.now() - (this.options.logRetentionMs ?? 30 * 24 * HOUR_MS);
    try {
      while ((await this.options.store.pruneDeliveries(before, PRUNE_BATCH)) === PRUNE_BATCH && this.running);
    } catch (error) {
      this.options.observer?.failed?.(error);
    }
  }

  private get retryMaxMs(): number {
    return this.options.retryMaxMs ?? HOUR_MS;
  }
}

/** Text as PostgreSQL stores it: an answer may hold NUL characters, which a text column refuses. */
function storable(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD');
}

/**
 * The wait before retry number `attempt` (1 after the first failure): exponential backoff with full jitter,
 * a random time up to `baseMs` doubled per attempt, capped at `maxMs`, so that retries of many deliveries
 * after one outage spread out instead of arriving together.
 */
export function retryDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}
