import { closeText, framesText, pingText, pollBody, type PositionedFrame, type SessionClose, type SessionReader, type StreamFormat } from './http-framing.js';

const encoder = new TextEncoder();

/**
 * A streaming response (SSE or NDJSON) as a session reader. Its body is what the route answers with;
 * `onCancel` runs when the client goes away (the HTTP server cancels the body).
 */
export class StreamReader implements SessionReader {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private ended = false;

  constructor(
    readonly format: StreamFormat,
    onCancel: (reader: StreamReader) => void,
  ) {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.ended = true;
        onCancel(this);
      },
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  write(text: string): void {
    if (!this.ended) this.controller.enqueue(encoder.encode(text));
  }

  deliver(frames: readonly PositionedFrame[]): void {
    this.write(framesText(this.format, frames));
  }

  ping(): void {
    this.write(pingText(this.format));
  }

  closed(close: SessionClose): void {
    this.write(closeText(this.format, close));
    this.end();
  }

  replaced(): void {
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.controller.close();
  }
}

/**
 * A waiting long-poll as a session reader: answers as soon as frames come (after gathering for `gatherMs`,
 * so that a burst goes in one answer), when the session closes, when it is replaced, or after `timeoutMs`
 * with no frames. `onAnswered` runs once, when the answer is ready.
 */
export class PollReader implements SessionReader {
  readonly answer: Promise<string>;
  private resolve!: (body: string) => void;
  private frames: PositionedFrame[] = [];
  private gatherTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly timeout: ReturnType<typeof setTimeout>;
  private answered = false;

  constructor(
    timeoutMs: number,
    private readonly gatherMs: number,
    private readonly onAnswered: (reader: PollReader) => void,
  ) {
    this.answer = new Promise((resolve) => (this.resolve = resolve));
    this.timeout = setTimeout(() => this.finish(), timeoutMs);
  }

  deliver(frames: readonly PositionedFrame[]): void {
    if (this.answered) return;
    this.frames.push(...frames);
    this.gatherTimer ??= setTimeout(() => this.finish(), this.gatherMs);
  }

  ping(): void {}

  closed(close: SessionClose): void {
    this.finish(close);
  }

  replaced(): void {
    this.finish();
  }

  /** Answers with what it has (the client went away, or the node stops). */
  finish(close?: SessionClose): void {
    if (this.answered) return;
    this.answered = true;
    clearTimeout(this.timeout);
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.resolve(pollBody(this.frames, close));
    this.onAnswered(this);
  }
}

/** What a relay carries to the node that holds the client's stream request. */
export type RelayItem = { frames: PositionedFrame[] } | { ping: true } | { close: SessionClose } | { end: true };

/**
 * A stream held by another node, as a session reader on the session's node: what it reads is published to
 * that node (see HttpTransport), which writes it to its client. That node renews it with keepalives; one
 * not renewed in time is dropped (its node died), and the session timeout starts.
 */
export class RelayReader implements SessionReader {
  lastKeepaliveAt = Date.now();

  constructor(
    readonly relayId: string,
    readonly node: string,
    private readonly publish: (reader: RelayReader, item: RelayItem) => void,
  ) {}

  deliver(frames: readonly PositionedFrame[]): void {
    this.publish(this, { frames: frames.map(({ position, json }) => ({ position, json })) });
  }

  ping(): void {
    this.publish(this, { ping: true });
  }

  closed(close: SessionClose): void {
    this.publish(this, { close });
  }

  replaced(): void {
    this.publish(this, { end: true });
  }
}
