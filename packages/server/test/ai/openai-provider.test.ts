import type { ConversationEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAiServer } from '../../../../test/support/openai-server.js';
import { AiHarness } from './harness.js';

/** The OpenAI-compatible provider of the AI SDK, over a real local HTTP server. */
describe('OpenAI-compatible provider over HTTP', () => {
  let ai: AiHarness;
  let provider: FakeOpenAiServer;

  beforeAll(async () => {
    ai = await AiHarness.open();
    provider = await FakeOpenAiServer.start();
  });
  afterAll(async () => {
    await provider.close();
    await ai.close();
  });

  const spec = () => ({ provider: 'openai-compatible', baseUrl: provider.baseUrl, apiKey: 'sk-test', model: 'test-model' });
  const types = (events: ConversationEvent[]) => events.map((event) => event.type);

  it('streams a text answer', async () => {
    const { orchestrator } = ai.orchestrator({ models: [spec()] });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hello model');
    const [completed] = await ai.terminals(key);
    expect(completed).toMatchObject({ type: 'ai.completed', data: { text: 'You said: hello model', model: 'openai-compatible:test-model', usage: { outputTokens: 10 } } });
    const request = provider.requests.at(-1)!;
    expect(request.authorization).toBe('Bearer sk-test');
    expect(request.body).toMatchObject({ model: 'test-model', stream: true });
    expect(request.body.messages[0]).toMatchObject({ role: 'system' });
  });

  it('runs a streamed tool call through the tool and answers with its result', async () => {
    const { orchestrator } = ai.orchestrator({ models: [spec()], tools: ['lookup_order'] });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'where is my order 1235?');
    const [completed] = await ai.terminals(key);
    const events = await ai.events(key);
    expect(types(events)).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.completed']);
    expect(events[3]!.data).toMatchObject({ toolCallId: 'call_1', toolName: 'lookup_order', input: { orderId: '1235' } });
    expect(events[4]!.data).toMatchObject({ toolCallId: 'call_1', output: { orderId: '1235', status: 'delayed' } });
    expect(String(completed!.data.text)).toContain('delayed');
    // Two requests: the tool call, then the answer with the tool result in the conversation.
    const [first, second] = provider.requests.slice(-2);
    expect(first!.body.tools?.map((tool) => tool.function.name)).toEqual(['lookup_order', 'handoff_to_human']);
    expect(second!.body.messages.at(-1)).toMatchObject({ role: 'tool' });
  });

  it('retries an HTTP 500 before the first token, then falls back to the demo model', async () => {
    provider.failNext(2);
    const { orchestrator } = ai.orchestrator({ models: [spec(), { provider: 'demo', ttftMs: 0, tokensPerSecond: 10_000 }], limits: { retries: 1 } });
    const key = await ai.conversation();
    const before = provider.requests.length;
    await ai.send(orchestrator, key, 'hello');
    const [completed] = await ai.terminals(key);
    expect(provider.requests.length - before).toBe(2);
    expect(completed).toMatchObject({ type: 'ai.completed', data: { model: 'demo' } });
    expect(String(completed!.data.text)).toContain('demo model');
  });

  it('sends the images of a message to a model whose spec takes them, as data URLs, and only their description to one that does not', async () => {
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
    ai.attachments.set('att-png', { bytes: png, contentType: 'image/png' });
    const content = { type: 'parts' as const, parts: [{ type: 'text' as const, text: 'look' }, { type: 'image' as const, attachmentId: 'att-png', name: 'screen.png', contentType: 'image/png', size: png.length }] };
    for (const images of [true, false]) {
      const { orchestrator } = ai.orchestrator({ models: [{ ...spec(), images }] });
      const key = await ai.conversation();
      await ai.send(orchestrator, key, content);
      await ai.terminals(key);
      const user = provider.requests.at(-1)!.body.messages.at(-1) as unknown as { role: string; content: unknown };
      const description = `look\n[image "screen.png": image/png, ${png.length} bytes]`;
      if (images) {
        expect(user).toEqual({ role: 'user', content: [{ type: 'text', text: description }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }] });
      } else {
        expect(user).toEqual({ role: 'user', content: description });
      }
    }
  });
});
