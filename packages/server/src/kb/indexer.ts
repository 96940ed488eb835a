import type { ChunkRecord, KnowledgeStore } from '../core/ports.js';
import { chunkDocument, DEFAULT_CHUNKING, type ChunkingOptions } from './chunking.js';
import type { Embedder } from './embedder.js';
import type { IndexingJob } from './indexing-job.js';

// Passages embedded per request to the embedding model (progress is recorded after each batch).
const EMBEDDING_BATCH = 64;

export interface IndexerOptions {
  store: KnowledgeStore;
  embedder?: Embedder | undefined;
  chunking?: ChunkingOptions;
  now?: () => number;
}

/**
 * Runs indexing jobs: chunks the job's version of the document, embeds the passages (with an embedder),
 * and replaces the document's passages in one transaction. A job for a version that is no longer the
 * document's, or for a deleted document, does nothing. A failure is recorded on the document (`failed`).
 * Idempotent, so a job reclaimed from a lost worker is simply run again.
 */
export function indexingRunner(options: IndexerOptions): (job: IndexingJob, context: { lost: AbortSignal }) => Promise<void> {
  const now = options.now ?? Date.now;
  return async (job, context) => {
    const { store } = options;
    const document = await store.getDocument(job.tenant, job.documentId);
    if (!document || document.version !== job.version) return;
    const state = (status: 'indexing' | 'indexed' | 'failed', chunksIndexed: number, chunksTotal: number | null, error: string | null = null) =>
      store.setIndexState(job.tenant, job.documentId, job.version, { status, chunksIndexed, chunksTotal, error, indexedAt: status === 'indexed' ? now() : null });
    try {
      const chunks = chunkDocument(document.format, document.content, options.chunking ?? DEFAULT_CHUNKING);
      if (!(await state('indexing', 0, chunks.length))) return;
      const records: ChunkRecord[] = [];
      for (let start = 0; start < chunks.length; start += EMBEDDING_BATCH) {
        const batch = chunks.slice(start, start + EMBEDDING_BATCH);
        const embeddings = options.embedder ? await options.embedder.embed(batch.map(embeddingText), context.lost) : null;
        batch.forEach((chunk, index) => records.push({ position: start + index, heading: chunk.heading, text: chunk.text, embedding: embeddings?.[index] ?? null }));
        if (options.embedder && start + batch.length < chunks.length && !(await state('indexing', records.length, chunks.length))) return;
      }
      if (!(await store.replaceChunks(job.tenant, job.documentId, job.version, records))) return;
      await state('indexed', records.length, records.length);
    } catch (error) {
      if (context.lost.aborted) throw error;
      await state('failed', 0, null, (error as Error).message || String(error));
    }
  };
}

/** What the embedding model reads of a passage: its headings give it context. */
function embeddingText(chunk: { heading: string; text: string }): string {
  return chunk.heading ? `${chunk.heading}\n\n${chunk.text}` : chunk.text;
}
