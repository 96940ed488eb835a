import type { ConversationEvent } from '@parley/protocol';

/** How an OrderedFeed reads missed events and hands on ordered ones. */
export interface OrderedFeedOptions {
  /** The last seq the subscriber already has; delivery continues at lastSeq + 1. */
  lastSeq: number;
  /** Reads committed events with seq > after, ascending (hot log, else store). */
  fetchAfter: (after: number, limit: number) => Promise<ConversationEvent[]>;
  deliver: (event: ConversationEvent) => void;
  /** Called after each replayed event; a returned promise pauses the replay until the subscriber can take more. */
  pace?: () => Promise<void> | undefined;
  /** Called when the feed cannot continue (a fetch failed); the feed is closed then. */
  onError: (error: Error) => void;
  /** How long an event that arrived ahead of its predecessors waits for them before the gap is fetched. */
  holdMs: number;
  pageSize: number;
  /** Most live events held at once; beyond it they are dropped and read from the log instead, so memory stays bounded. */
  maxHeld: number;
}

/**
 * Turns a live stream that may repeat, reorder or drop events into exactly-once, in-order delivery by seq.
 * Gaps are filled from `fetchAfter`; live events that arrive meanwhile are held and merged at the seam.
 */
export class OrderedFeed {
  private lastSeq: number;
  private readonly held = new Map<number, ConversationEvent>();
  private healing: Promise<void> | null = null;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  // Until the first catchUp, live events are only held: the subscriber is told it is subscribed first.
  private started = false;
  // Held events were dropped: once the running read ends, read again from where it stopped.
  private rereadNeeded = false;

  constructor(private readonly options: OrderedFeedOptions) {
    this.lastSeq = options.lastSeq;
  }

  /** The seq of the last delivered event. */
  get position(): number {
    return this.lastSeq;
  }

  /** Offers a live event. */
  push(event: ConversationEvent): void {
    if (this.closed || event.seq <= this.lastSeq) return;
    if (event.seq === this.lastSeq + 1 && !this.healing && this.started) {
      this.deliver(event);
      this.releaseHeld();
      return;
    }
    if (this.held.size >= this.options.maxHeld) {
      // Every event is committed before it is published, so the log has them all: drop, and read them later.
      this.held.clear();
      this.rereadNeeded = true;
      if (this.started && !this.healing) void this.catchUp();
      return;
    }
    this.held.set(event.seq, event);
    if (this.started && !this.healing && !this.holdTimer) {
      this.holdTimer = setTimeout(() => void this.catchUp(), this.options.holdMs);
    }
  }

  /**
   * Reads and delivers everything committed after the current position; resolves when that read is done.
   * Asked while a read runs, it reads once more after it, and resolves with the running one.
   */
  catchUp(): Promise<void> {
    this.started = true;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    if (this.closed) return Promise.resolve();
    // Asked again while a read runs: what it was asked for may have been committed after that read's
    // last page, so read once more when it ends.
    if (this.healing) {
      this.rereadNeeded = true;
      return this.healing;
    }
    this.healing = this.heal()
      .catch((error: unknown) => this.fail(error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.healing = null;
        this.releaseHeld();
        if (this.rereadNeeded && !this.closed) {
          this.rereadNeeded = false;
          void this.catchUp();
          return;
        }
        // Held events still beyond a gap: the store had not caught up yet; try again after the hold.
        if (this.held.size > 0 && !this.closed) this.holdTimer = setTimeout(() => void this.catchUp(), this.options.holdMs);
      });
    return this.healing;
  }

  /**
   * Live events may have been lost (the bus re-subscribed or has just become live): reads the log again. Before
   * the first catchUp it does nothing, since that one reads everything and the subscriber must be told it is
   * subscribed before any event.
   */
  catchUpIfStarted(): void {
    if (this.started) void this.catchUp();
  }

  close(): void {
    this.closed = true;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.held.clear();
  }

  private async heal(): Promise<void> {
    for (;;) {
      const page = await this.options.fetchAfter(this.lastSeq, this.options.pageSize);
      if (this.closed) return;
      for (const event of page) {
        if (event.seq !== this.lastSeq + 1) continue;
        this.deliver(event);
        await this.options.pace?.();
        if (this.closed) return;
      }
      this.releaseHeld();
      if (page.length < this.options.pageSize) return;
    }
  }

  private releaseHeld(): void {
    for (const seq of [...this.held.keys()]) if (seq <= this.lastSeq) this.held.delete(seq);
    let next = this.held.get(this.lastSeq + 1);
    while (next && !this.closed) {
      this.held.delete(next.seq);
      this.deliver(next);
      next = this.held.get(this.lastSeq + 1);
    }
    // The late events arrived within the hold: no fetch needed.
    if (this.held.size === 0 && this.holdTimer) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
    }
  }

  private deliver(event: ConversationEvent): void {
    this.lastSeq = event.seq;
    this.options.deliver(event);
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.close();
    this.options.onError(error);
  }
}
