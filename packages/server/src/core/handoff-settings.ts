import { z } from 'zod';

/** Phrases that, by default, mean a customer asks for a person. */
export const DEFAULT_HANDOFF_PHRASES = ['talk to a person', 'talk to a human', 'speak to a person', 'speak to a human', 'talk to an agent', 'speak to an agent', 'real person', 'human agent'];

/**
 * When an assistant profile hands a conversation to people, besides the customer asking: the model calls
 * `handoff_to_human` (`tool`), answers fail or fall back `afterFailures` times in a row, a customer's
 * message reads below `sentimentBelow` (on the AFINN comparative scale of core/sentiment.ts; null: off) as
 * `sentimentAnalyzer` reads it (`lexical`: the AFINN lexicon; `model`: the profile's sentiment model, read
 * lexically when it fails), or a content rule matches (case-insensitive phrases, or a regular expression).
 */
export const handoffSettingsSchema = z
  .object({
    tool: z.boolean().default(true),
    afterFailures: z.number().int().min(1).max(100).nullable().default(3),
    sentimentBelow: z.number().min(-5).max(5).nullable().default(-0.6),
    sentimentAnalyzer: z.enum(['lexical', 'model']).default('lexical'),
    rules: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64),
            phrases: z.array(z.string().min(1).max(200)).max(100).optional(),
            /** A JavaScript regular expression, tested case-insensitively; keep it simple (it runs on every customer message). */
            pattern: z.string().min(1).max(500).optional(),
          })
          .refine((rule) => (rule.phrases === undefined) !== (rule.pattern === undefined), 'give a rule phrases or a pattern')
          .refine((rule) => rule.pattern === undefined || isRegExp(rule.pattern), 'pattern is not a valid regular expression'),
      )
      .default([{ name: 'asks for a person', phrases: DEFAULT_HANDOFF_PHRASES }]),
    /** The team whose queue handed-off conversations enter (null: the default inbox). */
    team: z.string().min(1).max(128).nullable().default(null),
  })
  .prefault({});
export type HandoffSettings = z.infer<typeof handoffSettingsSchema>;

function isRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern, 'i');
    return true;
  } catch {
    return false;
  }
}

/** The name of the first rule that matches `text`, or null. */
export function matchingRule(settings: HandoffSettings, text: string): string | null {
  const lower = text.toLowerCase();
  for (const rule of settings.rules) {
    if (rule.phrases?.some((phrase) => lower.includes(phrase.toLowerCase()))) return rule.name;
    if (rule.pattern !== undefined && new RegExp(rule.pattern, 'i').test(text)) return rule.name;
  }
  return null;
}
