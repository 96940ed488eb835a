import type { ConversationEvent } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { OrderedFeed } from '../src/log/ordered-feed.js';

const event = (seq: number): ConversationEvent => ({
  id: `e${seq}`,
  tenant: 't',
  conversation: 'c',
  seq,
  type: 'message.created',
  ts: seq,
  actor: { kind: 'user', id: 'u' },
  data: {},
});

/** A feed over a log of `committed` events; `delivered` collects what it hands on. */
function setup(options: { lastSeq?: number; committed: number; holdMs?: number; pageSize?: number; maxHeld?: number }) {
  const log = Array.from({ length: options.committed }, (_, index) => event(index + 1));
  const delivered: number[] = [];
  const fetches: number[] = [];
  const errors: Error[] = [];
  const feed = new OrderedFeed({
    lastSeq: options.lastSeq ?? 0,
    fetchAfter: async (after, limit) => {
      fetches.push(after);
      return log.filter((item) => item.seq > after).slice(0, limit);
    },
    deliver: (item) => delivered.push(item.seq),
    onError: (error) => errors.push(error),
    holdMs: options.holdMs ?? 5,
    pageSize: options.pageSize ?? 3,
    maxHeld: options.maxHeld ?? 100,
  });
  return { feed, log, delivered, fetches, errors };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('OrderedFeed', () => {
  it('replays the gap in pages, then merges live events held meanwhile without duplicates', async () => {
    const { feed, delivered } = setup({ lastSeq: 2, committed: 10 });
    const catchingUp = feed.catchUp();
    // Live events arriving while the replay runs: some already in the replay range, some after it.
    feed.push(event(9));
    feed.push(event(11));
    feed.push(event(10));
    await catchingUp;
    feed.push(event(12));
    expect(delivered).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads again when asked to catch up while a read runs: what it was asked for may be committed after that read', async () => {
    const { feed, log, delivered } = setup({ lastSeq: 0, committed: 2 });
    const first = feed.catchUp();
    // Committed (and its publish lost) while the first read is under way, after its last page was read.
    log.push(event(3));
    feed.catchUpIfStarted();
    await first;
    await settle();
    expect(delivered).toEqual([1, 2, 3]);
  });

  it('does not start delivery when told of lost live traffic before the first catch-up', async () => {
    const { feed, delivered, fetches } = setup({ lastSeq: 0, committed: 2 });
    feed.catchUpIfStarted();
    await settle();
    expect({ delivered, fetches }).toEqual({ delivered: [], fetches: [] });
    await feed.catchUp();
    expect(delivered).toEqual([1, 2]);
  });

  it('holds live events until the first catch-up', async () => {
    const { feed, delivered } = setup({ lastSeq: 0, committed: 1 });
    feed.push(event(1));
    await settle();
    expect(delivered).toEqual([]);
    await feed.catchUp();
    expect(delivered).toEqual([1]);
  });

  it('drops duplicates and reorders events that arrive out of order', async () => {
    const { feed, delivered, fetches } = setup({ lastSeq: 0, committed: 0 });
    await feed.catchUp();
    feed.push(event(1));
    feed.push(event(1));
    feed.push(event(3));
    feed.push(event(2));
    feed.push(event(2));
    await settle();
    expect(delivered).toEqual([1, 2, 3]);
    expect(fetches).toEqual([0]); // the late event arrived within the hold: nothing fetched
  });

  it('fetches a gap that live delivery never fills', async () => {
    const { feed, delivered, fetches } = setup({ lastSeq: 0, committed: 5 });
    await feed.catchUp();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    delivered.length = 0;
    feed.push(event(8)); // 6 and 7 were published but lost
    await settle();
    // 6 and 7 are not in the fixture's log either: the feed keeps holding 8 and keeps trying.
    expect(delivered).toEqual([]);
    expect(fetches.length).toBeGreaterThan(1);
    feed.close();
  });

  it('heals a lost publish from the log', async () => {
    const context = setup({ lastSeq: 0, committed: 2 });
    await context.feed.catchUp();
    context.log.push(event(3), event(4));
    context.feed.push(event(4)); // 3 was lost on the bus
    await settle();
    expect(context.delivered).toEqual([1, 2, 3, 4]);
  });

  it('drops held events past its bound and reads them from the log instead', async () => {
    const context = setup({ lastSeq: 0, committed: 0, maxHeld: 2, holdMs: 1000 });
    await context.feed.catchUp();
    context.log.push(...[1, 2, 3, 4, 5, 6, 7].map(event));
    for (const seq of [5, 6, 7]) context.feed.push(event(seq)); // 1..4 were lost on the bus; too many held
    await settle();
    expect(context.errors).toEqual([]);
    expect(context.delivered).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('reports fetch failures once and stops', async () => {
    const errors: Error[] = [];
    const feed = new OrderedFeed({
      lastSeq: 0,
      fetchAfter: async () => {
        throw new Error('store down');
      },
      deliver: () => undefined,
      onError: (error) => errors.push(error),
      holdMs: 1,
      pageSize: 10,
      maxHeld: 10,
    });
    await feed.catchUp();
    expect(errors.map((error) => error.message)).toEqual(['store down']);
  });
});
