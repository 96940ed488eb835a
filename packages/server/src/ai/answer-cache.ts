/** A cached answer to a recurring question. */
export interface CachedAnswer {
  text: string;
  model: string;
  storedAt: number;
}

/**
 * Answers to recurring first questions, per tenant and profile, keyed by the normalized question
 * (case, spacing and punctuation ignored), kept `ttlMs`. Bounded: the oldest entries go first.
 */
export class AnswerCache {
  private readonly entries = new Map<string, CachedAnswer>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(tenant: string, profileId: string, question: string, ttlMs: number): CachedAnswer | null {
    const key = cacheKey(tenant, profileId, question);
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (this.now() - entry.storedAt > ttlMs) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  set(tenant: string, profileId: string, question: string, answer: Omit<CachedAnswer, 'storedAt'>): void {
    const key = cacheKey(tenant, profileId, question);
    this.entries.delete(key);
    this.entries.set(key, { ...answer, storedAt: this.now() });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** The question as the cache sees it: lower case, letters, digits and single spaces. */
export function normalizeQuestion(question: string): string {
  return question
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function cacheKey(tenant: string, profileId: string, question: string): string {
  return JSON.stringify([tenant, profileId, normalizeQuestion(question)]);
}
