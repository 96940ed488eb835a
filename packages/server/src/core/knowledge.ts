import type { DocumentInput, DocumentPatch, DocumentView, KnowledgeSearch, Passage } from '@parley/protocol';

/**
 * A tenant's knowledge base, as the REST routes and the assistants use it (after authorizing: every method
 * sees the given tenant's documents only; another tenant's document is `not_found`). Adding or changing a
 * document queues its indexing and returns at once, with status `pending`.
 */
export interface KnowledgeBase {
  /** `too_large` for content over the size limit or a tenant at its document limit; `busy` when the indexing queue is full. */
  addDocument(tenant: string, input: DocumentInput): Promise<DocumentView>;
  getDocument(tenant: string, id: string, options?: { content?: boolean }): Promise<DocumentView>;
  listDocuments(tenant: string, options: { limit: number; source?: string | undefined; after?: string | undefined }): Promise<{ documents: DocumentView[]; nextCursor: string | null }>;
  /** A changed content or format is indexed again (the old passages are searched until then). */
  updateDocument(tenant: string, id: string, patch: DocumentPatch): Promise<DocumentView>;
  /** Removes the document and all its passages at once. */
  deleteDocument(tenant: string, id: string): Promise<void>;
  /** The passages that best answer `query`, best first. */
  search(tenant: string, search: KnowledgeSearch): Promise<Passage[]>;
}
