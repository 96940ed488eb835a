import type { ConversationEvent } from '@parley/protocol';
import type { ClaimRequest, Reaction, ReactionClaim, ReactionCursors } from '../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';

/** Timings and bounds of a reaction on one node. */
export interface LaneSettings {
  /** How long a claim holds a conversation without renewal (renewed every third of it while handling). */
  leaseMs: number;
  /** Events handed to one `handle` call at most. */
  pageSize: number;
  /** Conversations this node handles for the reaction at once; the others wait their turn here. */
  concurrency: number;
  /** The first retry after a failure; each further failure doubles it, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * How long an append may take to commit after it stamps its conversation. The sweep looks back this far,
   * plus a lease (a node that died holding a conversation lets go of it that much later).
   */
  lookbackMs: number;
}

/** What a lane reports, for metrics and logs. */
export interface LaneObserver {
  /** `handle` resolved for these events. */
  handled?(reaction: string, events: ConversationEvent[]): void;
  /** `handle` rejected; the events come again after `retryInMs`. */
  failed?(reaction: string, key: ConversationKey, error: unknown, retryInMs: number): void;
  /** The cursors could not be read or written (the store is down): the sweep finds the work again. */
  storeFailed?(reaction: string, error: unknown): void;
}

interface Visit {
  key: ConversationKey;
  /** Woken again while visiting: visit once more when done. */
  again: boolean;
}

// A conversation another statement was writing when it was claimed is asked for again after this.
const BUSY_RETRY_MS = 5;

/**
 * One reaction on this node: the conversations it was woken for, each visited by one visit at a time and
 * at most `concurrency` at once. A visit claims the conversation's cursor, hands the events after it to the
 * reaction page by page, moves the cursor past each page handled, and lets go; a failure lets go too, with
 * a retry after a backoff, and the other conversations go on. The claims of all conversations woken
 * meanwhile go to the store in one statement, and so do the settlements: a busy node costs the store a few
 * statements per batch of conversations, not two per event.
 */
export class ReactionLane {
  /** Conversations being visited (claiming, handling or settling), by name. */
  private readonly visiting = new Map<string, Visit>();
  /** Woken and waiting for a place, oldest first. */
  private readonly waiting = new Map<string, ConversationKey>();
  /** Events this node committed since its last claim of the conversation, contiguous: the claim need not read them. */
  private readonly known = new Map<string, ConversationEvent[]>();
  /** Holds whose next page is to be read (the conversation was ahead when they settled). */
  private continuing: ClaimRequest[] = [];
  private settling: Array<{ claim: ReactionClaim; seq: number }> = [];
  private claimScheduled = false;
  private claimInFlight = false;
  private settleScheduled = false;
  private settleInFlight = false;
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>();
  private stopped = false;
  private idle: Array<() => void> = [];

  constructor(
    readonly reaction: Reaction,
    private readonly cursors: ReactionCursors,
    private readonly settings: LaneSettings,
    private readonly observer: LaneObserver,
  ) {}

  /** Something may have happened in the conversation (`committed` here, if given): visit it (again, if a visit is under way). */
  wake(key: ConversationKey, committed?: ConversationEvent): void {
    if (this.stopped) return;
    const name = conversationKeyString(key);
    if (committed) this.keep(name, committed);
    const visit = this.visiting.get(name);
    if (visit) visit.again = true;
    else this.waiting.set(name, key);
    this.scheduleClaims();
  }

  /** Keeps a committed event for the next claim, if it continues the events kept (a page at most). */
  private keep(name: string, event: ConversationEvent): void {
    const events = this.known.get(name);
    const last = events?.at(-1);
    if (!events || !last || event.seq > last.seq + 1) this.known.set(name, [event]);
    else if (event.seq === last.seq + 1 && events.length < this.settings.pageSize) events.push(event);
  }

  /** Takes no further visit; resolves when the running ones are done or after `graceMs`, whichever is first. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.waiting.clear();
    this.known.clear();
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    if (this.visiting.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A visit cut short keeps its lease until it expires; then another node does its events again.
    await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  /** Claims go out once the current run of wakes is over (a microtask later), together. */
  private scheduleClaims(): void {
    if (this.claimScheduled || this.claimInFlight) return;
    this.claimScheduled = true;
    queueMicrotask(() => {
      this.claimScheduled = false;
      void this.claimBatch();
    });
  }

  private async claimBatch(): Promise<void> {
    const requests = this.takeRequests();
    if (requests.length === 0) return;
    this.claimInFlight = true;
    let outcome: Awaited<ReturnType<ReactionCursors['claim']>> | null = null;
    try {
      outcome = await this.cursors.claim(this.reaction.name, requests, { leaseMs: this.settings.leaseMs, limit: this.settings.pageSize });
    } catch (error) {
      this.observer.storeFailed?.(this.reaction.name, error);
    }
    this.claimInFlight = false;
    const claimed = new Set(outcome?.claims.map((claim) => conversationKeyString(claim.key)));
    const busy = new Set(outcome?.busy.map(conversationKeyString));
    for (const request of requests) {
      const name = conversationKeyString(request.key);
      if (claimed.has(name)) continue;
      // Written by another statement at this instant: asked for again shortly, a hold of ours with its token.
      if (busy.has(name) && request.token !== undefined) setTimeout(() => this.continueLater(request), BUSY_RETRY_MS).unref();
      else if (busy.has(name)) this.retryLater(request.key, BUSY_RETRY_MS);
      // Else held elsewhere (that node looks again before it lets go), or waiting for a retry: not this node's now.
      if (!busy.has(name) || request.token === undefined) this.finish(request.key);
    }
    for (const claim of outcome?.claims ?? []) void this.handlePage(claim);
    if (this.waiting.size > 0 || this.continuing.length > 0) this.scheduleClaims();
  }

