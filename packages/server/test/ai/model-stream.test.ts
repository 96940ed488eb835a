import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { UnderlyingSource } from 'node:stream/web';
import { describe, expect, it } from 'vitest';
import { ModelStreamError, streamModel, type ModelStreamHandlers, type StreamTool, type ToolCall } from '../../src/ai/model-stream.js';

const USAGE = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: undefined, reasoning: undefined },
});

/** A model that streams the given parts, one list per call, and records the calls. */
class PartsModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider = 'test';
  readonly modelId = 'parts';
  readonly supportedUrls = {};
  readonly calls: LanguageModelV3CallOptions[] = [];

  constructor(private readonly steps: LanguageModelV3StreamPart[][]) {}

  async doGenerate(): Promise<never> {
    throw new Error('not used');
  }

  async doStream(options: LanguageModelV3CallOptions) {
    const parts = this.steps[this.calls.length]!;
    this.calls.push(options);
    return { stream: new ReadableStream<LanguageModelV3StreamPart>({ start: (controller) => (parts.forEach((part) => controller.enqueue(part)), controller.close()) }) };
  }
}

/** A model whose every call streams from a new stream over `source`. */
function streamingModel(modelId: string, source: UnderlyingSource<LanguageModelV3StreamPart>): LanguageModelV3 {
  return {
    specificationVersion: 'v3',
    provider: 'test',
    modelId,
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error('not used')),
    doStream: async () => ({ stream: new ReadableStream<LanguageModelV3StreamPart>(source) }),
  };
}

function recorder() {
  const seen: string[] = [];
  const handlers: ModelStreamHandlers = {
    activity: () => undefined,
    text: (delta) => void seen.push(`text ${delta}`),
    toolCall: async (call) => void seen.push(`call ${call.toolName} ${JSON.stringify(call.input)}`),
    toolResult: async (call, output) => void seen.push(`result ${call.toolName} ${JSON.stringify(output)}`),
  };
  return { seen, handlers };
}

const finish = (reason: 'stop' | 'tool-calls', input: number, output: number): LanguageModelV3StreamPart => ({ type: 'finish', finishReason: { unified: reason, raw: undefined }, usage: USAGE(input, output) });

