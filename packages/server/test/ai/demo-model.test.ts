import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { describe, expect, it } from 'vitest';
import { DemoLanguageModel, sized } from '../../src/ai/demo-model.js';
import { loadConfig } from '../../src/config/config.js';

function question(text: string): LanguageModelV3CallOptions {
  return { prompt: [{ role: 'user', content: [{ type: 'text', text }] }] };
}

async function streamedText(model: DemoLanguageModel, text: string): Promise<string[]> {
  const { stream } = await model.doStream(question(text));
  const deltas: string[] = [];
  for await (const part of stream as unknown as AsyncIterable<LanguageModelV3StreamPart>) if (part.type === 'text-delta') deltas.push(part.delta);
  return deltas;
}

describe('DemoLanguageModel answer length', () => {
  it('repeats or cuts an answer to exactly the configured number of tokens', () => {
    expect(sized('one two three', 0)).toBe('one two three');
    expect(sized('one two three', 2)).toBe('one two');
    expect(sized('one two three', 7)).toBe('one two three one two three one');
  });

  it('streams exactly PARLEY_DEMO_ANSWER_TOKENS tokens, and each answer its own length when it is 0', async () => {
    const config = loadConfig({ PARLEY_DEMO_ANSWER_TOKENS: '200' });
    expect(config.demoAnswerTokens).toBe(200);
    const fixed = new DemoLanguageModel({ ttftMs: 0, tokensPerSecond: 100_000, answerTokens: config.demoAnswerTokens });
    expect(await streamedText(fixed, 'How long does shipping take?')).toHaveLength(200);
    const natural = new DemoLanguageModel({ ttftMs: 0, tokensPerSecond: 100_000 });
    expect((await streamedText(natural, 'How long does shipping take?')).join('')).toMatch(/^Standard shipping takes 2 to 4 business days/);
  });
});

describe('DemoLanguageModel after a tool call', () => {
  async function answerTo(output: Record<string, unknown>): Promise<string> {
    const model = new DemoLanguageModel({ ttftMs: 0, tokensPerSecond: 100_000 });
    const prompt: LanguageModelV3CallOptions['prompt'] = [
      { role: 'user', content: [{ type: 'text', text: 'where is my order 1234?' }] },
      { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'call_1', toolName: 'lookup_order', input: { orderId: '1234' } }] },
      { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'call_1', toolName: 'lookup_order', output: { type: 'json', value: output as never } }] },
    ];
    const { stream } = await model.doStream({ prompt });
    let text = '';
    for await (const part of stream as unknown as AsyncIterable<LanguageModelV3StreamPart>) if (part.type === 'text-delta') text += part.delta;
    return text;
  }

  it('answers from the result, and says so when the tool failed instead of reading fields it does not have', async () => {
    expect(await answerTo({ orderId: '1234', found: true, status: 'shipped', detail: 'on its way' })).toMatch(/^Order 1234 is shipped: on its way/);
    expect(await answerTo({ error: 'failed', message: 'webhook answered HTTP 500' })).toMatch(/^I could not use lookup_order just now \(webhook answered HTTP 500\)/);
  });
});

describe('DemoLanguageModel and images', () => {
  it("describes the type and size of the images of the user's last message (pixels for PNG and GIF)", async () => {
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR42mNkYPhfz8DAwMAAAA4AAf+I2GMAAAAASUVORK5CYII=', 'base64');
    const model = new DemoLanguageModel({ ttftMs: 0, tokensPerSecond: 100_000 });
    const result = await model.doGenerate({
      prompt: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'file', data: png, mediaType: 'image/png' }, { type: 'file', data: new Uint8Array(10), mediaType: 'image/jpeg' }] }],
    });
    expect(result.content).toEqual([{ type: 'text', text: expect.stringMatching(new RegExp(`^I received a PNG image of ${png.length} bytes, 2x3 pixels and a JPEG image of 10 bytes\\. I'm Parley's demo model`)) }]);
  });
});
