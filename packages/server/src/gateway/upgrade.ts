import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { HTTP_STATUS_OF, type ParleyError } from '../core/errors.js';

/**
 * Completes a WebSocket upgrade for `server`, or refuses it with `refusal` as a JSON error response (the
 * status of its code). Shared by every WebSocket endpoint of the node (Parley's protocol, the AI SDK's).
 */
export function acceptUpgrade(
  server: WebSocketServer,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  refusal: ParleyError | null,
  open: (socket: WebSocket, address: string) => void,
): void {
  // Node stops watching an upgraded socket: without this, a reset during the handshake or the refusal
  // would be an uncaught error. Once ws has the socket, its own listener takes over.
  socket.on('error', destroyOnError);
  if (refusal) return rejectUpgrade(socket, refusal);
  const address = request.socket.remoteAddress ?? 'unknown';
  server.handleUpgrade(request, socket, head, (ws) => {
    socket.off('error', destroyOnError);
    open(ws, address);
  });
}

/** The path of a request target; null when it is not a valid URL path (e.g. `//`). */
export function pathOf(target: string | undefined): string | null {
  try {
    return new URL(target ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

function rejectUpgrade(socket: Duplex, error: ParleyError): void {
  const status = HTTP_STATUS_OF[error.code];
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  // Destroy once written, as ws does: a half-closed socket would stay open and hold up shutdown.
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${error.message}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
