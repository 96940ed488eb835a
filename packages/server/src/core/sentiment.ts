/** How a customer's message reads. */
export type SentimentLabel = 'negative' | 'neutral' | 'positive';

/**
 * A customer's message as an analyzer read it. `score` is on one scale for every analyzer, the AFINN
 * comparative one (word valences of -5 to 5, summed and divided by the number of words: 0 is neutral, -0.6
 * clearly upset, -1.5 and below angry), so that a profile's `sentimentBelow` means the same whichever reads.
 */
export interface SentimentReading {
  score: number;
  label: SentimentLabel;
  /** Which analyzer produced it: `afinn`, or `model:<provider>:<model>`. */
  analyzer: string;
}

/** The label of a score: negative at -0.25 and below, positive at 0.25 and above. */
export function sentimentLabel(score: number): SentimentLabel {
  return score <= -0.25 ? 'negative' : score >= 0.25 ? 'positive' : 'neutral';
}

/**
 * Reads a customer's message with the sentiment model of assistant profile `profileId`. Rejects when the
 * model fails, times out or answers something that is not a reading; the caller then reads it lexically.
 */
export type SentimentClassifier = (profileId: string, text: string) => Promise<SentimentReading>;