  private continueLater(request: ClaimRequest): void {
    this.continuing.push(request);
    this.scheduleClaims();
  }

  /** The continuing holds, then woken conversations while there is room. */
  private takeRequests(): ClaimRequest[] {
    const requests = this.continuing;
    this.continuing = [];
    if (this.stopped) {
      // Their leases run out; another node goes on then.
      for (const request of requests) this.finish(request.key);
      return [];
    }
    for (const [name, key] of this.waiting) {
      if (this.visiting.size >= this.settings.concurrency) break;
      this.waiting.delete(name);
      this.visiting.set(name, { key, again: false });
      const known = this.known.get(name);
      this.known.delete(name);
      requests.push(known ? { key, known } : { key });
    }
    // What is claimed now reads everything committed so far: earlier wakes are answered by it.
    for (const request of requests) this.visiting.get(conversationKeyString(request.key))!.again = false;
    return requests;
  }

  /** Hands the claim's events to the reaction, then settles; after a failure, lets go with a retry later. */
  private async handlePage(claim: ReactionClaim): Promise<void> {
    if (claim.events.length === 0) return this.settleLater(claim, claim.seq);
    const renewal = setInterval(() => void this.cursors.renew(claim, this.settings.leaseMs).catch(() => false), Math.max(10, this.settings.leaseMs / 3));
    try {
      await this.reaction.handle(claim.key, claim.events);
    } catch (error) {
      await this.failed(claim, error);
      return;
    } finally {
      clearInterval(renewal);
    }
    this.observer.handled?.(this.reaction.name, claim.events);
    this.settleLater(claim, claim.events.at(-1)!.seq);
  }

  private async failed(claim: ReactionClaim, error: unknown): Promise<void> {
    const retryInMs = this.backoff(claim.attempts);
    this.observer.failed?.(this.reaction.name, claim.key, error, retryInMs);
    try {
      await this.cursors.fail(claim, retryInMs, describe(error));
      this.retryLater(claim.key, retryInMs);
    } catch (failure) {
      // The lease runs out instead; the sweep finds the conversation due then.
      this.observer.storeFailed?.(this.reaction.name, failure);
    }
    this.finish(claim.key);
  }

  private settleLater(claim: ReactionClaim, seq: number): void {
    this.settling.push({ claim, seq });
    this.scheduleSettles();
  }

  /**
   * Settlements go out after the current turn, together: what the reaction started meanwhile (a job that
   * reads the store at once, say) goes first, which counts with a store of one connection (PGlite).
   */
  private scheduleSettles(): void {
    if (this.settleScheduled || this.settleInFlight) return;
    this.settleScheduled = true;
    setImmediate(() => {
      this.settleScheduled = false;
      void this.settleBatch();
    });
  }

  private async settleBatch(): Promise<void> {
    const settlements = this.settling;
    this.settling = [];
    if (settlements.length === 0) return;
    this.settleInFlight = true;
    let outcomes: Array<'released' | 'more' | 'lost'>;
    try {
      outcomes = await this.cursors.settle(settlements, { leaseMs: this.settings.leaseMs, keep: !this.stopped, recentMs: this.settings.lookbackMs });
    } catch (error) {
      // Handled but not recorded: the leases run out and the events come again (at least once).
      this.observer.storeFailed?.(this.reaction.name, error);
      outcomes = settlements.map(() => 'lost');
    } finally {
      this.settleInFlight = false;
    }
    settlements.forEach(({ claim }, index) => {
      if (outcomes[index] === 'more') this.continuing.push({ key: claim.key, token: claim.token });
      else this.finish(claim.key);
    });
    if (this.continuing.length > 0) this.scheduleClaims();
    if (this.settling.length > 0) this.scheduleSettles();
  }

  /** The visit is over; a wake that came meanwhile starts the next one. */
  private finish(key: ConversationKey): void {
    const name = conversationKeyString(key);
    const visit = this.visiting.get(name);
    this.visiting.delete(name);
    if (visit?.again && !this.stopped) this.waiting.set(name, key);
    if (this.visiting.size === 0) for (const resolve of this.idle.splice(0)) resolve();
    if (this.waiting.size > 0) this.scheduleClaims();
  }

  /** Exponential, with full jitter on its upper half, so that failures of many conversations spread out. */
  private backoff(attempts: number): number {
    const ceiling = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** Math.min(attempts, 30));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** This node wakes the conversation again after `delayMs` (any node's sweep would find it too, later). */
  private retryLater(key: ConversationKey, delayMs: number): void {
    const name = conversationKeyString(key);
    if (this.stopped) return;
    clearTimeout(this.retries.get(name));
    const timer = setTimeout(() => {
      this.retries.delete(name);
      this.wake(key);
    }, delayMs + 5);
    timer.unref();
    this.retries.set(name, timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
