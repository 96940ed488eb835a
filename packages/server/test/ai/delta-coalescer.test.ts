import { describe, expect, it, vi } from 'vitest';
import { DeltaCoalescer } from '../../src/ai/delta-coalescer.js';

describe('DeltaCoalescer', () => {
  it('sends the first token at once, then at most one delta per interval, and snapshots what was sent', () => {
    vi.useFakeTimers();
    try {
      const deltas: Array<{ index: number; text: string }> = [];
      const coalescer = new DeltaCoalescer('g', 30, (delta) => deltas.push(delta));
      coalescer.push('Hel');
      expect(deltas).toEqual([{ generationId: 'g', index: 0, text: 'Hel' }]);
      coalescer.push('lo');
      coalescer.push(' wor');
      expect(deltas).toHaveLength(1);
      expect(coalescer.snapshot()).toEqual({ generationId: 'g', index: 0, text: 'Hel' });
      expect(coalescer.text).toBe('Hello wor');
      vi.advanceTimersByTime(30);
      expect(deltas[1]).toEqual({ generationId: 'g', index: 1, text: 'lo wor' });
      coalescer.push('ld');
      coalescer.flush();
      expect(deltas.map((delta) => delta.text).join('')).toBe('Hello world');
      expect(coalescer.snapshot()).toEqual({ generationId: 'g', index: 2, text: 'Hello world' });
      coalescer.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
