import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropicServer } from '../../../../test/support/anthropic-server.js';
import { AiHarness } from './harness.js';

/** The AI SDK's Anthropic provider over a real local HTTP server speaking the Messages streaming format. */
describe('Anthropic provider over HTTP', () => {
  let ai: AiHarness;
  let anthropic: FakeAnthropicServer;

  beforeAll(async () => {
    ai = await AiHarness.open();
    anthropic = await FakeAnthropicServer.start();
  });
  afterAll(async () => {
    await anthropic.close();
    await ai.close();
  });

  it('streams an answer from the Messages API', async () => {
    const { orchestrator } = ai.orchestrator({ models: [{ provider: 'anthropic', apiKey: 'sk-ant-test', model: 'claude-test', baseUrl: anthropic.baseUrl }] });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hello claude');
    const [completed] = await ai.terminals(key);
    expect(completed).toMatchObject({ type: 'ai.completed', data: { text: 'Claude heard: hello claude', model: 'anthropic:claude-test' } });
    const request = anthropic.requests.at(-1)!;
    expect(request.apiKey).toBe('sk-ant-test');
    expect(request.version).toBeTypeOf('string');
    expect(request.body).toMatchObject({ model: 'claude-test', stream: true });
    expect(JSON.stringify(request.body.system)).toContain('helpful support assistant');
    const deltas = ai.deltas.filter((delta) => delta.generationId === completed!.data.generationId);
    expect(deltas.map((delta) => delta.text).join('')).toBe('Claude heard: hello claude');
  });
});