describe('streamModel', () => {
  it('runs tool calls in steps, feeding results back in call order, and sums usage over the steps', async () => {
    const model = new PartsModel([
      [
        { type: 'text-delta', id: 't', delta: 'Checking. ' },
        { type: 'tool-call', toolCallId: 'a', toolName: 'slow', input: '{"n":1}' },
        { type: 'tool-call', toolCallId: 'b', toolName: 'fast', input: '' },
        finish('tool-calls', 10, 4),
      ],
      [{ type: 'text-delta', id: 't', delta: 'Done.' }, finish('stop', 30, 2)],
    ]);
    const slow: StreamTool = { description: 'slow', inputSchema: { type: 'object' }, run: async (call: ToolCall) => (await new Promise((resolve) => setTimeout(resolve, 20)), { slow: call.input }) };
    const fast: StreamTool = { description: 'fast', inputSchema: { type: 'object' }, run: async () => ({ fast: true }) };
    const { seen, handlers } = recorder();
    const usage = await streamModel({ model, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }], tools: new Map([['slow', slow], ['fast', fast]]), maxSteps: 4, signal: new AbortController().signal, abortTools: () => undefined }, handlers);

    expect(seen).toEqual(['text Checking. ', 'call slow {"n":1}', 'call fast {}', 'result fast {"fast":true}', 'result slow {"slow":{"n":1}}', 'text Done.']);
    expect(usage).toEqual({ inputTokens: 40, outputTokens: 6 });
    expect(model.calls[0]!.tools?.map((tool) => tool.name)).toEqual(['slow', 'fast']);
    expect(model.calls[0]!.prompt).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
    ]);
    expect(model.calls[1]!.prompt.slice(2)).toEqual([
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking. ' },
          { type: 'tool-call', toolCallId: 'a', toolName: 'slow', input: { n: 1 } },
          { type: 'tool-call', toolCallId: 'b', toolName: 'fast', input: {} },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool-result', toolCallId: 'a', toolName: 'slow', output: { type: 'json', value: { slow: { n: 1 } } } },
          { type: 'tool-result', toolCallId: 'b', toolName: 'fast', output: { type: 'json', value: { fast: true } } },
        ],
      },
    ]);
  });

  it('answers a call of an unknown tool, or with input that is not a JSON object, with an error the model sees', async () => {
    const model = new PartsModel([
      [
        { type: 'tool-call', toolCallId: 'a', toolName: 'missing', input: '{}' },
        { type: 'tool-call', toolCallId: 'b', toolName: 'known', input: '{"unterminated' },
        { type: 'tool-call', toolCallId: 'c', toolName: 'known', input: '[1]' },
        finish('tool-calls', 1, 1),
      ],
      [finish('stop', 1, 0)],
    ]);
    let ran = 0;
    const known: StreamTool = { description: 'known', inputSchema: { type: 'object' }, run: async () => ++ran };
    const { seen, handlers } = recorder();
    await streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['known', known]]), maxSteps: 2, signal: new AbortController().signal, abortTools: () => undefined }, handlers);

    expect(ran).toBe(0);
    const results = seen.filter((line) => line.startsWith('result')).map((line) => JSON.parse(line.split(' ').slice(2).join(' ')).error);
    expect(results).toEqual(['unknown_tool', 'invalid_input', 'invalid_input']);
    expect(model.calls).toHaveLength(2);
  });

  it('stops after maxSteps model calls even when the last one called a tool', async () => {
    const step: LanguageModelV3StreamPart[] = [{ type: 'tool-call', toolCallId: 'a', toolName: 'known', input: '{}' }, finish('tool-calls', 1, 1)];
    const model = new PartsModel([step, step, step]);
    const known: StreamTool = { description: 'known', inputSchema: { type: 'object' }, run: async () => 'ok' };
    await streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['known', known]]), maxSteps: 2, signal: new AbortController().signal, abortTools: () => undefined }, recorder().handlers);
    expect(model.calls).toHaveLength(2);
  });

  it('makes no further model call once the answer is stopped during a step', async () => {
    const step: LanguageModelV3StreamPart[] = [{ type: 'tool-call', toolCallId: 'a', toolName: 'stopper', input: '{}' }, finish('tool-calls', 1, 1)];
    const model = new PartsModel([step, step]);
    const controller = new AbortController();
    const stopper: StreamTool = { description: 'stops the answer', inputSchema: { type: 'object' }, run: async () => (controller.abort('stopped'), 'stopped') };
    await streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['stopper', stopper]]), maxSteps: 4, signal: controller.signal, abortTools: () => undefined }, recorder().handlers);
    expect(model.calls).toHaveLength(1);
  });

  it('stops reading the provider and aborts the step\'s tools when the stream fails, and waits for them', async () => {
    let cancelled = false;
    const model = streamingModel('failing', {
      start: (controller) => {
        controller.enqueue({ type: 'tool-call', toolCallId: 'a', toolName: 'slow', input: '{}' });
        controller.enqueue({ type: 'error', error: new Error('overloaded') });
      },
      cancel: () => void (cancelled = true),
    });
    const tools = new AbortController();
    let toolEnded = false;
    const slow: StreamTool = {
      description: 'waits until aborted',
      inputSchema: { type: 'object' },
      run: () => new Promise((resolve) => tools.signal.addEventListener('abort', () => ((toolEnded = true), resolve('aborted')))),
    };
    const run = streamModel(
      { model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['slow', slow]]), maxSteps: 2, signal: new AbortController().signal, abortTools: (reason) => tools.abort(reason) },
      recorder().handlers,
    );
    await expect(run).rejects.toThrow('overloaded');
    expect(cancelled).toBe(true);
    expect(toolEnded).toBe(true);
  });

  it('leaves no rejection unhandled when a tool call fails while the stream is still being read', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const controller = new AbortController();
      let release!: () => void;
      const later = new Promise<void>((resolve) => (release = resolve));
      const model = streamingModel('slow-after-call', {
        async start(stream) {
          stream.enqueue({ type: 'tool-call', toolCallId: 'a', toolName: 'stopped', input: '{}' });
          await later;
          stream.enqueue(finish('tool-calls', 1, 1));
          stream.close();
        },
      });
      const stopped: StreamTool = { description: 'rejects as a stopped tool does', inputSchema: { type: 'object' }, run: async () => Promise.reject(new Error('stopped')) };
      const run = streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['stopped', stopped]]), maxSteps: 1, signal: controller.signal, abortTools: () => undefined }, recorder().handlers);
      // The rejection happens while the loop waits for the next part; give the runtime its turn to report it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      await expect(run).rejects.toThrow('stopped');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('gives the next step the reasoning of the step before, with its provider metadata, before the text and calls', async () => {
    const model = new PartsModel([
      [
        { type: 'reasoning-start', id: 'r' },
        { type: 'reasoning-delta', id: 'r', delta: 'Need the order. ' },
        { type: 'reasoning-delta', id: 'r', delta: 'Look it up.', providerMetadata: { anthropic: { signature: 'sig' } } },
        { type: 'reasoning-end', id: 'r' },
        { type: 'text-delta', id: 't', delta: 'Let me check.' },
        { type: 'tool-call', toolCallId: 'a', toolName: 'known', input: '{}' },
        finish('tool-calls', 1, 1),
      ],
      [finish('stop', 1, 0)],
    ]);
    const known: StreamTool = { description: 'known', inputSchema: { type: 'object' }, run: async () => 'ok' };
    await streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map([['known', known]]), maxSteps: 2, signal: new AbortController().signal, abortTools: () => undefined }, recorder().handlers);
    expect(model.calls[1]!.prompt[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'reasoning', text: 'Need the order. Look it up.', providerOptions: { anthropic: { signature: 'sig' } } },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool-call', toolCallId: 'a', toolName: 'known', input: {} },
      ],
    });
  });

  it('rejects with the model error carried by an error part, after the text before it', async () => {
    const model = new PartsModel([[{ type: 'text-delta', id: 't', delta: 'Partial' }, { type: 'error', error: new Error('overloaded') }]]);
    const { seen, handlers } = recorder();
    const run = streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map(), maxSteps: 1, signal: new AbortController().signal, abortTools: () => undefined }, handlers);
    await expect(run).rejects.toThrow(ModelStreamError);
    await expect(run).rejects.toThrow('overloaded');
    expect(seen).toEqual(['text Partial']);
  });

  it('stops reading a provider stream that ignores the abort signal', async () => {
    // Sends one token and then nothing, whatever the signal says.
    const model = streamingModel('deaf', { start: (controller) => controller.enqueue({ type: 'text-delta', id: 't', delta: 'one' }) });
    const controller = new AbortController();
    const { seen, handlers } = recorder();
    handlers.text = (delta) => (seen.push(`text ${delta}`), controller.abort('stopped'));
    await streamModel({ model, system: '', messages: [{ role: 'user', content: 'x' }], tools: new Map(), maxSteps: 1, signal: controller.signal, abortTools: () => undefined }, handlers);
    expect(seen).toEqual(['text one']);
  });
});
