import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAiServer } from '../../../../test/support/openai-server.js';
import { webhookTool } from '../../src/ai/tools.js';
import { OutboundHttp } from '../../src/net/outbound-http.js';
import { OutboundPolicy } from '../../src/net/outbound-policy.js';
import { AiHarness } from './harness.js';

const SECRET = 'tenant-backend-secret-0123456789';

/** A tenant backend: verifies Parley's signature, answers tool calls and context requests, and can be slow. */
class TenantBackend {
  readonly received: Array<{ path: string; body: Record<string, unknown>; signed: boolean }> = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk) => (raw += chunk));
      request.on('end', () => {
        const timestamp = String(request.headers['x-parley-timestamp']);
        const expected = Buffer.from(`v1=${createHmac('sha256', SECRET).update(`${timestamp}.${raw}`).digest('hex')}`);
        const given = Buffer.from(String(request.headers['x-parley-signature']));
        const signed = given.length === expected.length && timingSafeEqual(given, expected) && Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
        const body = JSON.parse(raw) as Record<string, unknown>;
        this.received.push({ path: request.url ?? '', body, signed });
        if (!signed) return void response.writeHead(401).end();
        const answer = (value: unknown) => response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
        if (request.url === '/slow') return void setTimeout(() => answer({ context: 'too late' }), 1000);
        if (request.url === '/profile') return answer({ context: { name: 'Alice', tier: 'VIP' } });
        if (request.url === '/tools') return answer({ orderId: (body.input as { orderId: string }).orderId, status: 'shipped (from the tenant backend)' });
        response.writeHead(404).end();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('webhook tools and context providers', () => {
  let ai: AiHarness;
  let provider: FakeOpenAiServer;
  let backend: TenantBackend;

  beforeAll(async () => {
    ai = await AiHarness.open();
    provider = await FakeOpenAiServer.start();
    backend = new TenantBackend();
    await backend.start();
  });
  afterAll(async () => {
    await backend.close();
    await provider.close();
    await ai.close();
  });

  it('calls a tool as a signed webhook and adds app context from providers, skipping a slow one', async () => {
    const lookup = webhookTool({
      name: 'lookup_order',
      description: 'Look up an order in the tenant backend',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
      url: backend.url('/tools'),
      secret: SECRET,
      timeoutMs: 2000,
    }, ai.outbound);
    const profile = {
      models: [{ provider: 'openai-compatible', baseUrl: provider.baseUrl, model: 'm' }],
      tools: ['lookup_order'],
      contextProviders: [
        { name: 'profile', url: backend.url('/profile'), secret: SECRET },
        { name: 'slow', url: backend.url('/slow'), secret: SECRET, timeoutMs: 100 },
      ],
    };
    const { orchestrator } = ai.orchestrator(profile, undefined, undefined, [lookup]);
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'where is order 777?');
    const [completed] = await ai.terminals(key);
    expect(completed!.data.text).toContain('shipped (from the tenant backend)');

    const toolCall = backend.received.find((request) => request.path === '/tools')!;
    expect(toolCall).toMatchObject({ signed: true, body: { tool: 'lookup_order', input: { orderId: '777' }, tenant: 'acme', conversationId: key.conversationId, userId: 'alice', generationId: completed!.data.generationId } });
    const contextCall = backend.received.find((request) => request.path === '/profile')!;
    expect(contextCall).toMatchObject({ signed: true, body: { tenant: 'acme', userId: 'alice', question: 'where is order 777?' } });

    const system = provider.requests.at(-1)!.body.messages[0]!;
    expect(system.content).toContain('Context from profile:');
    expect(system.content).toContain('"tier":"VIP"');
    expect(system.content).not.toContain('too late');

    const inspected = await orchestrator.inspectContext(key, String(completed!.data.generationId));
    expect(inspected?.providers.map((entry) => [entry.name, entry.ok])).toEqual([
      ['profile', true],
      ['slow', false],
    ]);
    expect(inspected?.system).toContain('VIP');
    expect(inspected?.messages.at(-1)).toMatchObject({ role: 'user', content: 'where is order 777?' });
    expect(await orchestrator.inspectContext({ tenant: 'other', conversationId: key.conversationId }, String(completed!.data.generationId))).toBeNull();
  });

  it('gives the model an error result, not a hang, when the webhook fails, and hides tools from other tenants', async () => {
    const broken = webhookTool({ name: 'lookup_order', description: 'x', inputSchema: { type: 'object' }, url: backend.url('/missing'), secret: SECRET, timeoutMs: 500, tenants: ['acme'] }, ai.outbound);
    const { orchestrator } = ai.orchestrator({ models: [{ provider: 'openai-compatible', baseUrl: provider.baseUrl, model: 'm' }], tools: ['lookup_order'] }, undefined, undefined, [broken]);
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'where is order 778?');
    await ai.terminals(key);
    const result = (await ai.events(key)).find((event) => event.type === 'ai.tool_result')!;
    expect(result.data).toMatchObject({ output: { error: 'failed', message: 'webhook answered HTTP 404' } });
  });

  it('refuses a tool and a context provider on a loopback address that the allow-list does not name, calling neither', async () => {
    const allowing = ai.outbound;
    ai.outbound = new OutboundHttp(new OutboundPolicy());
    try {
      const before = backend.received.length;
      const lookup = webhookTool({ name: 'lookup_order', description: 'x', inputSchema: { type: 'object' }, url: backend.url('/tools'), secret: SECRET, timeoutMs: 2000 }, ai.outbound);
      const profile = {
        models: [{ provider: 'openai-compatible', baseUrl: provider.baseUrl, model: 'm' }],
        tools: ['lookup_order'],
        contextProviders: [{ name: 'profile', url: backend.url('/profile'), secret: SECRET }],
      };
      const { orchestrator } = ai.orchestrator(profile, undefined, undefined, [lookup]);
      const key = await ai.conversation();
      await ai.send(orchestrator, key, 'where is order 779?');
      const [completed] = await ai.terminals(key);
      const result = (await ai.events(key)).find((event) => event.type === 'ai.tool_result')!;
      expect(result.data).toMatchObject({ output: { error: 'failed', message: expect.stringMatching(/loopback address/) } });
      const inspected = await orchestrator.inspectContext(key, String(completed!.data.generationId));
      expect(inspected?.providers).toEqual([expect.objectContaining({ name: 'profile', ok: false, text: expect.stringMatching(/loopback address/) })]);
      expect(backend.received.length).toBe(before);
    } finally {
      ai.outbound.close();
      ai.outbound = allowing;
    }
  });
});
