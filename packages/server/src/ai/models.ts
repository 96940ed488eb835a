import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { DemoLanguageModel } from './demo-model.js';
import type { ModelSpec } from './profiles.js';

/** The AI SDK model for one entry of a profile's chain. The orchestrator never sees which vendor it is. */
export function createModel(spec: ModelSpec): LanguageModelV3 {
  switch (spec.provider) {
    case 'demo':
      return new DemoLanguageModel({ ttftMs: spec.ttftMs, tokensPerSecond: spec.tokensPerSecond, answerTokens: spec.answerTokens });
    case 'openai-compatible':
      return createOpenAICompatible({ name: 'openai-compatible', baseURL: spec.baseUrl, ...(spec.apiKey ? { apiKey: spec.apiKey } : {}) }).chatModel(spec.model);
    case 'anthropic':
      return createAnthropic({ apiKey: spec.apiKey, ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}) })(spec.model);
  }
}

/** A short name of the model for events and metrics. */
export function modelName(spec: ModelSpec): string {
  return spec.provider === 'demo' ? 'demo' : `${spec.provider}:${spec.model}`;
}
