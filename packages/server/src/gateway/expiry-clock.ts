/** Something that ends at a time: a session whose token expires. */
export interface Expiring {
  expired(): void;
}

/**
 * Deadlines of many items on one shared timer ticking every second: an item is told at the first tick
 * after its deadline (at most two seconds late), never before it. A timer per connection, with its closure, costs an idle connection about
 * 200 bytes; an entry in a bucket of the second costs a few dozen.
 */
export class ExpiryClock {
  private readonly bySecond = new Map<number, Set<Expiring>>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Seconds up to this one have been handled. */
  private handledThrough = 0;

  /** Tells `item` once `atMs` (ms since the epoch) has passed; returns the second to give `remove`. */
  add(item: Expiring, atMs: number): number {
    if (!this.timer) {
      this.handledThrough = Math.floor(Date.now() / 1000);
      this.timer = setInterval(() => this.tick(), 1000);
      this.timer.unref();
    }
    // A deadline already past is due at the next tick.
    const second = Math.max(Math.ceil(atMs / 1000), this.handledThrough + 1);
    let items = this.bySecond.get(second);
    if (!items) this.bySecond.set(second, (items = new Set()));
    items.add(item);
    return second;
  }

  remove(item: Expiring, second: number): void {
    const items = this.bySecond.get(second);
    if (items?.delete(item) && items.size === 0) this.bySecond.delete(second);
    if (this.bySecond.size === 0) this.stop();
  }

  get size(): number {
    let count = 0;
    for (const items of this.bySecond.values()) count += items.size;
    return count;
  }

  private tick(): void {
    const now = Math.floor(Date.now() / 1000);
    for (let second = this.handledThrough + 1; second <= now; second++) {
      const items = this.bySecond.get(second);
      if (!items) continue;
      this.bySecond.delete(second);
      for (const item of items) item.expired();
    }
    this.handledThrough = Math.max(this.handledThrough, now);
    if (this.bySecond.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
