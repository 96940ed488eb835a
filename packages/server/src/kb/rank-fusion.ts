import type { Passage } from '@parley/protocol';

/** The usual constant of reciprocal rank fusion (Cormack et al., 2009): damps the weight of the very first ranks. */
const RRF_K = 60;

/**
 * Reciprocal rank fusion: each passage scores the sum of 1 / (k + rank) over the rankings it appears in,
 * so that passages both rankings like come first, whatever the scales of their own scores. Scores are
 * scaled into (0, 1] by the best possible sum (first in every ranking).
 */
export function fuseRankings(rankings: Passage[][]): Passage[] {
  const fused = new Map<string, Passage>();
  const best = rankings.length / (RRF_K + 1);
  for (const ranking of rankings) {
    ranking.forEach((passage, index) => {
      const share = 1 / (RRF_K + index + 1) / best;
      const seen = fused.get(passage.chunkId);
      fused.set(passage.chunkId, { ...passage, score: (seen?.score ?? 0) + share });
    });
  }
  return [...fused.values()].sort((a, b) => b.score - a.score || a.chunkId.localeCompare(b.chunkId));
}
