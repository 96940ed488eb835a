import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundError, OutboundHttp } from '../../src/net/outbound-http.js';
import { OutboundPolicy } from '../../src/net/outbound-policy.js';

describe('OutboundPolicy', () => {
  it('allows public addresses and refuses the others unless the allow-list names them', () => {
    const none = new OutboundPolicy();
    expect(none.refusal('example.com', '93.184.215.14')).toBeNull();
    expect(none.refusal('example.com', '2606:2800:21f:cb07:6820:80da:af6b:8b2c')).toBeNull();
    expect(none.refusal('localhost', '127.0.0.1')).toMatch(/loopback/);
    expect(none.refusal('metadata', '169.254.169.254')).toMatch(/link-local/);
    expect(none.refusal('x', '::ffff:10.0.0.1')).toMatch(/private/);
    expect(none.refusal('x', 'fd00::1')).toMatch(/unique-local/);
  });

  it('allows addresses, CIDR ranges and host names of the allow-list', () => {
    const policy = new OutboundPolicy(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'Backend.Internal', '*.corp.example']);
    expect(policy.refusal('127.0.0.1', '127.0.0.1')).toBeNull();
    expect(policy.refusal('127.0.0.2', '127.0.0.2')).not.toBeNull();
    expect(policy.refusal('a', '10.200.1.1')).toBeNull();
    expect(policy.refusal('a', '::ffff:10.200.1.1')).toBeNull();
    expect(policy.refusal('a', '11.0.0.1')).toBeNull(); // public anyway
    expect(policy.refusal('a', '192.168.0.1')).not.toBeNull();
    expect(policy.refusal('a', 'fd12::1')).toBeNull();
    expect(policy.refusal('a', 'fc00::1')).not.toBeNull();
    expect(policy.refusal('backend.internal.', '192.168.9.9')).toBeNull();
    expect(policy.refusal('hooks.corp.example', '172.16.0.5')).toBeNull();
    expect(policy.refusal('corp.example', '172.16.0.5')).not.toBeNull();
    expect(policy.refusal('evilcorp.example', '172.16.0.5')).not.toBeNull();
  });

  it('names the malformed entry', () => {
    for (const entry of ['10.0.0.0/33', '10.0.0.0/8/1', '10.0.0.0/x', 'fd00::/129', 'bad_name', 'a..b', 'host/8', '']) {
      expect(OutboundPolicy.entryProblem(entry), entry).not.toBeNull();
    }
    for (const entry of ['10.0.0.0/8', '::1', 'fd00::/8', 'localhost', 'hooks.example.com', '*.internal']) {
      expect(OutboundPolicy.entryProblem(entry), entry).toBeNull();
    }
  });
});

describe('OutboundHttp against a local server', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      hits.push(request.url ?? '');
      if (request.url === '/redirect') return void response.writeHead(302, { Location: `http://127.0.0.1:${port}/ok` }).end();
      if (request.url === '/big') return void response.writeHead(200).end('x'.repeat(100_000));
      if (request.url === '/hang') return;
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ echo: body })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (http: OutboundHttp, url: string, timeoutMs = 2000) => http.request(url, { body: 'hello', timeoutMs, maxResponseBytes: 1024 });
  const refusal = async (http: OutboundHttp, url: string) => {
    const error = await post(http, url).then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(OutboundError);
    return error as OutboundError;
  };

  it('refuses loopback by address and by name without an allow-list, sending nothing', async () => {
    const http = new OutboundHttp(new OutboundPolicy());
    const before = hits.length;
    expect((await refusal(http, `http://127.0.0.1:${port}/ok`)).reason).toBe('refused');
    expect((await refusal(http, `http://localhost:${port}/ok`)).reason).toBe('refused');
    expect((await refusal(http, `http://[::ffff:127.0.0.1]:${port}/ok`)).reason).toBe('refused');
    expect((await refusal(http, `http://0.0.0.0:${port}/ok`)).message).toMatch(/unspecified/);
    expect((await refusal(http, `ftp://127.0.0.1:${port}/ok`)).message).toMatch(/only http and https/);
    expect(hits.length).toBe(before);
    http.close();
  });

  it('calls what the allow-list names, by address or by host name', async () => {
    for (const allowed of ['127.0.0.1', '127.0.0.0/8', 'localhost']) {
      const http = new OutboundHttp(new OutboundPolicy([allowed]));
      const host = allowed === 'localhost' ? 'localhost' : '127.0.0.1';
      const response = await post(http, `http://${host}:${port}/ok`);
      expect(response).toMatchObject({ status: 200, body: JSON.stringify({ echo: 'hello' }), truncated: false });
      http.close();
    }
  });

  it('does not follow redirects, cuts long answers and times out', async () => {
    const http = new OutboundHttp(new OutboundPolicy(['127.0.0.1']));
    const before = hits.length;
    const redirected = await post(http, `http://127.0.0.1:${port}/redirect`);
    expect(redirected.status).toBe(302);
    expect(hits.slice(before)).toEqual(['/redirect']);
    const big = await post(http, `http://127.0.0.1:${port}/big`);
    expect(big).toMatchObject({ status: 200, truncated: true });
    expect(big.body.length).toBe(1024);
    const error = await post(http, `http://127.0.0.1:${port}/hang`, 200).then(() => null, (caught: unknown) => caught);
    expect(error).toMatchObject({ reason: 'timeout' });
    http.close();
  });

  it('reports a refused connection as a network failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const http = new OutboundHttp(new OutboundPolicy(['127.0.0.1']));
    expect((await refusal(http, `http://127.0.0.1:${closedPort}/`)).reason).toBe('network');
    http.close();
  });
});

describe('outbound and webhook settings', () => {
  it('reads the allow-list, refusing a malformed entry, and keeps a slow endpoint from holding every webhook slot', async () => {
    const { ConfigError, loadConfig } = await import('../../src/config/config.js');
    expect(loadConfig({}).outboundAllow).toBeUndefined();
    expect(loadConfig({ PARLEY_OUTBOUND_ALLOW: '127.0.0.1, 10.0.0.0/8,hooks.internal' }).outboundAllow).toEqual(['127.0.0.1', '10.0.0.0/8', 'hooks.internal']);
    expect(() => loadConfig({ PARLEY_OUTBOUND_ALLOW: '127.0.0.1,10.0.0.0/40' })).toThrow(/PARLEY_OUTBOUND_ALLOW.*bad CIDR range/);
    expect(loadConfig({})).toMatchObject({ webhookRetryHours: 24, webhookRetryBaseMs: 5000, webhookTimeoutMs: 10_000, webhookConcurrency: 64, webhookEndpointConcurrency: 8 });
    expect(() => loadConfig({ PARLEY_WEBHOOK_CONCURRENCY: '8' })).toThrow(ConfigError);
    expect(() => loadConfig({ PARLEY_WEBHOOK_RETRY_HOURS: '0' })).toThrow(/PARLEY_WEBHOOK_RETRY_HOURS/);
  });
});
