import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { Emitter } from '../src/emitter.js';
import { EventQueue } from '../src/event-queue.js';
import { backoffCeiling, backoffDelay, refreshDelay } from '../src/index.js';

describe('backoff', () => {
  const options = { initialDelayMs: 250, maxDelayMs: 10_000 };

  it('doubles the ceiling per attempt and caps it', () => {
    const ceilings = Array.from({ length: 8 }, (_, attempt) => backoffCeiling(attempt, options));
    expect(ceilings).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(backoffCeiling(10_000, options)).toBe(10_000);
  });

  it('draws the delay uniformly below the ceiling (full jitter)', () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(1_000);
    expect(backoffDelay(3, options, () => 0.999_999)).toBe(1_999);
    expect(backoffDelay(50, options, () => 0.999_999)).toBe(9_999);
  });
});

describe('refreshDelay', () => {
  it('is 80% of the remaining lifetime, never under a second', () => {
    expect(refreshDelay(101_000, 1_000)).toBe(80_000);
    expect(refreshDelay(1_000, 1_000)).toBe(1_000);
    expect(refreshDelay(1_000 + 365 * 86_400_000, 1_000)).toBe(2_147_483_647);
  });
});

describe('EventQueue', () => {
  it('hands values to readers, then ends', async () => {
    const onEnd = vi.fn();
    const queue = new EventQueue<number>(10, onEnd);
    const waiting = queue.next();
    queue.push(1);
    queue.push(2);
    queue.end();

    expect(await waiting).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(onEnd).toHaveBeenCalledOnce();
  });

  it('stops feeding when the consumer breaks out', async () => {
    const onEnd = vi.fn();
    const queue = new EventQueue<number>(10, onEnd);
    queue.push(1);

    await queue.return();

    expect(onEnd).toHaveBeenCalledOnce();
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});

describe('Emitter', () => {
  it('keeps calling listeners after one throws, and reports the failure', () => {
    const failures: unknown[] = [];
    const emitter = new Emitter<{ tick: number }>((error) => failures.push(error));
    const seen: number[] = [];
    emitter.on('tick', () => {
      throw new Error('boom');
    });
    const off = emitter.on('tick', (value) => seen.push(value));

    emitter.emit('tick', 1);
    off();
    emitter.emit('tick', 2);

    expect(seen).toEqual([1]);
    expect(failures).toHaveLength(2);
  });
});

describe('portability', () => {
  it('keeps src free of Node-only imports', () => {
    const directory = fileURLToPath(new URL('../src/', import.meta.url));
    for (const file of readdirSync(directory)) {
      const source = readFileSync(directory + file, 'utf8');
      expect(source, file).not.toMatch(/^\s*(import|export)\b[^;]*\bfrom\s+['"](node:|ws['"])/m);
      // A dynamic import is allowed for the protocol's own browser-safe entries only (the MessagePack codec).
      expect(source, file).not.toMatch(/\brequire\(|\bimport\(\s*['"](?!@parley\/protocol\/)|\bprocess\.|\bBuffer\./);
    }
  });
});
