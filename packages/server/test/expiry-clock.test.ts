import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExpiryClock, type Expiring } from '../src/gateway/expiry-clock.js';

function item(log: string[], name: string): Expiring {
  return { expired: () => void log.push(name) };
}

describe('ExpiryClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tells each item at the first tick after its deadline, never before, and not once removed', () => {
    vi.useFakeTimers({ now: 1_000_000_000_500 });
    const clock = new ExpiryClock();
    const log: string[] = [];
    clock.add(item(log, 'a'), 1_000_000_001_200);
    const b = item(log, 'b');
    const bSecond = clock.add(b, 1_000_000_001_900);
    clock.add(item(log, 'c'), 1_000_000_003_000);
    clock.add(item(log, 'late'), 1_000_000_000_000);
    // Ticks at ..01_500, ..02_500, ..03_500, ...
    vi.advanceTimersByTime(1000);
    expect(log).toEqual(['late']); // already past when added: at the first tick
    clock.remove(b, bSecond);
    vi.advanceTimersByTime(1000);
    expect(log).toEqual(['late', 'a']); // 1_200 is past at 2_500; b was removed
    vi.advanceTimersByTime(1000);
    expect(log).toEqual(['late', 'a', 'c']); // 3_000 is past at 3_500, not at 2_500
    expect(clock.size).toBe(0);
  });

  it('runs no timer while it holds nothing, and starts again with the next item', () => {
    vi.useFakeTimers({ now: 5_000 });
    const clock = new ExpiryClock();
    const log: string[] = [];
    const first = item(log, 'first');
    clock.remove(first, clock.add(first, 9_000));
    expect(vi.getTimerCount()).toBe(0);
    clock.add(item(log, 'second'), 7_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(3000);
    expect(log).toEqual(['second']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
