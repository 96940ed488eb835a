import { ParleyClientError } from './errors.js';

interface Reader<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

/**
 * A bounded queue read as an async iterator. Past `limit` buffered values it ends with a `busy` error (after
 * the buffered values): silently dropping events would break the gapless order consumers rely on.
 */
export class EventQueue<T> implements AsyncIterator<T> {
  private readonly buffer: T[] = [];
  private readonly readers: Reader<T>[] = [];
  private ended = false;
  private failure: unknown;

  /** @param onEnd called once when the queue ends, for whatever reason (to stop feeding it). */
  constructor(
    private readonly limit: number,
    private readonly onEnd: () => void,
  ) {}

  /** Hands a value to a waiting reader or buffers it; ends the queue on overflow. */
  push(value: T): void {
    if (this.ended) return;
    const reader = this.readers.shift();
    if (reader) return reader.resolve({ value, done: false });
    if (this.buffer.length >= this.limit) {
      return this.end(new ParleyClientError('busy', `the consumer fell more than ${this.limit} events behind; the iterator stopped`));
    }
    this.buffer.push(value);
  }

  /** No more values: readers get what is buffered, then `error` once if given, then the end. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.onEnd();
    // Waiting readers mean the buffer is empty.
    for (const reader of this.readers.splice(0)) this.finish().then(reader.resolve, reader.reject);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift() as T, done: false });
    if (this.ended) return this.finish();
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  /** The consumer stopped early (`break` in `for await`): drop what is buffered and stop feeding. */
  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.end();
    this.failure = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): Promise<IteratorResult<T>> {
    const failure = this.failure;
    this.failure = undefined;
    return failure === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(failure);
  }
}
