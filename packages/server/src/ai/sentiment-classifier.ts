import { generateText, Output } from 'ai';
import { z } from 'zod';
import { sentimentLabel, type SentimentReading } from '../core/sentiment.js';
import { modelName } from './models.js';
import type { AssistantProfile, ModelSpec } from './profiles.js';
import type { LanguageModelV3 } from '@ai-sdk/provider';

/** How long a reading may take before the message is read lexically instead. */
export const SENTIMENT_TIMEOUT_MS = 5_000;
// A customer's message is cut to this many characters for the classifier.
const MAX_TEXT = 4_000;

/** The classifier's answer: a score on the AFINN comparative scale (core/sentiment.ts). */
const readingSchema = z.object({ score: z.number().min(-5).max(5) });

// The anchors are AFINN comparative scores of the example sentences, so that one threshold fits both analyzers.
const INSTRUCTIONS = [
  'You rate the sentiment of one customer support message. Answer with JSON only: {"score": <number>}.',
  'The score is on the AFINN comparative scale, from -5 to 5: 0 is neutral or purely factual,',
  '-0.4 mildly annoyed ("this is a bit annoying"), -0.7 clearly unhappy ("I am not happy with this, it is bad"),',
  '-1.4 angry ("This is terrible, awful, horrible service. I hate it, worst ever!"), 0.8 pleased ("thanks, that helps a lot").',
  'Read what the customer means, sarcasm included ("Oh great, another week of waiting" is negative).',
].join('\n');

/**
 * Reads customers' messages with a model through the AI SDK (structured output checked against a schema),
 * for profiles whose `handoff.sentimentAnalyzer` is `model`: the profile's `sentimentModel`, else its first model.
 */
export class SentimentClassifiers {
  constructor(
    private readonly profiles: ReadonlyMap<string, AssistantProfile>,
    private readonly createModel: (spec: ModelSpec) => LanguageModelV3,
  ) {}

  /** Rejects when the profile is unknown, the model fails or times out, or its answer does not fit the schema. */
  readonly classify = async (profileId: string, text: string): Promise<SentimentReading> => {
    const profile = this.profiles.get(profileId);
    if (!profile) throw new Error(`assistant ${profileId} is not configured here`);
    const spec = profile.sentimentModel ?? profile.models[0]!;
    const { output } = await generateText({
      model: this.createModel(spec),
      system: INSTRUCTIONS,
      prompt: `Customer message:\n${text.slice(0, MAX_TEXT)}`,
      output: Output.object({ schema: readingSchema, name: 'sentiment' }),
      temperature: 0,
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(SENTIMENT_TIMEOUT_MS),
    });
    return { score: output.score, label: sentimentLabel(output.score), analyzer: `model:${modelName(spec)}` };
  };
}
