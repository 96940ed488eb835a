import { ParleyApiError, ParleyServerClient, type RetryInfo } from '@parley/client/server';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const SEND_BURST = 40;

/** The server SDK (`@parley/client/server`) against a real server process, with a key made by `parley apikey create`. */
describe('server SDK end to end', () => {
  let server: TestServer;
  let dataDir: string;
  let parley: ParleyServerClient;
  const sdk = (apiKey: string, options: Partial<ConstructorParameters<typeof ParleyServerClient>[0]> = {}) =>
    new ParleyServerClient({ url: server.url, apiKey, validateResponses: true, ...options });
  const failure = async (promise: Promise<unknown>): Promise<ParleyApiError> => {
    const error = await promise.then(() => null, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(ParleyApiError);
    return error as ParleyApiError;
  };

  /** `parley apikey create` against the running server's data directory, as the README says; prints only the key. */
  async function cliKey(scopes: string): Promise<string> {
    const env = { ...process.env, PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: TEST_SECRET, DATABASE_URL: '' };
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'apikey', 'create', '--tenant', 'acme', '--scopes', scopes, '--name', 'test'], { env });
    return stdout.trim();
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-server-sdk-'));
    // A small per-sender burst, so that one test can spend it; the others stay well below it.
    server = await startServer({ PARLEY_DATA_DIR: dataDir, PARLEY_USER_SEND_RATE_PER_SECOND: '0.5', PARLEY_USER_SEND_BURST: String(SEND_BURST) });
    parley = sdk(await cliKey('conversations:write,messages:write,users:write,tokens:write,keys:write'));
  });
  afterAll(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates a conversation, posts as a bot with an idempotency key (ten repeats, one stored), reads history and lists a user’s conversations', async () => {
    const created = await parley.createConversation({ id: 'order-1234', members: ['alice', 'bob'], metadata: { order: 1234 } });
    expect(created).toMatchObject({ created: true, conversation: { id: 'order-1234', members: ['alice', 'bob'], memberCount: 2, lastSeq: 1 } });
    expect(await parley.createConversation({ id: 'order-1234' })).toMatchObject({ created: false });

    const message = { text: 'Your order 1234 has shipped.', sender: { kind: 'bot', id: 'shop-bot' } } as const;
    const acks = [];
    for (let repeat = 0; repeat < 10; repeat++) acks.push(await parley.postMessage('order-1234', message, { idempotencyKey: 'order-1234-shipped' }));
    expect(acks.map((ack) => [ack.seq, ack.duplicate])).toEqual([[2, false], ...Array.from({ length: 9 }, () => [2, true])]);
    expect(new Set(acks.map((ack) => ack.eventId)).size).toBe(1);

    const { events, hasMore } = await parley.history('order-1234');
    expect(hasMore).toBe(false);
    expect(events.map((event) => `${event.seq} ${event.type} ${event.actor.kind}:${event.actor.id}`)).toEqual(['1 conversation.created service:' + created.conversation.createdBy, '2 message.created service:shop-bot']);
    expect(events[1]!.data).toEqual({ content: { type: 'text', text: 'Your order 1234 has shipped.' } });
    expect(events[1]!.causation).toMatchObject({ clientMsgId: 'order-1234-shipped', apiKeyId: created.conversation.createdBy });

    const list = await parley.listConversations({ userId: 'alice' });
    expect(list.conversations.map(({ id, lastSeq, lastReadSeq, unread }) => ({ id, lastSeq, lastReadSeq, unread }))).toEqual([{ id: 'order-1234', lastSeq: 2, lastReadSeq: 0, unread: 2 }]);
    expect(list.nextCursor).toBeNull();
  });

  it('pages history with after and before, and conversations with cursors', async () => {
    await parley.createConversation({ id: 'paged', members: ['dana'] });
    for (let index = 1; index <= 5; index++) await parley.postMessage('paged', { text: `m${index}`, sender: { kind: 'system' } });
    const seqs = (page: { events: Array<{ seq: number }> }) => page.events.map((event) => event.seq);
    expect(seqs(await parley.history('paged', { after: 2, limit: 2 }))).toEqual([3, 4]);
    expect(seqs(await parley.history('paged', { before: 3 }))).toEqual([1, 2]);
    expect(seqs(await parley.history('paged', { limit: 2 }))).toEqual([5, 6]);

    for (const id of ['dana-1', 'dana-2', 'dana-3']) await parley.createConversation({ id, members: ['dana'] });
    const first = await parley.listConversations({ userId: 'dana', limit: 2 });
    const second = await parley.listConversations({ userId: 'dana', limit: 2, cursor: first.nextCursor! });
    expect([...first.conversations, ...second.conversations].map((conversation) => conversation.id)).toEqual(['dana-3', 'dana-2', 'dana-1', 'paged']);
    expect(second.nextCursor).toBeNull();
  });

  it('manages members past the large-room threshold, metadata, presence and broadcasts', async () => {
    await parley.createConversation({ id: 'town-hall', members: Array.from({ length: 100 }, (_, index) => `user-${String(index).padStart(3, '0')}`) });
    expect(await parley.addMembers('town-hall', ['user-100', 'user-101', 'user-000'])).toMatchObject({ added: ['user-100', 'user-101'] });
    const large = await parley.getConversation('town-hall');
    expect(large.memberCount).toBe(102);
    expect(large.members).toBeUndefined(); // above PARLEY_LARGE_ROOM_MEMBERS (100): page them instead
    const first = await parley.listMembers('town-hall', { limit: 100 });
    const rest = await parley.listMembers('town-hall', { cursor: first.nextCursor! });
    expect(first.members).toHaveLength(100);
    expect(rest).toMatchObject({ members: [{ userId: 'user-100' }, { userId: 'user-101' }], nextCursor: null });
    expect(await parley.removeMembers('town-hall', ['user-101', 'nobody'])).toMatchObject({ removed: ['user-101'] });

    const updated = await parley.updateConversation('town-hall', { metadata: { title: 'All hands', draft: null } });
    expect(updated.conversation.metadata).toEqual({ title: 'All hands' });
    expect(await parley.presence('town-hall')).toEqual({ online: [] });

    const { results } = await parley.broadcast({ conversationIds: ['town-hall', 'order-1234', 'no-such-room'], text: 'Maintenance at 22:00 UTC', sender: { kind: 'system' } }, { idempotencyKey: 'maintenance-1' });
    expect(results.map((result) => (result.ok ? `${result.conversationId} #${result.ack.seq}` : `${result.conversationId} ${result.error.code}`))).toEqual([
      expect.stringMatching(/^town-hall #\d+$/),
      expect.stringMatching(/^order-1234 #\d+$/),
      'no-such-room not_found',
    ]);
  });

  it('notifies and disconnects a connected user, and mints tokens that connect', async () => {
    const { token: minted, expiresAt } = await parley.mintToken({ userId: 'erin', ttlSeconds: 600 });
    expect(expiresAt).toBeGreaterThan(Date.now());
    const erin = await RawClient.connect(server.wsUrl, minted);
    const connected = erin.frames[0]!.result;
    expect(connected.principal).toEqual({ tenant: 'acme', userId: 'erin', roles: ['user'] });

    const { id } = await parley.notify('erin', { kind: 'order.shipped', order: 1234 });
    expect((await erin.waitFor((frame) => frame.push === 'notification')).notification).toMatchObject({ id, data: { kind: 'order.shipped', order: 1234 } });

    await parley.disconnect('erin', { reconnect: false });
    expect((await erin.closed()).code).toBe(4503);
  });

  it('creates, lists and revokes keys; a revoked key is refused', async () => {
    const { key, apiKey } = await parley.createKey({ name: 'reporting', scopes: ['conversations:read'] });
    expect(key).toMatch(new RegExp(`^psk_${apiKey.id}\\.`));
    const listed = await parley.listKeys();
    expect(listed.find((view) => view.id === apiKey.id)).toEqual(apiKey);
    expect(JSON.stringify(listed)).not.toContain(key.split('.')[1]);

    const reporting = sdk(key);
    expect((await reporting.getConversation('order-1234')).id).toBe('order-1234');
    expect(await failure(reporting.postMessage('order-1234', { text: 'x', sender: { kind: 'system' } }))).toMatchObject({ code: 'forbidden', status: 403, details: { scope: 'messages:write' } });

    await parley.revokeKey(apiKey.id);
    await parley.revokeKey(apiKey.id); // a repeat is harmless, so the SDK may retry it
    expect(await failure(reporting.getConversation('order-1234'))).toMatchObject({ code: 'unauthorized', status: 401 });
    expect((await parley.listKeys()).find((view) => view.id === apiKey.id)!.revokedAt).toEqual(expect.any(Number));
  });

  it('keeps tenants apart and lets users act with their own JWT', async () => {
    const globexAdmin = sdk(await token('globex-admin', { tenant: 'globex', roles: ['admin'] }));
    const other = sdk((await globexAdmin.createKey({ name: 'globex', scopes: ['conversations:write', 'messages:write'] })).key);
    expect(await failure(other.getConversation('order-1234'))).toMatchObject({ code: 'not_found', status: 404 });
    expect(await failure(other.postMessage('order-1234', { text: 'x', sender: { kind: 'system' } }))).toMatchObject({ code: 'not_found' });

    const alice = sdk(await token('alice'));
    expect((await alice.listConversations()).conversations.map((conversation) => conversation.id)).toContain('order-1234');
    expect((await alice.postMessage('order-1234', { text: 'Thanks!' })).duplicate).toBe(false);
    expect(await failure(alice.postMessage('order-1234', { text: 'x', sender: { kind: 'system' } }))).toMatchObject({ code: 'forbidden' });
  });

  it('reports rate limits with Retry-After, and retries a post after waiting that long', async () => {
    const poster = (await parley.createKey({ name: 'poster', scopes: ['messages:write'] })).key;
    const noRetry = sdk(poster, { retry: false });
    // The bucket refills one post every 2 s: send until refused (bounded), having got at least the burst through. The
    // patient post below follows within milliseconds, well before a refill, so it meets the limit and waits it out.
    let accepted = 0;
    let refused: ParleyApiError | null = null;
    while (!refused && accepted < SEND_BURST * 5) {
      await noRetry.postMessage('paged', { text: `burst ${accepted}`, sender: { kind: 'system' } }).then(() => accepted++, (error: ParleyApiError) => (refused = error));
    }
    expect(accepted).toBeGreaterThanOrEqual(SEND_BURST);
    expect(refused).toMatchObject({ code: 'rate_limited', status: 429, details: { scope: 'api_key' } });
    expect(refused!.retryAfterMs).toBeGreaterThan(0);

    const retries: RetryInfo[] = [];
    const patient = sdk(poster, { onRetry: (info) => retries.push(info) });
    expect((await patient.postMessage('paged', { text: 'after the wait', sender: { kind: 'system' } })).duplicate).toBe(false);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatchObject({ attempt: 1, error: { code: 'rate_limited' }, delayMs: retries[0]!.error.retryAfterMs });
  });

  it('reads request bodies sent without a Content-Length, and refuses them past the limit', async () => {
    const { key } = await parley.createKey({ name: 'chunked', scopes: ['users:write'] });
    const chunked = (text: string) =>
      fetch(`${server.url}/v1/api/users/frank/notify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: new ReadableStream({ start: (controller) => (controller.enqueue(new TextEncoder().encode(text)), controller.close()) }),
        duplex: 'half',
      } as RequestInit);
    expect((await chunked(JSON.stringify({ data: { hello: 'frank' } }))).status).toBe(202);
    const tooLarge = await chunked(JSON.stringify({ data: { text: 'x'.repeat(1024 * 1024) } }));
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { error: { code: string } }).error.code).toBe('too_large');
  });

  it('answers unknown routes and bodies that are not JSON with a protocol error, not a bare 404 or a 500', async () => {
    const { key } = await parley.createKey({ name: 'edges', scopes: ['conversations:write'] });
    const call = async (method: string, path: string, init: RequestInit = {}) => {
      const response = await fetch(`${server.url}/v1/api${path}`, { method, ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
      return { status: response.status, error: ((await response.json()) as { error: { code: string } }).error.code };
    };
    expect(await call('GET', '/no-such-route')).toEqual({ status: 404, error: 'not_found' });
    expect(await call('PUT', '/conversations/order-1234')).toEqual({ status: 404, error: 'not_found' });
    expect(await call('POST', '/conversations', { body: '{"id":"form"}', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).toEqual({ status: 400, error: 'bad_request' });
    expect(await failure(sdk(key).getConversation('form'))).toMatchObject({ code: 'not_found' });
  });
});
