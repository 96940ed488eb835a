import type { DocumentFormat, IndexStatus, Passage } from '@parley/protocol';

/** A knowledge-base document as stored. */
export interface DocumentRecord {
  tenant: string;
  id: string;
  source: string;
  title: string;
  url: string | null;
  tags: string[];
  format: DocumentFormat;
  content: string;
  bytes: number;
  /** Bumped when the content or format changes: chunks and indexing jobs name the version they belong to. */
  version: number;
  status: IndexStatus;
  chunksIndexed: number;
  chunksTotal: number | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  indexedAt: number | null;
}

/** One passage of a document, ready to store: its position, the headings above it, its text. */
export interface ChunkRecord {
  position: number;
  heading: string;
  text: string;
  /** Its embedding, when the tenant's knowledge base has an embedding model. */
  embedding: number[] | null;
}

/** An embedded passage as an in-memory vector search holds it. */
export interface EmbeddedChunk {
  documentId: string;
  position: number;
  source: string;
  tags: string[];
  embedding: number[];
}

/** What a search is limited to. */
export interface PassageFilter {
  sources?: string[] | undefined;
  tags?: string[] | undefined;
}

/**
 * Storage of knowledge-base documents and their chunks. Every method sees one tenant's rows only. Chunks of
 * a document are replaced whole, and only for the version they were made from: a late indexing job of an
 * older version changes nothing.
 */
export interface KnowledgeStore {
  /** Stores a new document; false (nothing stored) when the tenant already has `maxPerTenant` documents. */
  createDocument(record: DocumentRecord, maxPerTenant: number): Promise<boolean>;
  getDocument(tenant: string, id: string): Promise<DocumentRecord | null>;
  /** The tenant's documents (without their content), newest first, after the cursor `after` (an id). */
  listDocuments(tenant: string, options: { limit: number; source?: string | undefined; after?: string | undefined }): Promise<DocumentRecord[]>;
  /** Replaces the document's fields; null when there is no such document. */
  updateDocument(record: DocumentRecord): Promise<DocumentRecord | null>;
  /** Removes the document and every chunk of it; false when there was none. */
  deleteDocument(tenant: string, id: string): Promise<boolean>;
  /** Documents of every tenant whose current version is not indexed yet (`pending` or `indexing`), oldest first. */
  unindexedDocuments(limit: number): Promise<Array<{ tenant: string; id: string; version: number }>>;
  /** Records indexing progress of `version`; false when the document has moved on to another version (or is gone). */
  setIndexState(tenant: string, id: string, version: number, state: { status: IndexStatus; chunksIndexed: number; chunksTotal: number | null; error: string | null; indexedAt: number | null }): Promise<boolean>;
  /** Replaces the document's chunks with those of `version`, in one transaction; false (nothing written) when the document is at another version. */
  replaceChunks(tenant: string, id: string, version: number, chunks: ChunkRecord[]): Promise<boolean>;
  /**
   * Full-text search of the tenant's passages: `any` matches passages with any of the query's words,
   * `all` reads the query as web-search syntax. Scores are `ts_rank` normalized into [0, 1).
   */
  searchLexical(tenant: string, query: string, options: PassageFilter & { limit: number; minScore: number; match: 'any' | 'all' }): Promise<Passage[]>;
  /**
   * Changes whenever the tenant's searchable embeddings may have changed (a document added, re-indexed or
   * deleted): an in-memory copy of them is current while the stamp is the same.
   */
  embeddingStamp(tenant: string): Promise<string>;
  /** Every embedded passage of the tenant, without its text: what an in-memory vector search needs. */
  loadEmbeddings(tenant: string): Promise<EmbeddedChunk[]>;
  /** The passages at these places (documents and positions), with score 0, in no particular order; missing ones left out. */
  getPassages(tenant: string, places: Array<{ documentId: string; position: number }>): Promise<Passage[]>;
  /** The passages most similar to `embedding` by cosine similarity (exact, over every embedded passage of the tenant that passes the filter). */
  searchVector(tenant: string, embedding: number[], options: PassageFilter & { limit: number; minScore: number }): Promise<Passage[]>;
}
