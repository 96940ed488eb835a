import type { AnswerSource, Passage } from '@parley/protocol';
import type { KnowledgeBase } from '../core/ports.js';
import type { AssistantProfile } from './profiles.js';

/** A retrieved passage with the number the model cites it by (`[n]`). */
export interface NumberedPassage extends Passage {
  n: number;
}

// Budgets use four characters a token, as the rest of the context does.
const CHARACTERS_PER_TOKEN = 4;

/** The first line of the knowledge section of the system prompt (the demo model looks for it). */
export const KNOWLEDGE_HEADER =
  'Passages from the knowledge base. Answer from them when they answer the question, and cite each passage you use by its number in brackets, e.g. [1]. If they do not answer it, say so rather than guess.';

/**
 * The passages of the tenant's knowledge base that best match the question, numbered from 1, as many as fit
 * the profile's `knowledge.tokens` budget (the best one always). None without a `knowledge` setting.
 */
export async function retrievePassages(knowledge: KnowledgeBase | undefined, profile: AssistantProfile, tenant: string, question: string): Promise<NumberedPassage[]> {
  const settings = profile.knowledge;
  if (!knowledge || !settings || !question.trim()) return [];
  const found = await knowledge.search(tenant, { query: question.slice(0, 2000), topK: settings.topK, minScore: settings.minScore, ...(settings.sources ? { sources: settings.sources } : {}), ...(settings.tags ? { tags: settings.tags } : {}) });
  const budget = settings.tokens * CHARACTERS_PER_TOKEN;
  const kept: NumberedPassage[] = [];
  let used = 0;
  for (const passage of found) {
    const size = formatPassage({ ...passage, n: kept.length + 1 }).length;
    if (kept.length > 0 && used + size > budget) break;
    kept.push({ ...passage, n: kept.length + 1 });
    used += size;
  }
  return kept;
}

/** The knowledge section of the system prompt: the header, then each passage under its number. */
export function knowledgeSection(passages: NumberedPassage[]): string {
  return [KNOWLEDGE_HEADER, ...passages.map(formatPassage)].join('\n\n');
}

function formatPassage(passage: NumberedPassage): string {
  const where = passage.heading ? `${passage.title} — ${passage.heading}` : passage.title;
  return `[${passage.n}] ${where}\n${passage.text}`;
}

/** The passages an answer cites as `[n]`, in the order of their numbers; numbers that name no passage are ignored. */
export function citedSources(text: string, passages: NumberedPassage[]): AnswerSource[] {
  const cited = new Set<number>();
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) cited.add(Number(match[1]));
  return passages
    .filter((passage) => cited.has(passage.n))
    .map((passage) => ({ n: passage.n, chunkId: passage.chunkId, documentId: passage.documentId, title: passage.title, url: passage.url, heading: passage.heading }));
}
