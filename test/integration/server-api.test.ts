import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall as call } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const text = (value: string) => ({ type: 'text', text: value });


/** Creates a key through the API as an admin of `tenant`. */
async function createKey(server: TestServer, tenant: string, scopes: string[]): Promise<string> {
  const admin = await token('admin', { tenant, roles: ['admin'] });
  const created = await call(server, admin, 'POST', '/keys', { name: 'test', scopes });
  expect(created.status).toBe(201);
  return created.body.key as string;
}

const ALL_SCOPES = ['conversations:write', 'messages:write', 'users:write', 'tokens:write', 'keys:write', 'webhooks:write'];

describe('server API over PGlite', () => {
  let server: TestServer;
  let key: string;
  let counter = 0;
  const conversationId = () => `api-${++counter}`;

  beforeAll(async () => {
    server = await startServer({ PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000', PARLEY_LARGE_ROOM_MEMBERS: '100' });
    key = await createKey(server, 'acme', ALL_SCOPES);
  });
  afterAll(() => server.stop());

  it('parley apikey create|list|revoke goes through the running server, and a revoked key is refused', async () => {
    const env = { ...process.env, PARLEY_DATA_DIR: server.dataDir, PARLEY_JWT_SECRET: TEST_SECRET, DATABASE_URL: '' };
    const run = promisify(execFile);
    const created = await run(process.execPath, [CLI, 'apikey', 'create', '--tenant', 'acme', '--scopes', 'conversations:read'], { env });
    const cliKey = created.stdout.trim();
    expect(cliKey).toMatch(/^psk_[a-z0-9]{16}\.[A-Za-z0-9_-]{32}$/);
    expect(created.stderr).toContain('shown only now');
    const id = cliKey.slice(4, 20);
    expect((await call(server, cliKey, 'GET', '/conversations?userId=nobody')).status).toBe(200);
    const listed = await run(process.execPath, [CLI, 'apikey', 'list', '--tenant', 'acme'], { env });
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain(cliKey.slice(21)); // never the secret
    await run(process.execPath, [CLI, 'apikey', 'revoke', '--tenant', 'acme', '--id', id], { env });
    const refused = await call(server, cliKey, 'GET', '/conversations?userId=nobody');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('unauthorized');
    // Starting a second server on the same data directory is refused with one clear line.
    await expect(startServer({ PARLEY_DATA_DIR: server.dataDir })).rejects.toThrow(/in use by a Parley server/);
  });

  it('creates a conversation with 500 members, pages them, and lists it for a member', async () => {
    const id = conversationId();
    const members = Array.from({ length: 500 }, (_, index) => `member-${String(index).padStart(3, '0')}`);
    const created = await call(server, key, 'POST', '/conversations', { id, members, metadata: { topic: 'launch' } });
    expect(created.status).toBe(201);
    expect(created.body.conversation).toMatchObject({ id, memberCount: 500, lastSeq: 1, metadata: { topic: 'launch' } });
    expect(created.body.conversation.members).toBeUndefined(); // a large room carries a count, not its members
    expect((await call(server, key, 'POST', '/conversations', { id })).status).toBe(200);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { members: Array<{ userId: string }>; nextCursor: string | null } } = await call(server, key, 'GET', `/conversations/${id}/members?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.members.map((member) => member.userId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(members);
    const listed = await call(server, key, 'GET', '/conversations?userId=member-007');
    expect(listed.body.conversations[0]).toMatchObject({ id, lastSeq: 1, lastReadSeq: 0, unread: 1 });
    expect((await call(server, key, 'GET', '/conversations?cursor=not-a-cursor&userId=x')).body.error.code).toBe('bad_request');
  });

  it('stores a post re-sent ten times with one Idempotency-Key once, and 1,000 concurrent re-sends once', async () => {
    const id = conversationId();
    await call(server, key, 'POST', '/conversations', { id, members: ['alice'] });
    const post = (idempotencyKey: string) =>
      call(server, key, 'POST', `/conversations/${id}/messages`, { content: text('order shipped'), sender: { kind: 'bot', id: 'orderbot' } }, { 'idempotency-key': idempotencyKey });
    const first = await post('shipment-1');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ seq: 2, duplicate: false });
    for (let repeat = 0; repeat < 9; repeat++) {
      const again = await post('shipment-1');
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, duplicate: true });
    }
    const storm = await Promise.all(Array.from({ length: 1000 }, () => post('shipment-2')));
    expect(storm.every((reply) => reply.status === 200 || reply.status === 201)).toBe(true);
    expect(storm.filter((reply) => !reply.body.duplicate)).toHaveLength(1);
    expect(new Set(storm.map((reply) => reply.body.seq))).toEqual(new Set([3]));
    const history = await call(server, key, 'GET', `/conversations/${id}/events?after=0`);
    const messages = history.body.events.filter((event: { type: string }) => event.type === 'message.created');
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ actor: { kind: 'service', id: 'orderbot' }, causation: { clientMsgId: 'shipment-1', apiKeyId: key.slice(4, 20) } });
  });

  it('posts as a user and as the system, reads history with after and before cursors, and updates metadata', async () => {
    const id = conversationId();
    await call(server, key, 'POST', '/conversations', { id, members: ['alice', 'bob'], metadata: { a: 1, b: 2 } });
    await call(server, key, 'POST', `/conversations/${id}/messages`, { content: text('from alice'), sender: { kind: 'user', id: 'alice' } });
    await call(server, key, 'POST', `/conversations/${id}/messages`, { content: text('maintenance at noon'), sender: { kind: 'system' } });
    const updated = await call(server, key, 'PATCH', `/conversations/${id}`, { metadata: { a: null, c: 3 } });
    expect(updated.body).toMatchObject({ conversation: { metadata: { b: 2, c: 3 } }, seq: 4 });
    const newest = await call(server, key, 'GET', `/conversations/${id}/events?limit=2`);
    expect(newest.body.events.map((event: { seq: number }) => event.seq)).toEqual([3, 4]);
    expect(newest.body.hasMore).toBe(true);
    const older = await call(server, key, 'GET', `/conversations/${id}/events?before=3`);
    expect(older.body.events.map((event: { actor: { kind: string } }) => event.actor.kind)).toEqual(['service', 'user']);
    const newer = await call(server, key, 'GET', `/conversations/${id}/events?after=2`);
    expect(newer.body.events.map((event: { type: string; actor: { kind: string } }) => `${event.type}/${event.actor.kind}`)).toEqual(['message.created/system', 'conversation.updated/service']);
    expect((await call(server, key, 'POST', `/conversations/${id}/messages`, { content: text('who am I?') })).body.error.code).toBe('bad_request');
  });

  it('answers bad input with the protocol codes mapped to statuses, one shape for every error', async () => {
    const cases = [
      [await call(server, key, 'POST', '/conversations', { members: 'alice' }), 400, 'bad_request'],
      [await call(server, key, 'GET', '/conversations/missing'), 404, 'not_found'],
      [await call(server, 'not-a-token', 'GET', '/conversations/missing'), 401, 'unauthorized'],
      [await call(server, key, 'POST', '/conversations/x/messages', { content: text('x'), sender: { kind: 'robot', id: 'r' } }), 400, 'bad_request'],
    ] as const;
    for (const [reply, status, code] of cases) {
      expect(reply.status).toBe(status);
      expect(reply.body.error.code).toBe(code);
      expect(typeof reply.body.error.message).toBe('string');
    }
    const malformed = await fetch(`${server.url}/v1/api/conversations`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"id":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });

  it('mints end-user tokens that connect, notifies a user on every connection, and disconnects them', async () => {
    const minted = await call(server, key, 'POST', '/tokens', { userId: 'carol', ttlSeconds: 600 });
    expect(minted.status).toBe(201);
    const carol = await RawClient.connect(server.wsUrl, minted.body.token);
    const connected = carol.frames.find((frame) => frame.result?.principal);
    expect(connected?.result.principal).toEqual({ tenant: 'acme', userId: 'carol', roles: ['user'] });
    const notified = await call(server, key, 'POST', '/users/carol/notify', { data: { title: 'Your order shipped' } });
    expect(notified.status).toBe(202);
    const push = await carol.waitFor((frame) => frame.push === 'notification');
    expect(push.notification).toMatchObject({ id: notified.body.id, data: { title: 'Your order shipped' } });
    expect((await call(server, key, 'POST', '/users/carol/disconnect', { reconnect: false })).status).toBe(202);
    expect((await carol.closed()).code).toBe(4503);
    const agentToken = await call(server, await createKey(server, 'acme', ['tokens:write']), 'POST', '/tokens', { userId: 'dave', roles: ['agent'] });
    expect(agentToken.status).toBe(403);
  });

  it('keeps keys to their tenant and their scopes: nothing of another tenant is reachable', async () => {
    const id = conversationId();
    await call(server, key, 'POST', '/conversations', { id, members: ['alice'] });
    await call(server, key, 'POST', `/conversations/${id}/messages`, { content: text('secret'), sender: { kind: 'user', id: 'alice' } });
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const intruder = await createKey(server, 'beta', ALL_SCOPES);
    const attempts = [
      call(server, intruder, 'GET', `/conversations/${id}`),
      call(server, intruder, 'PATCH', `/conversations/${id}`, { metadata: { x: 1 } }),
      call(server, intruder, 'GET', `/conversations/${id}/events?after=0`),
      call(server, intruder, 'GET', `/conversations/${id}/members`),
      call(server, intruder, 'POST', `/conversations/${id}/members`, { userIds: ['mallory'] }),
      call(server, intruder, 'POST', `/conversations/${id}/members/remove`, { userIds: ['alice'] }),
      call(server, intruder, 'POST', `/conversations/${id}/messages`, { content: text('x'), sender: { kind: 'user', id: 'alice' } }),
      call(server, intruder, 'GET', `/conversations/${id}/presence`),
    ];
    for (const reply of await Promise.all(attempts)) {
      expect(reply.status).toBe(404);
      expect(JSON.stringify(reply.body)).not.toContain('secret');
    }
    const broadcast = await call(server, intruder, 'POST', '/broadcast', { conversationIds: [id], content: text('x'), sender: { kind: 'system' } });
    expect(broadcast.body.results[0]).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect((await call(server, intruder, 'GET', '/conversations?userId=alice')).body.conversations).toEqual([]);
    expect((await call(server, intruder, 'GET', '/keys')).body.apiKeys.every((listed: { id: string }) => listed.id !== key.slice(4, 20))).toBe(true);
    expect((await call(server, intruder, 'DELETE', `/keys/${key.slice(4, 20)}`)).status).toBe(404);
    // beta's notify reaches beta's alice, never acme's.
    await call(server, intruder, 'POST', '/users/alice/notify', { data: { phish: true } });
    const minted = await call(server, intruder, 'POST', '/tokens', { userId: 'alice' });
    const betaAlice = await RawClient.connect(server.wsUrl, minted.body.token);
    expect((await betaAlice.call('conversation.get', { conversationId: id }).catch((error: Error) => error.message))).toContain('not_found');
    // A key without the scope is refused, with the scope it needs named.
    const reader = await createKey(server, 'acme', ['conversations:read']);
    const refused = await call(server, reader, 'POST', `/conversations/${id}/messages`, { content: text('x'), sender: { kind: 'system' } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.details).toEqual({ scope: 'messages:write' });
    expect((await call(server, reader, 'GET', `/conversations/${id}`)).status).toBe(200);
    expect(alice.frames.some((frame) => frame.push === 'notification')).toBe(false);
    alice.close();
    betaAlice.close();
  });

  it('publishes one message to many conversations with a result per conversation', async () => {
    const ids = [conversationId(), conversationId()];
    for (const id of ids) await call(server, key, 'POST', '/conversations', { id });
    const body = { conversationIds: [...ids, 'missing'], content: text('all hands'), sender: { kind: 'system' } };
    const first = await call(server, key, 'POST', '/broadcast', body, { 'idempotency-key': 'all-hands-1' });
    expect(first.body.results.map((result: { ok: boolean }) => result.ok)).toEqual([true, true, false]);
    const again = await call(server, key, 'POST', '/broadcast', body, { 'idempotency-key': 'all-hands-1' });
    expect(again.body.results.slice(0, 2).map((result: { ack: { duplicate: boolean } }) => result.ack.duplicate)).toEqual([true, true]);
  });

  it('large rooms (above PARLEY_LARGE_ROOM_MEMBERS) move read markers without events and do not broadcast typing or presence', async () => {
    const id = conversationId();
    const members = ['alice', 'bob', ...Array.from({ length: 120 }, (_, index) => `crowd-${index}`)];
    await call(server, key, 'POST', '/conversations', { id, members });
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    await alice.call('subscribe', { conversationId: id, since: 0 });
    await bob.call('subscribe', { conversationId: id, since: 0 });
    await bob.call('typing', { conversationId: id, active: true });
    const { seq } = await alice.call('message.send', { conversationId: id, clientMsgId: 'm1', content: text('hello crowd') });
    expect(await bob.call('read', { conversationId: id, seq })).toEqual({ seq, changed: true });
    await bob.waitFor((frame) => frame.push === 'event' && frame.event.seq === seq);
    const { events } = await alice.call('history', { conversationId: id, after: 0 });
    expect(events.map((event: { type: string }) => event.type)).toEqual(['conversation.created', 'message.created']);
    const listed = await call(server, key, 'GET', '/conversations?userId=bob');
    expect(listed.body.conversations.find((each: { id: string }) => each.id === id)).toMatchObject({ lastReadSeq: seq, unread: 0 });
    expect(alice.frames.some((frame) => frame.push === 'signal')).toBe(false);
    alice.close();
    bob.close();
  });

  it('members.remove ends the removed user’s subscription at once; the user can no longer read or send', async () => {
    const id = conversationId();
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    await alice.call('conversation.open', { conversationId: id, members: ['bob'] });
    await bob.call('subscribe', { conversationId: id, since: 0 });
    expect(await alice.call('members.remove', { conversationId: id, userIds: ['bob'] })).toEqual({ removed: ['bob'], seq: 2 });
    const ended = await bob.waitFor((frame) => frame.push === 'unsubscribed');
    expect(ended).toMatchObject({ conversationId: id, code: 'forbidden' });
    await alice.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('bob cannot see this') });
    expect((await bob.request('message.send', { conversationId: id, clientMsgId: 'x', content: text('x') })).error.code).toBe('forbidden');
    expect((await bob.request('subscribe', { conversationId: id })).error.code).toBe('forbidden');
    await eventually(() => expect(bob.frames.some((frame) => frame.event?.data?.content?.text === 'bob cannot see this')).toBe(false));
    // bob leaves a conversation he is in; carol (not the creator) may not remove alice.
    await alice.call('members.add', { conversationId: id, userIds: ['bob', 'carol'] });
    const carol = await RawClient.connect(server.wsUrl, await token('carol'));
    expect((await carol.request('members.remove', { conversationId: id, userIds: ['alice'] })).error.code).toBe('forbidden');
    expect(await bob.call('members.remove', { conversationId: id, userIds: ['bob'] })).toMatchObject({ removed: ['bob'] });
    for (const client of [alice, bob, carol]) client.close();
  });

  it('serves an OpenAPI 3.1 document and the API reference page', async () => {
    const document = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toContain('/v1/api/conversations/{id}/messages');
    const page = await fetch(`${server.url}/docs/api`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/docs/api/assets/swagger-ui-bundle.js');
    expect((await fetch(`${server.url}/docs/api/assets/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${server.url}/docs/api/assets/package.json`)).status).toBe(404);
  });
});

describe('server API limits', () => {
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    server = await startServer({ PARLEY_API_MAX_BODY_BYTES: '2048', PARLEY_USER_SEND_RATE_PER_SECOND: '0.5', PARLEY_USER_SEND_BURST: '2' });
    key = await createKey(server, 'acme', ALL_SCOPES);
  });
  afterAll(() => server.stop());

  it('refuses a body over the limit with 413 and a sender over its rate with 429 and Retry-After', async () => {
    await call(server, key, 'POST', '/conversations', { id: 'limits' });
    const large = await call(server, key, 'POST', '/conversations/limits/messages', { content: text('x'.repeat(4096)), sender: { kind: 'system' } });
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe('too_large');
    const replies = [];
    for (let index = 0; index < 4; index++) replies.push(await call(server, key, 'POST', '/conversations/limits/messages', { content: text(`m${index}`), sender: { kind: 'system' } }));
    const limited = replies.find((reply) => reply.status === 429);
    expect(limited?.body.error).toMatchObject({ code: 'rate_limited', details: { scope: 'api_key' } });
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
