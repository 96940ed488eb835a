// A lean client of Parley's server API (REST, /v1/api) for load generation: node:http over keep-alive
// connections of one agent, so that N requests in flight reuse N TCP connections (HTTP/1.1 has no
// pipelining) instead of opening one per request.
import http from 'node:http';
import { token } from './tokens.mjs';

/** The scopes the bench's API key holds: create conversations, add members, post messages. */
const SCOPES = ['conversations:write', 'messages:write'];

/** An error status from the API: `status` and the protocol's error `code`. */
export class ApiError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path}: HTTP ${status} ${body?.error?.code ?? ''} ${body?.error?.message ?? ''}`.trim());
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

/** Requests to one Parley node with one bearer credential, over at most `connections` keep-alive sockets. */
export class ApiClient {
  constructor(baseUrl, credential, { connections = 8, localAddress } = {}) {
    const { hostname, port } = new URL(baseUrl);
    this.host = hostname;
    this.port = Number(port);
    this.credential = credential;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, ...(localAddress ? { localAddress } : {}) });
  }

  /** Sends a JSON request; resolves with the parsed body of a 2xx response, rejects with an ApiError otherwise. */
  request(method, path, body, headers = {}) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options = {
      agent: this.agent,
      host: this.host,
      port: this.port,
      method,
      path,
      headers: { authorization: `Bearer ${this.credential}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers },
    };
    return new Promise((resolve, reject) => {
      const request = http.request(options, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const parsed = text ? JSON.parse(text) : null;
          if (response.statusCode >= 200 && response.statusCode < 300) resolve(parsed);
          else reject(new ApiError(method, path, response.statusCode, parsed));
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** Posts a message to a conversation; resolves with the ack (`{ eventId, seq, ts, duplicate }`). */
  postMessage(conversationId, { text, sender, idempotencyKey }) {
    return this.request('POST', `/v1/api/conversations/${encodeURIComponent(conversationId)}/messages`, { content: { type: 'text', text }, sender }, { 'idempotency-key': idempotencyKey });
  }

  close() {
    this.agent.destroy();
  }
}

/** Creates an API key of tenant `bench` as one of its admins (a JWT with the `admin` role), as a backend's operator would. */
export async function createApiKey(baseUrl, name = 'bench') {
  const admin = new ApiClient(baseUrl, await token('bench-admin', ['admin']), { connections: 1 });
  try {
    const { key } = await admin.request('POST', '/v1/api/keys', { name, scopes: SCOPES });
    return key;
  } finally {
    admin.close();
  }
}
