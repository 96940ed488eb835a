import type { GenerationText } from '@parley/protocol';

/**
 * Combines a generation's tokens into at most one delta per `intervalMs`, numbered 0, 1, 2, ...
 * `snapshot()` is exactly the concatenation of the deltas emitted so far, so a late subscriber that
 * receives it and then the following deltas assembles the text with nothing missing or repeated.
 */
export class DeltaCoalescer {
  private pending = '';
  private emitted = '';
  private index = -1;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly generationId: string,
    private readonly intervalMs: number,
    private readonly emit: (delta: GenerationText) => void,
  ) {}

  push(text: string): void {
    if (text === '') return;
    this.pending += text;
    if (this.intervalMs === 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Emits what is pending now (before the generation's final event). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending === '') return;
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
