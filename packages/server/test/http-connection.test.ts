import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/adapters/memory/bus.js';
import { ConnectionAdmission } from '../src/gateway/admission.js';
import { BatchOrder } from '../src/gateway/batch-order.js';
import type { ConnectionHandler } from '../src/gateway/connection.js';
import { HttpConnection, type HttpConnectionOwner } from '../src/gateway/http-connection.js';
import type { PositionedFrame, SessionClose, SessionReader } from '../src/gateway/http-framing.js';
import { HttpTransport } from '../src/gateway/http-transport.js';
import { eventually } from '../../../test/support/eventually.js';

/** A reader that records what it is given. */
class RecordingReader implements SessionReader {
  readonly positions: number[] = [];
  pings = 0;
  close: SessionClose | null = null;
  replacedCount = 0;
  deliver(frames: readonly PositionedFrame[]): void {
    this.positions.push(...frames.map((frame) => frame.position));
  }
  ping(): void {
    this.pings++;
  }
  closed(close: SessionClose): void {
    this.close = close;
  }
  replaced(): void {
    this.replacedCount++;
  }
}

/** A handler that records the frames it is given. */
class RecordingHandler implements ConnectionHandler {
  readonly frames: string[] = [];
  closedWith: number | null = null;
  onFrame(data: string | Uint8Array): void {
    this.frames.push(String(data));
  }
  onClose(code: number): void {
    this.closedWith = code;
  }
}

const owner = (): HttpConnectionOwner & { closedCount: number; expiredCount: number } => ({
  closedCount: 0,
  expiredCount: 0,
  closed() {
    this.closedCount++;
  },
  expired() {
    this.expiredCount++;
  },
});

const push = (index: number) => ({ push: 'notification', notification: { id: `n${index}`, ts: index, data: {} } }) as const;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchOrder', () => {
  it('applies batches in n order, holds early ones, ignores repeats, and refuses one too far ahead', () => {
    const order = new BatchOrder<string>(2);
    expect(order.accept(2, 'b')).toEqual([]);
    expect(order.accept(2, 'b again')).toEqual([]);
    expect(order.accept(3, 'c')).toEqual([]);
    expect(order.accept(1, 'a')).toEqual(['a', 'b', 'c']);
    expect(order.accept(1, 'a again')).toEqual([]);
    expect(() => order.accept(7, 'g')).toThrow(expect.objectContaining({ code: 'busy' }));
    expect(order.accept(4, 'd')).toEqual(['d']);
  });
});

