import type { GenerationText } from '@parley/protocol';

/**
 * Combines a generation's tokens into at most one delta per `intervalMs`, numbered 0, 1, 2, ...
 * Leading edge: a token that comes after a quiet interval (the first one, notably) goes out at once, so
 * coalescing adds no latency to the time to first token.
 * `snapshot()` is exactly the concatenation of the deltas emitted so far, so a late subscriber that
 * receives it and then the following deltas assembles the text with nothing missing or repeated.
 */
export class DeltaCoalescer {
  private pending = '';
  private emitted = '';
  private index = -1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastEmitAt = -Infinity;

  constructor(
    private readonly generationId: string,
    private readonly intervalMs: number,
    private readonly emit: (delta: GenerationText) => void,
  ) {}

  push(text: string): void {
    if (text === '') return;
    this.pending += text;
    const sinceLast = performance.now() - this.lastEmitAt;
    if (sinceLast >= this.intervalMs) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs - sinceLast);
  }

  /** Emits what is pending now (before the generation's final event). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending === '') return;
    this.lastEmitAt = performance.now();
    this.index++;
    this.emitted += this.pending;
    const delta = { generationId: this.generationId, index: this.index, text: this.pending };
    this.pending = '';
    this.emit(delta);
  }

  /** Drops pending text and stops the timer (the generation ended). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  snapshot(): GenerationText {
    return { generationId: this.generationId, index: this.index, text: this.emitted };
  }

  /** All text received so far, emitted or not. */
  get text(): string {
    return this.emitted + this.pending;
  }
}
