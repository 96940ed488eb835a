/** One Server-Sent Event: its type (`message` when the stream named none), data and id. */
export interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * Parses a text/event-stream as it arrives, chunk by chunk (the WHATWG HTML "event stream interpretation"):
 * lines end in CRLF, LF or CR; `:` starts a comment; data lines join with LF; a blank line dispatches.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private pendingCarriageReturn = false;

  /** Feeds decoded text; returns the events it completed. */
  feed(chunk: string): ServerSentEvent[] {
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.pendingCarriageReturn && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCarriageReturn = chunk.endsWith('\r');
    this.buffer += chunk;
    const events: ServerSentEvent[] = [];
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const hasData = this.data.length > 0;
    const event = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
    this.event = '';
    this.data = [];
    return hasData ? event : undefined;
  }
}