describe('HttpConnection', () => {
  it('numbers frames from 1, keeps them until acknowledged, and counts the kept bytes as buffered', async () => {
    const connection = new HttpConnection('node.session', 'sse', '127.0.0.1', owner(), 60_000);
    const reader = new RecordingReader();
    connection.attach(reader, 0);
    for (let index = 0; index < 3; index++) connection.send(push(index));
    await turn();
    expect(reader.positions).toEqual([1, 2, 3]);
    const buffered = connection.bufferedBytes;
    expect(buffered).toBe(3 * Buffer.byteLength(JSON.stringify(push(0))));
    const drained = connection.drained(0);
    connection.receive({ ack: 2 });
    expect(connection.bufferedBytes).toBe(buffered / 3);
    connection.receive({ ack: 3 });
    await drained;
    expect(connection.bufferedBytes).toBe(0);
    expect(() => connection.receive({ ack: 4 })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    connection.dispose();
  });

  it('gives a new reader everything after its position, and ends the previous one', async () => {
    const connection = new HttpConnection('node.session', 'sse', '127.0.0.1', owner(), 60_000);
    const first = new RecordingReader();
    connection.attach(first, 0);
    for (let index = 0; index < 5; index++) connection.send(push(index));
    await turn();
    const second = new RecordingReader();
    connection.attach(second, 2);
    expect(first.replacedCount).toBe(1);
    expect(second.positions).toEqual([3, 4, 5]);
    connection.send(push(5));
    await turn();
    expect(second.positions).toEqual([3, 4, 5, 6]);
    expect(first.positions).toEqual([1, 2, 3, 4, 5]);
    // Frames up to 2 were acknowledged by that attach: an earlier position is refused, a later one is past the end.
    expect(() => connection.attach(new RecordingReader(), 1)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => connection.attach(new RecordingReader(), 7)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    connection.dispose();
  });

  it('hands the frames of POST batches to its handler in batch order', () => {
    const connection = new HttpConnection('node.session', 'long-poll', '127.0.0.1', owner(), 60_000);
    const handler = new RecordingHandler();
    connection.handler = handler;
    connection.receive({ n: 2, frames: [{ id: 2 }] });
    connection.receive({ n: 1, frames: [{ id: 1 }, { id: 'one-b' }] });
    connection.receive({ n: 2, frames: [{ id: 2 }] });
    expect(handler.frames).toEqual(['{"id":1}', '{"id":"one-b"}', '{"id":2}']);
    connection.dispose();
  });

  it('keeps its last frames and the close for the next reader once closed', () => {
    const sessions = owner();
    const connection = new HttpConnection('node.session', 'long-poll', '127.0.0.1', sessions, 60_000);
    connection.send(push(0));
    connection.close(4000, 'server restart');
    expect(sessions.closedCount).toBe(1);
    expect(connection.send(push(1))).toBe(false);
    const reader = new RecordingReader();
    connection.attach(reader, 0);
    expect(reader.positions).toEqual([1]);
    expect(reader.close).toEqual({ code: 4000, reason: 'server restart' });
  });

  it('expires once no reader has been attached for the session timeout', async () => {
    const sessions = owner();
    const connection = new HttpConnection('node.session', 'sse', '127.0.0.1', sessions, 50);
    const reader = new RecordingReader();
    connection.attach(reader, 0);
    connection.detach(reader);
    await eventually(() => expect(sessions.expiredCount).toBe(1));
    expect(connection.closedWith).toEqual({ code: 1006, reason: 'session timeout' });
  });
});

describe('HttpTransport', () => {
  const options = { nodeId: 'n1', pingIntervalMs: 60_000, pingTimeoutMs: 60_000, sessionTimeoutMs: 60_000, pollTimeoutMs: 100, forwardTimeoutMs: 100 };
  const request = (overrides: Partial<Parameters<HttpTransport['poll']>[0]> = {}) => ({
    origin: undefined,
    host: 'localhost',
    remoteAddress: '10.0.0.1',
    sessionId: undefined,
    lastPosition: undefined,
    signal: new AbortController().signal,
    ...overrides,
  });

  it('counts its sessions in the per-IP limit it shares with the WebSocket', async () => {
    const admission = new ConnectionAdmission({ allowedOrigins: undefined, maxConnectionsPerIp: 2, isDraining: () => false });
    admission.opened('10.0.0.1'); // a WebSocket of that address
    const transport = new HttpTransport(new MemoryBus(10), options, admission, () => new RecordingHandler(), () => undefined);
    const opened = JSON.parse(await transport.poll(request())) as { open: { session: string } };
    expect(opened.open.session).toMatch(/^n1\./);
    await expect(transport.poll(request())).rejects.toMatchObject({ code: 'rate_limited', message: 'too many connections from this address' });
    expect(JSON.parse(await transport.poll(request({ remoteAddress: '10.0.0.2' })))).toMatchObject({ frames: [] });
    transport.close();
  });

  it('answers a session of a node that does not answer with session_expired', async () => {
    const admission = new ConnectionAdmission({ allowedOrigins: undefined, maxConnectionsPerIp: 10, isDraining: () => false });
    const transport = new HttpTransport(new MemoryBus(10), options, admission, () => new RecordingHandler(), () => undefined);
    await transport.start();
    await expect(transport.send(request({ sessionId: `gone.${'A'.repeat(24)}` }), { ack: 0 })).rejects.toMatchObject({ code: 'session_expired' });
    transport.close();
  });
});
