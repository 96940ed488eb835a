import { HISTORY_MAX_LIMIT } from '@parley/protocol';
import { ParleyClientError, toClientError } from './errors.js';

/** What a track needs from its feed. */
export interface TrackHost<Item> {
  /** The item's number in its sequence (1, 2, ... without gaps). */
  seqOf(item: Item): number;
  /** Fetches stored items after `after` (ascending, at most `limit`); undefined while offline. */
  fetch(after: number, limit: number): Promise<Item[]> | undefined;
  /** Hands on the next item in order (the track has already counted it as delivered). */
  deliver(item: Item): void;
  /** Whether the track may work now: false once the feed ended or while it waits to retry. */
  canDrain(): boolean;
  /** A fetch failed: the feed retries later by calling `drain` again. */
  fetchFailed(error: ParleyClientError): void;
  /** Something worth reporting that does not stop the track. */
  report(error: ParleyClientError): void;
}

/**
 * One gapless sequence of a subscribed conversation (members' `seq`, or staff `staffSeq`): delivers each
 * item once and in order, drops repeats, and fetches missing items before delivering later ones.
 */
export class SequenceTrack<Item> {
  /** The number of the last item delivered; undefined until the starting point is known. */
  last: number | undefined;
  private readonly pending: Item[] = [];
  private draining = false;

  constructor(
    private readonly name: string,
    start: number | undefined,
    private readonly host: TrackHost<Item>,
  ) {
    this.last = start;
  }

  /** An item pushed by the server, delivered once its predecessors have been. */
  receive(item: Item): void {
    this.pending.push(item);
    void this.drain();
  }

  /** Forgets what waits for a gap fill: after a resubscribe the server replays everything after `last`. */
  reset(): void {
    this.pending.length = 0;
  }

  /** Delivers what can be delivered; fills gaps first. */
  async drain(): Promise<void> {
    if (this.draining || this.last === undefined || !this.host.canDrain()) return;
    this.draining = true;
    try {
      while (this.host.canDrain()) {
        const item = this.pending[0];
        if (item === undefined) return;
        const seq = this.host.seqOf(item);
        if (seq > this.last + 1) {
          if (!(await this.fill(this.last, seq))) return;
          continue;
        }
        this.pending.shift();
        if (seq === this.last + 1) this.deliverNext(item);
        // Older numbers were delivered already: duplicates.
      }
    } finally {
      this.draining = false;
    }
  }

  /** Fetches and delivers (a page of) the items between `after` and `seq`; false when it could not (retried later). */
  private async fill(after: number, seq: number): Promise<boolean> {
    const reply = this.host.fetch(after, Math.min(HISTORY_MAX_LIMIT, seq - 1 - after));
    if (!reply) return false; // offline: the resume after reconnecting replays the gap
    let items: Item[];
    try {
      items = await reply;
    } catch (error) {
      if (this.host.canDrain()) this.host.fetchFailed(toClientError(error));
      return false;
    }
    if (!this.host.canDrain()) return false;
    if (this.last !== after) return true;
    for (const item of [...items].sort((left, right) => this.host.seqOf(left) - this.host.seqOf(right))) {
      const itemSeq = this.host.seqOf(item);
      if (itemSeq === this.last + 1 && itemSeq < seq) this.deliverNext(item);
    }
    if (this.last === after) {
      // The server has nothing to fill the gap with: deliver what follows rather than stall forever.
      this.host.report(new ParleyClientError('internal', `${this.name} ${after + 1}..${seq - 1} are missing from history`));
      this.last = seq - 1;
    }
    return true;
  }

  private deliverNext(item: Item): void {
    this.last = this.host.seqOf(item);
    this.host.deliver(item);
  }
}
