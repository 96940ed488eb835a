/** The knowledge base: documents, structure-aware chunking, indexing jobs, lexical, vector and hybrid retrieval. */
export { KnowledgeBaseService, type KnowledgeLimits } from './knowledge-base.js';
export { indexingRunner } from './indexer.js';
export { isIndexingJob, type IndexingJob } from './indexing-job.js';
export { OpenAiCompatibleEmbedder } from './openai-embedder.js';
export type { Embedder } from './embedder.js';
export { chunkDocument, type Chunk } from './chunking.js';
export { documentTitle } from './titles.js';
export { VectorIndex } from './vector-index.js';
