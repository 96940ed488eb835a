/**
 * Presence leaves that wait. A connection lost without a closing handshake keeps its user present for a
 * grace period, so that a client that comes back within it (a network blip, a server restart, a reconnect
 * storm) announces neither `presence.left` nor `presence.joined` to everyone else in the conversation. When
 * the grace ends the lost connection's entry goes, and the user leaves only if no other connection of
 * theirs is there by then.
 */
export class PresenceDepartures {
  private readonly waiting = new Map<ReturnType<typeof setTimeout>, () => Promise<void>>();
  private flushed = false;

  constructor(private readonly graceMs: number) {}

  /** Runs `leave` once the grace is over (at once without one, or once the node is stopping). */
  schedule(leave: () => Promise<void>): void {
    if (this.graceMs === 0 || this.flushed) return void leave().catch(() => undefined);
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      void leave().catch(() => undefined);
    }, this.graceMs);
    // Shutdown flushes what waits; nothing here keeps the process alive.
    timer.unref();
    this.waiting.set(timer, leave);
  }

  /** Runs every waiting leave now, and later ones at once: the node is stopping, and its timers would end with it. */
  async flush(): Promise<void> {
    this.flushed = true;
    const leaves = [...this.waiting];
    this.waiting.clear();
    await Promise.allSettled(leaves.map(([timer, leave]) => (clearTimeout(timer), leave())));
  }

  get size(): number {
    return this.waiting.size;
  }
}
