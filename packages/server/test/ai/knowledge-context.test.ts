import type { KnowledgeSearch, Passage } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { KnowledgeBase } from '../../src/core/ports.js';
import { DemoLanguageModel } from '../../src/ai/demo-model.js';
import { citedSources, knowledgeSection, retrievePassages } from '../../src/ai/knowledge-context.js';
import { profileSchema } from '../../src/ai/profiles.js';

const passage = (index: number, text: string): Passage => ({ chunkId: `doc_${index}:0`, documentId: `doc_${index}`, title: `Doc ${index}`, url: null, source: 'help', heading: 'Top', text, score: 1 / index });

/** A knowledge base that answers every search with `found` and records the searches. */
function knowledgeBase(found: Passage[]) {
  const searches: Array<{ tenant: string; search: KnowledgeSearch }> = [];
  const base = { search: async (tenant: string, search: KnowledgeSearch) => (searches.push({ tenant, search }), found) } as unknown as KnowledgeBase;
  return { base, searches };
}

describe('knowledge in the context', () => {
  it('numbers the passages found for the question, within the token budget, with the profile filters', async () => {
    const { base, searches } = knowledgeBase([passage(1, 'a'.repeat(300)), passage(2, 'b'.repeat(300)), passage(3, 'c'.repeat(300))]);
    const profile = profileSchema.parse({ id: 'p', models: [{ provider: 'demo' }], knowledge: { topK: 3, tokens: 180, minScore: 0.2, tags: ['billing'] } });
    const passages = await retrievePassages(base, profile, 'acme', 'refund?');
    expect(passages.map((found) => found.n)).toEqual([1, 2]);
    expect(searches).toEqual([{ tenant: 'acme', search: { query: 'refund?', topK: 3, minScore: 0.2, tags: ['billing'] } }]);
    expect(await retrievePassages(base, profileSchema.parse({ id: 'p', models: [{ provider: 'demo' }] }), 'acme', 'refund?')).toEqual([]);
  });

  it('takes as sources the passages the answer cites, ignoring numbers that name none', () => {
    const passages = [passage(1, 'one'), passage(2, 'two')].map((found, index) => ({ ...found, n: index + 1 }));
    expect(citedSources('See [2] and [7], and [2] again.', passages)).toEqual([{ n: 2, chunkId: 'doc_2:0', documentId: 'doc_2', title: 'Doc 2', url: null, heading: 'Top' }]);
    expect(citedSources('No citation.', passages)).toEqual([]);
  });

  it('lets the demo model quote the best passage and cite it as [1]', async () => {
    const section = knowledgeSection([{ ...passage(1, 'Refunds take\nfive days.'), n: 1 }, { ...passage(2, 'Other.'), n: 2 }]);
    const model = new DemoLanguageModel({ ttftMs: 0, tokensPerSecond: 1000 });
    const result = await model.doGenerate({ prompt: [{ role: 'system', content: `Be nice.\n\n${section}` }, { role: 'user', content: [{ type: 'text', text: 'how long for a refund?' }] }] });
    expect(result.content).toEqual([{ type: 'text', text: expect.stringMatching(/^From "Doc 1 — Top": Refunds take five days\. \[1\]/) }]);
  });
});
