import { connect as tcpConnect, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/** Sends raw bytes over TCP and resolves with whatever the server answers before closing. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
  });
}

async function expectAlive(server: TestServer): Promise<void> {
  const client = await RawClient.connect(server.wsUrl, await token('canary'));
  expect((await client.call('ping')).ts).toBeTypeOf('number');
  client.close();
  expect(server.process.exitCode).toBeNull();
}

/** Inputs and timings found in review to crash the server or leak state: each must now be harmless. */
describe('hardening', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({ PARLEY_MAX_CONNECTIONS_PER_USER: '3' });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('survives a token whose alg is longer than a close reason may be', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'A'.repeat(500), typ: 'JWT' })).toString('base64url');
    const client = await RawClient.open(server.wsUrl);
    const reply = await client.request('connect', { token: `${header}.e30.c2ln` });
    expect(reply.error?.code).toBe('unauthorized');
    const closed = await client.closed();
    expect(closed).toEqual({ code: 4500, reason: 'unauthorized' });
    await expectAlive(server);
  });

  it('answers request targets that are not URLs (`//`) over HTTP and WebSocket upgrade', async () => {
    const http = await rawHttp(server.port, 'GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(http).toMatch(/^HTTP\/1\.1 400/);
    const upgrade = await rawHttp(server.port, 'GET // HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    expect(upgrade).toMatch(/^HTTP\/1\.1 404/);
    await expectAlive(server);
  });

  it('survives clients that reset the connection while an upgrade is refused', async () => {
    const attempts = Array.from({ length: 200 }, () =>
      new Promise<void>((resolve) => {
        const socket: Socket = tcpConnect(server.port, '127.0.0.1', () => {
          socket.write('GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
          socket.resetAndDestroy();
          resolve();
        });
        socket.on('error', () => resolve());
      }),
    );
    await Promise.all(attempts);
    await expectAlive(server);
  });

  it('does not lock a user out when connections drop while their connect is being verified', async () => {
    for (let index = 0; index < 20; index++) {
      const client = await RawClient.open(server.wsUrl);
      client.sendRaw(JSON.stringify({ id: 1, op: 'connect', args: { token: await token('dana') } }));
      client.socket.terminate();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const open = [];
    for (let index = 0; index < 3; index++) open.push(await RawClient.connect(server.wsUrl, await token('dana')));
    for (const client of open) client.close();
  });

  it('keeps presence steady when a connection re-subscribes, and refuses a refresh that changes roles', async () => {
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    await alice.call('conversation.open', { conversationId: 'steady', members: ['bob'] });
    await alice.call('subscribe', { conversationId: 'steady' });
    await bob.call('subscribe', { conversationId: 'steady', since: 0 });
    await bob.call('subscribe', { conversationId: 'steady', since: 1 });
    await bob.call('subscribe', { conversationId: 'steady' });
    await alice.call('message.send', { conversationId: 'steady', clientMsgId: 'x', content: { type: 'text', text: 'barrier' } });
    await bob.waitFor((frame) => frame.push === 'event' && frame.event.seq === 2);
    const presence = alice.frames.filter((frame) => frame.push === 'signal' && frame.signal.actor.id === 'bob').map((frame) => frame.signal.type);
    expect(presence).toEqual(['presence.joined']);
    const refresh = await bob.request('token.refresh', { token: await token('bob', { roles: ['user', 'agent'] }) });
    expect(refresh.error?.code).toBe('forbidden');
    alice.close();
    bob.close();
  });

  it('serves HTTP errors as JSON, not crashes', async () => {
    const status = await new Promise<number>((resolve) => {
      const request = httpRequest({ host: '127.0.0.1', port: server.port, path: '/%E0%A4%A', method: 'GET' }, (response) => resolve(response.statusCode ?? 0));
      request.end();
    });
    expect([400, 404]).toContain(status);
    await expectAlive(server);
  });
});

describe('shutdown with stray sockets', () => {
  it('exits although refused upgrades left half-open sockets behind', async () => {
    const server = await startServer();
    const sockets: Socket[] = [];
    for (let index = 0; index < 20; index++) {
      const socket = tcpConnect(server.port, '127.0.0.1', () =>
        socket.write('GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      );
      socket.on('error', () => undefined);
      socket.allowHalfOpen = true;
      sockets.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await server.stop()).toBe(0);
    for (const socket of sockets) socket.destroy();
  });
});
