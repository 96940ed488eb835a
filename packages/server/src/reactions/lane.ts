import type { ConversationEvent } from '@parley/protocol';
import type { Reaction, ReactionClaim, ReactionCursors } from '../core/ports.js';
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
  /** Woken again while visiting: visit once more when done. */
  again: boolean;
}

/**
 * One reaction on this node: the conversations it was woken for, visited at most `concurrency` at once and
 * each by one visit at a time. A visit claims the conversation's cursor, hands the events after it to the
 * reaction page by page, moves the cursor past each page handled, and lets go; a failure lets go too, with
 * a retry after a backoff, and the other conversations go on.
 */
export class ReactionLane {
  private readonly visiting = new Map<string, Visit>();
  /** Woken and waiting for a free place, oldest first. */
  private readonly waiting = new Map<string, ConversationKey>();
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>();
  private stopped = false;
  private idle: Array<() => void> = [];

  constructor(
    readonly reaction: Reaction,
    private readonly cursors: ReactionCursors,
    private readonly settings: LaneSettings,
    private readonly observer: LaneObserver,
  ) {}

  /** Something may have happened in the conversation: visit it (again, if a visit is under way). */
  wake(key: ConversationKey): void {
    if (this.stopped) return;
    const name = conversationKeyString(key);
    const visit = this.visiting.get(name);
    if (visit) visit.again = true;
    else if (!this.waiting.has(name)) this.waiting.set(name, key);
    this.pump();
  }

  /** Takes no further visit; resolves when the running ones are done or after `graceMs`, whichever is first. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.waiting.clear();
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    if (this.visiting.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A visit cut short keeps its lease until it expires; then another node does its events again.
    await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private pump(): void {
    for (const [name, key] of this.waiting) {
      if (this.visiting.size >= this.settings.concurrency) return;
      this.waiting.delete(name);
      const visit: Visit = { again: false };
      this.visiting.set(name, visit);
      void this.run(name, key, visit);
    }
  }

  private async run(name: string, key: ConversationKey, visit: Visit): Promise<void> {
    try {
      do {
        visit.again = false;
        await this.visit(key).catch((error: unknown) => this.observer.storeFailed?.(this.reaction.name, error));
      } while (visit.again && !this.stopped);
    } finally {
      this.visiting.delete(name);
      if (this.visiting.size === 0) for (const resolve of this.idle.splice(0)) resolve();
      this.pump();
    }
  }

  private async visit(key: ConversationKey): Promise<void> {
    const { leaseMs, pageSize } = this.settings;
    let claim = await this.cursors.claim(this.reaction.name, key, { leaseMs, limit: pageSize });
    while (claim && !this.stopped) {
      const handledThrough = await this.handlePage(claim);
      if (handledThrough === null) return;
      const outcome = await this.cursors.settle(claim, handledThrough, leaseMs);
      if (outcome !== 'more') return;
      claim = await this.cursors.claim(this.reaction.name, key, { leaseMs, limit: pageSize, token: claim.token });
    }
  }

  /** Hands the claim's events to the reaction; returns the seq handled through, or null after a failure (retried later). */
  private async handlePage(claim: ReactionClaim): Promise<number | null> {
    if (claim.events.length === 0) return claim.seq;
    const renewal = setInterval(() => void this.cursors.renew(claim, this.settings.leaseMs).catch(() => false), Math.max(10, this.settings.leaseMs / 3));
    try {
      await this.reaction.handle(claim.key, claim.events);
    } catch (error) {
      const retryInMs = this.backoff(claim.attempts);
      this.observer.failed?.(this.reaction.name, claim.key, error, retryInMs);
      await this.cursors.fail(claim, retryInMs, describe(error));
      this.retryLater(claim.key, retryInMs);
      return null;
    } finally {
      clearInterval(renewal);
    }
    this.observer.handled?.(this.reaction.name, claim.events);
    return claim.events.at(-1)!.seq;
  }

  /** Exponential, with full jitter on its upper half, so that failures of many conversations spread out. */
  private backoff(attempts: number): number {
    const ceiling = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** Math.min(attempts, 30));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** This node retries when the backoff is over (any node's sweep would find it too, a little later). */
  private retryLater(key: ConversationKey, delayMs: number): void {
    const name = conversationKeyString(key);
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
