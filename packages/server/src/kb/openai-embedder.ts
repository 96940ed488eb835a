import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { embedMany, type EmbeddingModel } from 'ai';
import type { Embedder } from './embedder.js';

/** Where the embedding model is: any API speaking OpenAI's `POST /embeddings` (OpenAI, vLLM, Ollama, llama.cpp, TEI). */
export interface OpenAiEmbedderSettings {
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  /** Retries of a failed request, with the AI SDK's backoff (default 2). */
  maxRetries?: number | undefined;
}

/** An Embedder over an OpenAI-compatible embeddings API, through the AI SDK's `embedMany`. */
export class OpenAiCompatibleEmbedder implements Embedder {
  readonly name: string;
  private readonly model: EmbeddingModel;
  private readonly maxRetries: number;

  constructor(settings: OpenAiEmbedderSettings) {
    this.name = `openai-compatible:${settings.model}`;
    this.maxRetries = settings.maxRetries ?? 2;
    this.model = createOpenAICompatible({ name: 'openai-compatible', baseURL: settings.baseUrl, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}) }).embeddingModel(settings.model);
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    const { embeddings } = await embedMany({ model: this.model, values: texts, maxRetries: this.maxRetries, ...(signal ? { abortSignal: signal } : {}) });
    return embeddings;
  }
}
