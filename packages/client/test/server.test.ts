import { afterEach, describe, expect, it, vi } from 'vitest';
import { ParleyClientError } from '../src/index.js';
import { ParleyApiError, ParleyServerClient, parseRetryAfter, type FetchFunction, type RetryInfo, type ServerClientOptions } from '../src/server.js';

/** A recorded call of the fake fetch. */
interface Call {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Answer = Response | Error | 'hang';

/** A fetch that records every call and answers from a queue (the last answer repeats). */
function fakeFetch(...answers: Answer[]): { fetch: FetchFunction; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchFunction = async (url, init) => {
    calls.push({
      url: new URL(url),
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body,
    });
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (answer === 'hang') {
      return new Promise<Response>((_, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    }
    if (answer instanceof Error) throw answer;
    return answer.clone();
  };
  return { fetch, calls };
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

function apiError(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return json({ error: { code, message, ...extra } }, status, headers);
}

function client(fetch: FetchFunction, options: Partial<ServerClientOptions> = {}): ParleyServerClient {
  return new ParleyServerClient({ url: 'http://parley.test:8080/', apiKey: 'psk_0123456789abcdef.secret', fetch, ...options });
}

async function failure(promise: Promise<unknown>): Promise<ParleyApiError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ParleyApiError);
  return error as ParleyApiError;
}

const ACK = { eventId: 'e1', seq: 2, ts: 1, duplicate: false };
const VIEW = { id: 'c1', tenant: 'acme', members: ['alice'], memberCount: 1, metadata: {}, createdAt: 1, createdBy: 'k', lastSeq: 1, assistant: null };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('ParleyServerClient routes', () => {
  it('sends each method to its route with the key, the JSON body and the query', async () => {
    const { fetch, calls } = fakeFetch(json({}));
    const parley = client(fetch);

    await parley.createConversation({ id: 'c1', members: ['alice', 'bob'], metadata: { topic: 'x' } });
    await parley.getConversation('c1').catch(() => undefined); // the body lacks `conversation`; only the request matters here
    await parley.listConversations({ userId: 'alice', cursor: 'abc', limit: 10 });
    await parley.updateConversation('c1', { metadata: { topic: null } });
    await parley.addMembers('c1', ['carol']);
    await parley.removeMembers('c1', ['bob']);
    await parley.listMembers('c1', { limit: 2 });
    await parley.history('c1', { after: 4, limit: 20 });
    await parley.presence('c1');
    await parley.notify('alice', { kind: 'order.shipped' });
    await parley.disconnect('alice', { reconnect: false });
    await parley.mintToken({ userId: 'alice', ttlSeconds: 600 });
    await parley.createKey({ name: 'reporting', scopes: ['conversations:read'] });

    const seen = calls.map((call) => `${call.method} ${call.url.pathname}${call.url.search}`);
    expect(seen).toEqual([
      'POST /v1/api/conversations',
      'GET /v1/api/conversations/c1',
      'GET /v1/api/conversations?userId=alice&cursor=abc&limit=10',
      'PATCH /v1/api/conversations/c1',
      'POST /v1/api/conversations/c1/members',
      'POST /v1/api/conversations/c1/members/remove',
      'GET /v1/api/conversations/c1/members?limit=2',
      'GET /v1/api/conversations/c1/events?after=4&limit=20',
      'GET /v1/api/conversations/c1/presence',
      'POST /v1/api/users/alice/notify',
      'POST /v1/api/users/alice/disconnect',
      'POST /v1/api/tokens',
      'POST /v1/api/keys',
    ]);
    expect(calls.map((call) => call.body)).toEqual([
      { id: 'c1', members: ['alice', 'bob'], metadata: { topic: 'x' } },
      undefined,
      undefined,
      { metadata: { topic: null } },
      { userIds: ['carol'] },
      { userIds: ['bob'] },
      undefined,
      undefined,
      undefined,
      { data: { kind: 'order.shipped' } },
      { reconnect: false },
      { userId: 'alice', ttlSeconds: 600 },
      { name: 'reporting', scopes: ['conversations:read'] },
    ]);
    for (const call of calls) {
      expect(call.headers.authorization).toBe('Bearer psk_0123456789abcdef.secret');
      expect(call.headers['content-type']).toBe(call.body === undefined ? undefined : 'application/json');
    }
  });

  it('posts text as text content, with the given idempotency key', async () => {
    const { fetch, calls } = fakeFetch(json(ACK, 201));
    const parley = client(fetch);

    const ack = await parley.postMessage('c1', { text: 'Shipped.', sender: { kind: 'bot', id: 'shop-bot' }, replyTo: 3 }, { idempotencyKey: 'order-1234' });
    await parley.postMessage('c1', { content: { type: 'order.status', data: { order: 1234 } }, sender: { kind: 'system' } });

    expect(ack).toEqual(ACK);
    expect(calls[0]!.url.pathname).toBe('/v1/api/conversations/c1/messages');
    expect(calls[0]!.body).toEqual({ content: { type: 'text', text: 'Shipped.' }, sender: { kind: 'bot', id: 'shop-bot' }, replyTo: 3 });
    expect(calls[0]!.headers['idempotency-key']).toBe('order-1234');
    expect(calls[1]!.body).toEqual({ content: { type: 'order.status', data: { order: 1234 } }, sender: { kind: 'system' } });
    // Without a key the SDK makes one, so that its own retries of the post stay safe.
    expect(calls[1]!.headers['idempotency-key']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('broadcasts with an idempotency key and returns a result per conversation', async () => {
    const results = { results: [{ conversationId: 'c1', ok: true, ack: ACK }, { conversationId: 'c2', ok: false, error: { code: 'not_found', message: 'no c2' } }] };
    const { fetch, calls } = fakeFetch(json(results));

    const answer = await client(fetch).broadcast({ conversationIds: ['c1', 'c2'], text: 'Maintenance at 22:00', sender: { kind: 'system' } }, { idempotencyKey: 'maintenance-1' });

    expect(answer).toEqual(results);
    expect(calls[0]!.url.pathname).toBe('/v1/api/broadcast');
    expect(calls[0]!.body).toEqual({ conversationIds: ['c1', 'c2'], content: { type: 'text', text: 'Maintenance at 22:00' }, sender: { kind: 'system' } });
    expect(calls[0]!.headers['idempotency-key']).toBe('maintenance-1');
  });

  it('unwraps the conversation and the key list, and returns nothing for 204', async () => {
    const keys = [{ id: 'k1', name: 'n', scopes: ['keys:write'], createdAt: 1, createdBy: 'cli', revokedAt: null }];
    const { fetch, calls } = fakeFetch(json({ conversation: VIEW }), json({ apiKeys: keys }), new Response(null, { status: 204 }));
    const parley = client(fetch);

    expect(await parley.getConversation('c1')).toEqual(VIEW);
    expect(await parley.listKeys()).toEqual(keys);
    expect(await parley.revokeKey('k1')).toBeUndefined();
    expect(calls.map((call) => `${call.method} ${call.url.pathname}`)).toEqual(['GET /v1/api/conversations/c1', 'GET /v1/api/keys', 'DELETE /v1/api/keys/k1']);
  });

  it('encodes ids into one path segment and keeps a base path', async () => {
    const { fetch, calls } = fakeFetch(json({ online: [] }));

    await client(fetch, { url: 'https://example.com/parley/' }).presence('a/b?c');

    expect(calls[0]!.url.href).toBe('https://example.com/parley/v1/api/conversations/a%2Fb%3Fc/presence');
  });

  it('refuses invalid options and inputs before sending anything', async () => {
    const { fetch, calls } = fakeFetch(json({}));
    for (const options of [{ url: 'not a url' }, { url: 'ws://x' }, { apiKey: '' }, { timeoutMs: 0 }, { retry: { retries: -1 } }]) {
      expect(() => client(fetch, options as Partial<ServerClientOptions>), JSON.stringify(options)).toThrow(ParleyApiError);
    }
    const parley = client(fetch);
    expect((await failure(parley.getConversation(''))).code).toBe('bad_request');
    expect((await failure(parley.postMessage('c1', {} as never))).code).toBe('bad_request');
    expect(calls).toHaveLength(0);
  });
});

describe('ParleyServerClient errors', () => {
  it('carries the protocol error: code, message, status, details, retryAfterMs', async () => {
    const { fetch } = fakeFetch(apiError(403, 'forbidden', 'this API key lacks the messages:write scope', { details: { scope: 'messages:write' } }));

    const error = await failure(client(fetch).postMessage('c1', { text: 'x', sender: { kind: 'system' } }));

    expect(error).toBeInstanceOf(ParleyClientError);
    expect(error).toMatchObject({ name: 'ParleyApiError', code: 'forbidden', status: 403, message: 'this API key lacks the messages:write scope', details: { scope: 'messages:write' }, retryable: false });
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('takes retryAfterMs from the body, else from Retry-After', async () => {
    const fromBody = fakeFetch(apiError(429, 'rate_limited', 'slow down', { retryAfterMs: 350 }, { 'retry-after': '1' }));
    const fromHeader = fakeFetch(apiError(503, 'busy', 'full', {}, { 'retry-after': '2' }));
    const noRetry = { retry: false as const };

    expect(await failure(client(fromBody.fetch, noRetry).presence('c1'))).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 350, retryable: true });
    expect(await failure(client(fromHeader.fetch, noRetry).presence('c1'))).toMatchObject({ code: 'busy', status: 503, retryAfterMs: 2000 });
  });

  it('maps answers without a protocol body by their status', async () => {
    const cases: Array<[Response, string]> = [
      [new Response('<html>bad gateway</html>', { status: 502 }), 'unavailable'],
      [new Response('nope', { status: 404 }), 'not_found'],
      [new Response('teapot', { status: 418 }), 'bad_request'],
      [json({ message: 'not ours' }, 500), 'internal'],
      [json({ error: { code: 'no_such_code', message: 'x' } }, 409), 'conflict'],
    ];
    for (const [response, code] of cases) {
      const { fetch } = fakeFetch(response);
      expect(await failure(client(fetch, { retry: false }).presence('c1'))).toMatchObject({ code, status: response.status });
    }
  });

  it('turns a network failure into `disconnected` and a 2xx that is not JSON into `internal`', async () => {
    const network = fakeFetch(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }));
    const garbage = fakeFetch(new Response('<html>', { status: 200 }));

    const error = await failure(client(network.fetch, { retry: false }).presence('c1'));
    expect(error).toMatchObject({ code: 'disconnected', status: undefined, retryable: true });
    expect(error.message).toContain('ECONNREFUSED');
    expect(await failure(client(garbage.fetch).presence('c1'))).toMatchObject({ code: 'internal', status: 200 });
  });

  it('gives up an attempt after timeoutMs with `timeout`', async () => {
    vi.useFakeTimers();
    const { fetch, calls } = fakeFetch('hang');
    const pending = failure(client(fetch, { timeoutMs: 5_000, retry: false }).presence('c1'));

    await vi.advanceTimersByTimeAsync(5_000);

    expect(await pending).toMatchObject({ code: 'timeout', status: undefined });
    expect(calls).toHaveLength(1);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('ParleyServerClient retries', () => {
  function recordRetries(): { retries: RetryInfo[]; onRetry: (info: RetryInfo) => void } {
    const retries: RetryInfo[] = [];
    return { retries, onRetry: (info) => retries.push(info) };
  }

  it('retries a safe request after `unavailable`, waiting what Retry-After says', async () => {
    vi.useFakeTimers();
    const { fetch, calls } = fakeFetch(apiError(503, 'unavailable', 'store down', {}, { 'retry-after': '2' }), json({ online: [] }));
    const { retries, onRetry } = recordRetries();
    const pending = client(fetch, { onRetry }).presence('c1');

    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);

    expect(await pending).toEqual({ online: [] });
    expect(calls).toHaveLength(2);
    expect(retries.map(({ attempt, delayMs, error }) => ({ attempt, delayMs, code: error.code }))).toEqual([{ attempt: 1, delayMs: 2000, code: 'unavailable' }]);
  });

  it('re-sends a post with the same idempotency key after a network failure', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { fetch, calls } = fakeFetch(new TypeError('fetch failed'), 'hang', json(ACK, 201));
    const { retries, onRetry } = recordRetries();
    const pending = client(fetch, { onRetry, timeoutMs: 1_000, retry: { initialDelayMs: 100 } }).postMessage('c1', { text: 'hi', sender: { kind: 'system' } });

    await vi.advanceTimersByTimeAsync(50 + 1_000 + 100); // backoff 0.5 x 100, the hung attempt's time limit, backoff 0.5 x 200

    expect(await pending).toEqual(ACK);
    expect(retries.map(({ delayMs, error }) => `${error.code} ${delayMs}`)).toEqual(['disconnected 50', 'timeout 100']);
    const keys = calls.map((call) => call.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it('stops after `retries` more attempts and throws the last error', async () => {
    vi.useFakeTimers();
    const { fetch, calls } = fakeFetch(apiError(429, 'rate_limited', 'slow down', { retryAfterMs: 10 }));
    const { retries, onRetry } = recordRetries();
    const pending = failure(client(fetch, { onRetry, retry: { retries: 2 } }).history('c1'));

    await vi.advanceTimersByTimeAsync(20);

    expect(await pending).toMatchObject({ code: 'rate_limited', retryAfterMs: 10 });
    expect(calls).toHaveLength(3);
    expect(retries.map((retry) => retry.attempt)).toEqual([1, 2]);
  });

  it('does not wait longer than maxDelayMs: a long Retry-After is the caller’s to handle', async () => {
    const { fetch, calls } = fakeFetch(apiError(429, 'rate_limited', 'budget spent', { retryAfterMs: 3_600_000 }));

    expect(await failure(client(fetch).history('c1'))).toMatchObject({ code: 'rate_limited', retryAfterMs: 3_600_000 });
    expect(calls).toHaveLength(1);
  });

  it('never retries requests that are not safe to repeat, nor errors that waiting does not fix', async () => {
    const unsafe: Array<(parley: ParleyServerClient) => Promise<unknown>> = [
      (parley) => parley.createConversation({ members: ['alice'] }),
      (parley) => parley.updateConversation('c1', { metadata: { a: 1 } }),
      (parley) => parley.notify('alice', {}),
      (parley) => parley.disconnect('alice'),
      (parley) => parley.createKey({ name: 'n', scopes: ['keys:write'] }),
    ];
    for (const call of unsafe) {
      const { fetch, calls } = fakeFetch(apiError(503, 'unavailable', 'down', { retryAfterMs: 1 }));
      expect((await failure(call(client(fetch)))).code).toBe('unavailable');
      expect(calls).toHaveLength(1);
    }
    for (const [status, code] of [[500, 'internal'], [400, 'bad_request'], [409, 'conflict']] as const) {
      const { fetch, calls } = fakeFetch(apiError(status, code, 'no'));
      expect((await failure(client(fetch).presence('c1'))).code).toBe(code);
      expect(calls).toHaveLength(1);
    }
    const { fetch, calls } = fakeFetch(apiError(503, 'busy', 'full', { retryAfterMs: 1 }));
    expect((await failure(client(fetch, { retry: false }).presence('c1'))).code).toBe('busy');
    expect(calls).toHaveLength(1);
  });

  it('treats creating a conversation with an id as safe to repeat', async () => {
    vi.useFakeTimers();
    const { fetch, calls } = fakeFetch(apiError(503, 'unavailable', 'down', { retryAfterMs: 5 }), json({ conversation: VIEW, created: false }));
    const pending = client(fetch).createConversation({ id: 'c1' });

    await vi.advanceTimersByTimeAsync(5);

    expect(await pending).toEqual({ conversation: VIEW, created: false });
    expect(calls).toHaveLength(2);
  });
});

describe('ParleyServerClient response validation', () => {
  it('checks answers against the protocol when asked to', async () => {
    const wrong = { eventId: 'e1', seq: 'two', ts: 1, duplicate: false };
    const message = { text: 'x', sender: { kind: 'system' } } as const;

    expect(await client(fakeFetch(json(wrong, 201)).fetch).postMessage('c1', message)).toEqual(wrong);
    expect(await failure(client(fakeFetch(json(wrong, 201)).fetch, { validateResponses: true }).postMessage('c1', message))).toMatchObject({ code: 'internal', status: 201 });
    expect(await client(fakeFetch(json(ACK, 201)).fetch, { validateResponses: true }).postMessage('c1', message)).toEqual(ACK);
  });
});
