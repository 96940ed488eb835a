import { z } from 'zod';
import { identifierSchema } from '@parley/protocol';
import { handoffSettingsSchema } from '../core/handoff-settings.js';

export const modelSpecSchema = z.discriminatedUnion('provider', [
  z.object({ provider: z.literal('demo'), ttftMs: z.number().int().min(0).default(300), tokensPerSecond: z.number().positive().default(40), answerTokens: z.number().int().min(0).default(0) }),
  // `images`: whether the model is sent the images users attach (as AI SDK file parts); a text-only model
  // (many local ones) fails on them, so OpenAI-compatible servers opt in.
  z.object({ provider: z.literal('openai-compatible'), baseUrl: z.url(), apiKey: z.string().optional(), model: z.string().min(1), images: z.boolean().default(false) }),
  z.object({ provider: z.literal('anthropic'), apiKey: z.string().min(1), model: z.string().min(1), baseUrl: z.url().optional(), images: z.boolean().default(true) }),
]);
/** One model of a profile's chain. */
export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** Whether the model is sent the images of user messages (the demo model always: it describes them). */
export function takesImages(spec: ModelSpec): boolean {
  return spec.provider === 'demo' || spec.images;
}

export const profileSchema = z.object({
  id: identifierSchema,
  systemPrompt: z.string().default('You are a helpful support assistant. Answer briefly.'),
  /** Primary model first, then the fallbacks, tried in order when one fails before its first token. */
  models: z.array(modelSpecSchema).min(1),
  tools: z.array(z.string()).default([]),
  /** Tenant backend endpoints asked for app context before each answer (signed webhooks). */
  contextProviders: z
    .array(z.object({ name: z.string().min(1), url: z.url(), secret: z.string().min(16), timeoutMs: z.number().int().positive().default(2000) }))
    .default([]),
  /** Tools that run only after a member (or an agent) approves the call. */
  approvalRequired: z.array(z.string()).default([]),
  /** Estimated tokens of conversation history sent with each request (four characters a token). */
  contextTokens: z.number().int().positive().default(4000),
  /** What happens to a user message that arrives while an answer is running. */
  doubleTexting: z.enum(['enqueue', 'interrupt', 'reject']).default('enqueue'),
  /** Sent as the answer when every model failed; none when unset. */
  fallbackText: z.string().optional(),
  limits: z
    .object({
      firstTokenTimeoutMs: z.number().int().positive().default(10_000),
      idleTimeoutMs: z.number().int().positive().default(20_000),
      totalTimeoutMs: z.number().int().positive().default(120_000),
      /** Attempts per model before its first token, after the first one. */
      retries: z.number().int().min(0).max(5).default(1),
      maxOutputTokens: z.number().int().positive().optional(),
      maxToolSteps: z.number().int().min(1).max(10).default(4),
      /** How long a tool call waits for approval before it counts as denied. */
      approvalTimeoutMs: z.number().int().positive().default(600_000),
    })
    .prefault({}),
  /** Reuse answers to recurring first questions for this long (0: off); cached answers are marked `cached`. */
  cache: z.object({ ttlSeconds: z.number().int().min(0).default(0) }).prefault({}),
  /** Deltas of one generation are combined into at most one frame per this many milliseconds. */
  deltaIntervalMs: z.number().int().min(0).default(30),
  /** The model that reads customers' sentiment under `handoff.sentimentAnalyzer: "model"`; unset: the first of `models`. */
  sentimentModel: modelSpecSchema.optional(),
  /**
   * Answers from the tenant's knowledge base: the best passages for the question enter the context,
   * numbered, within `tokens`, and the answer cites them as [n]. Absent: the knowledge base is not consulted.
   */
  knowledge: z
    .object({
      topK: z.number().int().min(1).max(20).default(4),
      /** Passages scoring below it are left out (the scale of the search: lexical in [0, 1), hybrid in (0, 1]). */
      minScore: z.number().min(0).default(0),
      /** Estimated tokens (four characters each) the passages may take in the context. */
      tokens: z.number().int().min(50).max(32_000).default(1200),
      sources: z.array(z.string().min(1)).optional(),
      tags: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  /** When the assistant hands the conversation to people (see core/handoff-settings.ts). */
  handoff: handoffSettingsSchema,
});
/** An assistant profile: its model chain, prompt, tools and limits. */
export type AssistantProfile = z.infer<typeof profileSchema>;

/** A tool executed by the tenant's backend: a signed webhook, optionally limited to some tenants. */
export const webhookToolSchema = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string().min(1),
  inputSchema: z.record(z.string(), z.unknown()),
  url: z.url(),
  secret: z.string().min(16),
  timeoutMs: z.number().int().positive().default(5000),
  tenants: z.array(identifierSchema).optional(),
});
export type WebhookToolSpec = z.infer<typeof webhookToolSchema>;

export const profilesFileSchema = z.object({ assistants: z.array(profileSchema).min(1), tools: z.array(webhookToolSchema).default([]) });

/** Where the default profile's model comes from when no profiles file is given. */
export interface DefaultModelSettings {
  llmBaseUrl?: string;
  llmApiKey?: string;
  llmModel?: string;
  anthropicApiKey?: string;
  anthropicModel?: string;
  demoTtftMs: number;
  demoTokensPerSecond: number;
  /** Exact length of every demo answer in tokens; 0 keeps each answer's own. */
  demoAnswerTokens?: number;
}

/** The profile `assistant`: a configured real model first (if any), the demo model as its fallback. */
export function defaultProfiles(settings: DefaultModelSettings): AssistantProfile[] {
  const models: unknown[] = [];
  if (settings.llmBaseUrl) {
    models.push({ provider: 'openai-compatible', baseUrl: settings.llmBaseUrl, apiKey: settings.llmApiKey, model: settings.llmModel ?? 'gpt-4o-mini', images: false });
  }
  if (settings.anthropicApiKey) {
    models.push({ provider: 'anthropic', apiKey: settings.anthropicApiKey, model: settings.anthropicModel ?? 'claude-3-5-haiku-latest', images: true });
  }
  models.push({ provider: 'demo', ttftMs: settings.demoTtftMs, tokensPerSecond: settings.demoTokensPerSecond, answerTokens: settings.demoAnswerTokens ?? 0 });
  return [
    profileSchema.parse({
      id: 'assistant',
      models,
      tools: ['lookup_order', 'create_support_ticket', 'cancel_order'],
      approvalRequired: ['cancel_order'],
      knowledge: {},
    }),
  ];
}
