/** Counts per key (connections per user, jobs per tenant, ...); a key whose count falls to zero is dropped. */
export class CountMap<Key> {
  private readonly counts = new Map<Key, number>();

  get(key: Key): number {
    return this.counts.get(key) ?? 0;
  }

  increment(key: Key): void {
    this.counts.set(key, this.get(key) + 1);
  }

  decrement(key: Key): void {
    const remaining = this.get(key) - 1;
    if (remaining > 0) this.counts.set(key, remaining);
    else this.counts.delete(key);
  }
}
