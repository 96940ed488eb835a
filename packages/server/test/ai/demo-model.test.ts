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
