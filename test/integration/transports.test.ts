import { once } from 'node:events';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { markdownBlock, NGINX_INSTALLED, startNginx } from '../support/nginx.js';
import { RtClient, type RtTransport } from '../support/rt-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/**
 * The HTTP fallback transports (SSE, HTTP streaming, long-poll) from outside, with fetch and no SDK:
 * the same operations as the WebSocket, positions and acknowledgements, batches in order, the staff
 * filter, bad input, and sessions across two nodes (forwarding, stream relay, a node killed).
 */
type Frame = Record<string, any>;

const OPERATIONS_MD = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));
const TRANSPORTS: RtTransport[] = ['sse', 'http-stream', 'long-poll'];
const STREAMS: RtTransport[] = ['sse', 'http-stream'];
const ALLOWED_ORIGIN = 'https://app.example';
const text = (value: string) => ({ type: 'text', text: value });
const texts = (events: Frame[]) => events.filter((event) => event.type === 'message.created').map((event) => event.data.content.text as string);
let conversations = 0;
const conversationId = () => `rt-${process.pid}-${Date.now()}-${conversations++}`;

/** The node id a server logged when it started listening. */
function nodeIdOf(server: TestServer): string {
  const line = server.logs.find((entry) => entry.includes('"msg":"listening"'))!;
  return (JSON.parse(line) as { node: string }).node;
}

/** Positions received in one session: 1, 2, 3, ... with none missing and none twice. */
function expectGapless(client: RtClient): void {
  const positions = client.received.map((received) => received.position);
  expect(positions).toEqual(positions.map((_, index) => index + 1));
}

/** `user` over `transport` in a new conversation with bob, subscribed from its start. */
async function conversationOver(url: string, transport: RtTransport, user = 'alice', headers: Record<string, string> = {}) {
  const client = await RtClient.connect(url, transport, await token(user), headers);
  const id = conversationId();
  await client.call('conversation.open', { conversationId: id, members: ['bob'] });
  await client.call('subscribe', { conversationId: id, since: 0 });
  return { client, id };
}

