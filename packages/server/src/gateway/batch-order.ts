import { ParleyError } from '../core/errors.js';

/**
 * Puts the numbered batches of an HTTP session's POSTs back in order: batch `n` is applied after 1..n-1,
 * so sends keep their order as on a WebSocket although concurrent POSTs may arrive in any order. A batch
 * seen before (a POST retried after its response was lost) is ignored; a few early ones wait for the gap.
 */
export class BatchOrder<Batch> {
  private next = 1;
  /** Batches that arrived before the ones they follow, by number. */
  private readonly early = new Map<number, Batch>();

  constructor(private readonly maxEarly: number) {}

  /**
   * The batches to apply now, in order: none when `n` was applied before or waits for an earlier one.
   * Throws `busy` when `n` is too far ahead (the client should retry it once the earlier ones landed).
   */
  accept(n: number, batch: Batch): Batch[] {
    if (n < this.next || this.early.has(n)) return [];
    if (n > this.next) {
      if (n - this.next > this.maxEarly) throw new ParleyError('busy', `batch ${n} is more than ${this.maxEarly} ahead of the next expected (${this.next})`, { retryAfterMs: 100 });
      this.early.set(n, batch);
      return [];
    }
    const ready = [batch];
    this.next++;
    for (let held = this.early.get(this.next); held !== undefined; held = this.early.get(this.next)) {
      this.early.delete(this.next);
      ready.push(held);
      this.next++;
    }
    return ready;
  }
}