describe('HTTP transports on one node', () => {
  let server: TestServer;
  const opened: RawClient[] = [];
  const ws = async (user: string, options: { roles?: string[] } = {}) => {
    const client = await RawClient.connect(server.wsUrl, await token(user, options));
    opened.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer({
      PARLEY_RATE_PER_SECOND: '1000',
      PARLEY_RATE_BURST: '1000',
      PARLEY_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
      PARLEY_MAX_FRAME_BYTES: '4096',
      PARLEY_API_MAX_BODY_BYTES: '65536',
      PARLEY_MAX_BUFFERED_BYTES: '65536',
      PARLEY_RT_SESSION_TIMEOUT_MS: '2000',
      PARLEY_RT_POLL_TIMEOUT_MS: '1000',
      PARLEY_RT_FORWARD_TIMEOUT_MS: '300',
    });
  });
  afterAll(async () => {
    for (const client of opened) client.close();
    if (server.process.exitCode === null) await server.stop();
  });

  describe.each(TRANSPORTS)('over %s', (transport) => {
    it('connects, subscribes, sends, and gets the reply and the pushes', async () => {
      const { client: alice, id } = await conversationOver(server.url, transport);
      expect(alice.open).toMatchObject({ transport, pingIntervalMs: 25_000, sessionTimeoutMs: 2000, session: expect.stringMatching(/^[\w-]+\.[\w-]{24}$/) });
      const sent = await alice.call('message.send', { conversationId: id, clientMsgId: 'a1', content: text('hello from alice') });
      expect(sent).toMatchObject({ seq: 2, duplicate: false }); // after conversation.created
      const bob = await ws('bob');
      await bob.call('message.send', { conversationId: id, clientMsgId: 'b1', content: text('hello from bob') });
      await eventually(() => expect(texts(alice.events(id))).toEqual(['hello from alice', 'hello from bob']));
      expect(alice.events(id).map((event) => event.seq)).toEqual([1, 2, 3]);
      expectGapless(alice);
      if (transport !== 'long-poll') expect(alice.pings).toBeGreaterThanOrEqual(1);
      // Its connection counts under its transport's label.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`parley_connections_open\\{transport="${transport}"\\} [1-9]`));
      alice.cut();
    });

    it('never delivers a staff-only event to a user, and gives staff theirs', async () => {
      const customer = await RtClient.connect(server.url, transport, await token('carla'));
      const id = conversationId();
      await customer.call('conversation.open', { conversationId: id, assistant: 'assistant' });
      await customer.call('subscribe', { conversationId: id, since: 0 });
      const agent = await RtClient.connect(server.url, transport, await token('dana', { roles: ['agent'] }));
      await agent.call('subscribe', { conversationId: id, since: 0, staffSince: 0 });
      await agent.call('support.note', { conversationId: id, clientMsgId: 'n1', text: 'VIP customer, be nice' });
      await agent.waitFor((frame) => frame.push === 'staffEvent' && frame.event.type === 'note.created');
      await agent.call('message.send', { conversationId: id, clientMsgId: 'd1', content: text('Hi, Dana here') });
      await eventually(() => expect(texts(customer.events(id))).toContain('Hi, Dana here'));
      expect(customer.frames.some((frame) => frame.push === 'staffEvent' || (frame.push === 'signal' && frame.signal.type === 'staff.event'))).toBe(false);
      const seqs = customer.events(id).map((event) => event.seq);
      expect(seqs).toEqual(seqs.map((_, index) => index + 1));
      customer.cut();
      agent.cut();
    });
  });

  it.each(STREAMS)('a %s stream cut and re-attached with Parley-Last-Position gets the rest once', async (transport) => {
    const { client: alice, id } = await conversationOver(server.url, transport);
    const bob = await ws('bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'before', content: text('before') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['before']));
    alice.cut();
    const sent = Array.from({ length: 10 }, (_, index) => `while cut ${index}`);
    for (const [index, message] of sent.entries()) await bob.call('message.send', { conversationId: id, clientMsgId: `cut${index}`, content: text(message) });
    await alice.reattach();
    await bob.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('after') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['before', ...sent, 'after']));
    expectGapless(alice);
    alice.cut();
  });

  it('a re-attached SSE stream also takes the position from Last-Event-ID', async () => {
    const { client: alice, id } = await conversationOver(server.url, 'sse');
    await eventually(() => expect(alice.events(id).map((event) => event.type)).toEqual(['conversation.created']));
    alice.cut();
    const response = await fetch(`${server.url}/v1/rt/stream`, { headers: { Accept: 'text/event-stream', 'Parley-Session': alice.session, 'Last-Event-ID': String(alice.position) } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const bob = await ws('bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'b1', content: text('live') });
    let received = '';
    while (!received.includes('live')) received += (await reader.read()).value;
    // A ping at once, then only what it does not have: the new message, at the next position.
    expect(received).toMatch(new RegExp(`^event: ping\ndata: \{\}\n\nid: ${alice.position + 1}\ndata: \{"push":"event","event":\{[^\n]*"live"`));
    await reader.cancel();
  });

  it('closes a stream whose client acknowledges nothing as a slow consumer (4001) once it holds more than the buffer limit', async () => {
    const { client: alice, id } = await conversationOver(server.url, 'sse');
    const bob = await ws('bob');
    // Alice reads but never acknowledges: the frames stay kept for her, 3 KB each, up to the 64 KB limit.
    for (let index = 0; index < 30 && !alice.close; index++) {
      await bob.call('message.send', { conversationId: id, clientMsgId: `big${index}`, content: text(`${index} ${'x'.repeat(3000)}`) });
    }
    await eventually(() => expect(alice.close).toEqual({ code: 4001, reason: 'slow consumer' }));
    expectGapless(alice);
    // It resumes as after any close: a new session, subscribe since the last seq it has.
    const lastSeq = alice.events(id).at(-1)!.seq as number;
    const resumed = await RtClient.connect(server.url, 'sse', await token('alice'));
    await resumed.call('subscribe', { conversationId: id, since: lastSeq });
    await bob.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('after') });
    await eventually(() => expect(texts(resumed.events(id)).at(-1)).toBe('after'));
    const seqs = [...alice.events(id), ...resumed.events(id)].map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
    resumed.cut();
  });

  it('a poll response lost in transit is delivered again by the next poll with the old position', async () => {
    const client = await RtClient.connect(server.url, 'long-poll', await token('alice'));
    client.cut();
    const position = client.position;
    const request = client.frame('conversation.list', {});
    expect((await client.post([request])).status).toBe(204);
    let first: Frame = { frames: [] };
    while (first.frames.length === 0) first = (await client.pollOnce(position)).body;
    expect(first.frames[0]).toMatchObject({ position: position + 1, frame: { id: request.id, result: { conversations: expect.any(Array) } } });
    // The answer never reached the client: it polls again with the position it had.
    const again = await client.pollOnce(position);
    expect(again).toEqual({ status: 200, body: first });
    // Once acknowledged (a poll with the later position), they are not sent again.
    const after = await client.pollOnce(first.frames.at(-1).position);
    expect(after).toEqual({ status: 200, body: { frames: [] } });
  });

  it('applies POST batches in n order whatever order they arrive in, and a repeated n once', async () => {
    const { client: alice, id } = await conversationOver(server.url, 'sse');
    const [first, second, third] = ['first', 'second', 'third'].map((word) => alice.frame('message.send', { conversationId: id, clientMsgId: word, content: text(word) })) as [Frame, Frame, Frame];
    const n = alice.nextBatch;
    alice.nextBatch += 3;
    const arrivals: Array<[number, Frame]> = [
      [n + 2, third],
      [n + 1, second],
      [n + 1, second],
      [n, first],
      [n + 2, third],
    ];
    for (const [batch, frame] of arrivals) expect((await alice.post([frame], { n: batch })).status).toBe(204);
    await eventually(() => expect(texts(alice.events(id))).toEqual(['first', 'second', 'third']));
    for (const frame of [first, second, third]) await alice.waitFor((received) => received.id === frame.id);
    // One reply each: a repeated batch was not applied again (the log would have answered `duplicate: true`).
    expect(alice.frames.filter((frame) => frame.id === second.id)).toEqual([{ id: second.id, result: expect.objectContaining({ duplicate: false }) }]);
    expect(alice.frames.filter((frame) => frame.id === third.id)).toHaveLength(1);
    alice.cut();
  });

  describe('bad input', () => {
    const post = (body: string, headers: Record<string, string>) => fetch(`${server.url}/v1/rt/send`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
    const errorOf = async (response: Response) => ({ status: response.status, error: ((await response.json()) as Frame).error });

    it('answers a malformed or invalid POST body with 400 bad_request', async () => {
      const client = await RtClient.open(server.url, 'long-poll');
      const session = { 'Parley-Session': client.session };
      expect(await errorOf(await post('{"n":1,', session))).toEqual({ status: 400, error: { code: 'bad_request', message: 'the body is not valid JSON' } });
      expect(await errorOf(await post('{"n":0,"frames":[]}', session))).toMatchObject({ status: 400, error: { code: 'bad_request', message: expect.stringContaining('n') } });
      expect(await errorOf(await post('{"frames":[]}', session))).toMatchObject({ status: 400, error: { code: 'bad_request', message: expect.stringContaining('n and frames go together') } });
      expect(await errorOf(await post('{"ack":5}', session))).toMatchObject({ status: 400, error: { code: 'bad_request', message: 'ack 5 is past the last position sent (0)' } });
      const plain = await fetch(`${server.url}/v1/rt/send`, { method: 'POST', headers: { ...session, 'Content-Type': 'text/plain' }, body: '{"ack":0}' });
      expect(await errorOf(plain)).toMatchObject({ status: 400, error: { code: 'bad_request', message: expect.stringContaining('Content-Type: application/json') } });
      client.cut();
    });

    it('answers a missing, malformed, unknown or expired session with 410 session_expired', async () => {
      const client = await RtClient.open(server.url, 'long-poll');
      client.cut();
      // Alive at first; nobody reads it (no stream, no poll), so after the session timeout (2 s) it is gone.
      expect((await post('{"ack":0}', { 'Parley-Session': client.session })).status).toBe(204);
      const node = client.session.split('.')[0];
      const unknownHere = `${node}.${'A'.repeat(24)}`;
      const unknownNode = `elsewhere.${'A'.repeat(24)}`;
      expect(await errorOf(await post('{"ack":0}', {}))).toMatchObject({ status: 410, error: { code: 'session_expired' } });
      for (const session of ['nope', unknownHere, unknownNode]) {
        expect(await errorOf(await post('{"ack":0}', { 'Parley-Session': session })), session).toMatchObject({ status: 410, error: { code: 'session_expired' } });
        const poll = await fetch(`${server.url}/v1/rt/poll`, { headers: { 'Parley-Session': session, 'Parley-Last-Position': '0' } });
        expect(await errorOf(poll), session).toMatchObject({ status: 410, error: { code: 'session_expired' } });
        const stream = await fetch(`${server.url}/v1/rt/stream`, { headers: { Accept: 'text/event-stream', 'Parley-Session': session, 'Parley-Last-Position': '0' } });
        expect(await errorOf(stream), session).toMatchObject({ status: 410, error: { code: 'session_expired' } });
      }
      await eventually(async () => expect((await post('{"ack":0}', { 'Parley-Session': client.session })).status).toBe(410));
    });

    it('answers an oversized frame with too_large on the stream, and an oversized body with 413', async () => {
      const client = await RtClient.connect(server.url, 'sse', await token('alice'));
      const big = client.frame('message.send', { conversationId: 'x', clientMsgId: 'big', content: text('x'.repeat(5000)) });
      expect((await client.post([big])).status).toBe(204);
      const reply = await client.waitFor((frame) => frame.id === big.id);
      expect(reply.error).toMatchObject({ code: 'too_large', message: expect.stringContaining('exceeds the limit of 4096') });
      // Refused whole, so its batch number is not used up: the next batch takes it.
      const huge = await client.post([client.frame('message.send', { content: text('x'.repeat(70_000)) })], { n: client.nextBatch });
      expect(await errorOf(huge)).toMatchObject({ status: 413, error: { code: 'too_large' } });
      // The session goes on.
      expect(await client.call('conversation.list', {})).toMatchObject({ conversations: expect.any(Array) });
      client.cut();
    });

    it('refuses an Origin that is not allowed with 403, and answers CORS preflights for allowed ones', async () => {
      for (const path of ['/v1/rt/stream', '/v1/rt/poll']) {
        const refused = await fetch(`${server.url}${path}`, { headers: { Accept: 'text/event-stream', Origin: 'https://evil.example' } });
        expect(await errorOf(refused), path).toEqual({ status: 403, error: { code: 'forbidden', message: 'origin not allowed' } });
      }
      const client = await RtClient.open(server.url, 'sse', { Origin: ALLOWED_ORIGIN });
      const crossSite = await post('{"ack":0}', { 'Parley-Session': client.session, Origin: 'https://evil.example' });
      expect(await errorOf(crossSite)).toMatchObject({ status: 403, error: { code: 'forbidden' } });
      const allowed = await post('{"ack":0}', { 'Parley-Session': client.session, Origin: ALLOWED_ORIGIN });
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
      const preflight = await fetch(`${server.url}/v1/rt/send`, {
        method: 'OPTIONS',
        headers: { Origin: ALLOWED_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'parley-session,content-type' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
      expect(preflight.headers.get('access-control-allow-headers')).toBe('Parley-Session,Parley-Last-Position,Last-Event-ID,Content-Type');
      expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
      const foreign = await fetch(`${server.url}/v1/rt/send`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
      client.cut();
    });

    it('answers a bad or missing position, or a stream without a format, with 400', async () => {
      const client = await RtClient.open(server.url, 'sse');
      client.cut();
      const stream = (headers: Record<string, string>) => fetch(`${server.url}/v1/rt/stream`, { headers: { Accept: 'text/event-stream', 'Parley-Session': client.session, ...headers } });
      expect(await errorOf(await stream({ 'Parley-Last-Position': 'abc' }))).toEqual({ status: 400, error: { code: 'bad_request', message: 'Parley-Last-Position must be a non-negative integer' } });
      expect(await errorOf(await stream({ 'Parley-Last-Position': '-1' }))).toMatchObject({ status: 400, error: { code: 'bad_request' } });
      expect(await errorOf(await stream({ 'Parley-Last-Position': '99' }))).toMatchObject({ status: 400, error: { code: 'bad_request', message: 'Parley-Last-Position 99 is past the last position sent (0)' } });
      expect(await errorOf(await stream({}))).toMatchObject({ status: 400, error: { code: 'bad_request', message: expect.stringContaining('send Parley-Last-Position') } });
      const noFormat = await fetch(`${server.url}/v1/rt/stream`, { headers: { Accept: '*/*' } });
      expect(await errorOf(noFormat)).toMatchObject({ status: 400, error: { code: 'bad_request', message: expect.stringContaining('Accept: text/event-stream') } });
    });
  });

  it.skipIf(!NGINX_INSTALLED)('goes through nginx configured as docs/operations.md shows: an unbuffered stream, a send and a poll over one HTTP/2 connection', async () => {
    const block = await markdownBlock(OPERATIONS_MD, 'nginx-config');
    const nginx = await startNginx(block, (config, { port, certificate, key }) => {
      const prepared = config
        .replace(/server 10\.0\.0\.\d+:\d+/g, `server 127.0.0.1:${server.port}`)
        .replace('listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`)
        .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${certificate};`)
        .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${key};`);
      expect(prepared).not.toMatch(/10\.0\.0\.|^\s*listen 443|\/etc\/nginx/m);
      return prepared;
    });
    const http2 = connectHttp2(`https://127.0.0.1:${nginx.port}`, { rejectUnauthorized: false });
    try {
      const stream = http2.request({ ':path': '/v1/rt/stream', accept: 'text/event-stream' });
      const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
      expect(headers[':status']).toBe(200);
      expect(http2.alpnProtocol).toBe('h2');
      let received = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      // The open event and the first ping arrive while the response is still open: nginx does not buffer it.
      await eventually(() => expect(received).toMatch(/^event: open\ndata: .*\n\nevent: ping\ndata: \{\}\n\n/));
      const session = (JSON.parse(/^event: open\ndata: (.*)\n/.exec(received)![1]!) as { session: string }).session;
      const send = await h2Request(http2, { ':method': 'POST', ':path': '/v1/rt/send', 'parley-session': session, 'content-type': 'application/json' }, JSON.stringify({ n: 1, frames: [{ id: 1, op: 'connect', args: { token: await token('alice') } }] }));
      expect(send.status).toBe(204);
      await eventually(() => expect(received).toMatch(/id: 1\ndata: \{"id":1,"result":\{"sessionId":"[^"]+","principal":\{"tenant":"acme","userId":"alice"/));
      // A long-poll session on the same connection, while the stream is open.
      const poll = await h2Request(http2, { ':path': '/v1/rt/poll' });
      expect(poll.status).toBe(200);
      expect(JSON.parse(poll.body)).toMatchObject({ open: { transport: 'long-poll' }, frames: [] });
      stream.close();
    } finally {
      http2.close();
      await nginx.stop();
    }
  });

  // Last: it stops the server.
  it('tells every stream to reconnect elsewhere (4000) when the node shuts down', async () => {
    const streams = await Promise.all(STREAMS.map(async (transport) => RtClient.connect(server.url, transport, await token('alice'))));
    await server.stop();
    await eventually(() => expect(streams.map((stream) => stream.close)).toEqual(STREAMS.map(() => ({ code: 4000, reason: 'server restart' }))));
  });
});

/** One HTTP/2 request: its status and body. */
async function h2Request(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const request = session.request(headers);
  request.end(body);
  const [response] = (await once(request, 'response')) as [Record<string, string | number>];
  let text = '';
  request.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(request, 'end');
  return { status: Number(response[':status']), body: text };
}

/** Two gateway processes sharing PostgreSQL and the Redis bus: requests of one session reach either node. */
describe('HTTP transports across two nodes', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-rt-${process.pid}-${Date.now()}`;
  let nodes: TestServer[] = [];
  const opened: RawClient[] = [];
  const ws = async (node: TestServer, user: string) => {
    const client = await RawClient.connect(node.wsUrl, await token(user));
    opened.push(client);
    return client;
  };

  beforeAll(async () => {
    schema = await createTestSchema();
    const env = {
      DATABASE_URL,
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_RATE_PER_SECOND: '1000',
      PARLEY_RATE_BURST: '1000',
      PARLEY_USER_SEND_RATE_PER_SECOND: '10000',
      PARLEY_USER_SEND_BURST: '10000',
      PARLEY_RT_FORWARD_TIMEOUT_MS: '1000',
    };
    nodes = await Promise.all([startServer(env), startServer(env)]);
  });
  afterAll(async () => {
    for (const client of opened) client.close();
    for (const node of nodes) if (node.process.exitCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  it('serves an SSE session held by node A with every POST sent to node B', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const alice = await RtClient.open(a.url, 'sse');
    const connected = await alice.request('connect', { token: await token('alice') }, { baseUrl: b.url });
    expect(connected.result.principal.userId).toBe('alice');
    const id = conversationId();
    await alice.call('conversation.open', { conversationId: id, members: ['bob'] }, { baseUrl: b.url });
    await alice.call('subscribe', { conversationId: id, since: 0 }, { baseUrl: b.url });
    const sent = await alice.call('message.send', { conversationId: id, clientMsgId: 'a1', content: text('sent through B') }, { baseUrl: b.url });
    expect(sent).toMatchObject({ seq: 2 }); // after conversation.created
    const bob = await ws(b, 'bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'b1', content: text('from bob on B') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['sent through B', 'from bob on B']));
    expectGapless(alice);
    alice.cut();
  });

  it('serves a long-poll session held by node A with every poll sent to node B', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const alice = await RtClient.open(a.url, 'long-poll');
    await alice.reattach({ baseUrl: b.url }); // polls and posts now go to B
    await alice.call('connect', { token: await token('alice') });
    const id = conversationId();
    await alice.call('conversation.open', { conversationId: id, members: ['bob'] });
    await alice.call('subscribe', { conversationId: id, since: 0 });
    await alice.call('message.send', { conversationId: id, clientMsgId: 'a1', content: text('polled through B') });
    const bob = await ws(a, 'bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'b1', content: text('from bob on A') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['polled through B', 'from bob on A']));
    expect(alice.session.split('.')[0]).toBe(nodeIdOf(a));
    expectGapless(alice);
    alice.cut();
  });

  it.each(STREAMS)('relays a %s stream of node A re-attached on node B: the rest once, then live', async (transport) => {
    const [a, b] = nodes as [TestServer, TestServer];
    const { client: alice, id } = await conversationOver(a.url, transport);
    const bob = await ws(a, 'bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'before', content: text('before') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['before']));
    alice.cut();
    const sent = Array.from({ length: 10 }, (_, index) => `while cut ${index}`);
    for (const [index, message] of sent.entries()) await bob.call('message.send', { conversationId: id, clientMsgId: `cut${index}`, content: text(message) });
    await alice.reattach({ baseUrl: b.url });
    await bob.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('after') });
    await alice.call('message.send', { conversationId: id, clientMsgId: 'mine', content: text('mine') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['before', ...sent, 'after', 'mine']));
    expectGapless(alice);
    alice.cut();
  });

  // Last: it kills a node.
  it('a client of an SSE session whose node is killed opens a new session on the other node and resumes by seq, nothing lost or repeated', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const { client: alice, id } = await conversationOver(a.url, 'sse');
    const bob = await ws(b, 'bob');
    await bob.call('message.send', { conversationId: id, clientMsgId: 'before', content: text('before') });
    await eventually(() => expect(texts(alice.events(id))).toEqual(['before']));

    await a.kill();
    await eventually(() => expect(alice.readError).not.toBeNull());
    const sent = Array.from({ length: 20 }, (_, index) => `while A is gone ${index}`);
    for (const [index, message] of sent.entries()) await bob.call('message.send', { conversationId: id, clientMsgId: `gone${index}`, content: text(message) });
    // Its session died with its node: B says so, and the client starts over there, resuming by seq.
    await expect(alice.reattach({ baseUrl: b.url })).rejects.toThrow(/^stream answered 410 .*session_expired/);
    const lastSeq = alice.events(id).at(-1)!.seq as number;
    const resumed = await RtClient.connect(b.url, 'sse', await token('alice'));
    await resumed.call('subscribe', { conversationId: id, since: lastSeq });
    await eventually(() => expect(texts(resumed.events(id))).toEqual(sent));
    const seqs = [...alice.events(id), ...resumed.events(id)].map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
    resumed.cut();
  });
});
