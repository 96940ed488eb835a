import { randomBytes } from 'node:crypto';
import { documentInputSchema, knowledgeSearchSchema, type DocumentInput, type DocumentPatch, type DocumentView, type KnowledgeSearch, type Passage } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { DocumentRecord, JobQueue, KnowledgeBase, KnowledgeStore } from '../core/ports.js';
import { indexingJob, type IndexingJob } from './indexing-job.js';
import type { Embedder } from './embedder.js';
import { fuseRankings } from './rank-fusion.js';
import { VectorIndex } from './vector-index.js';

/** Limits of each tenant's knowledge base. */
export interface KnowledgeLimits {
  /** Largest document content, in UTF-8 bytes. */
  maxDocumentBytes: number;
  /** Documents one tenant may hold. */
  maxDocuments: number;
}

export interface KnowledgeBaseDependencies {
  store: KnowledgeStore;
  queue: JobQueue<IndexingJob>;
  /** When set, passages are embedded at indexing and searches are hybrid (lexical and vector, fused by rank). */
  embedder?: Embedder | undefined;
  limits: KnowledgeLimits;
  /** Numbers of embeddings held in memory for vector search, over all tenants (default 50 million: 200 MB). */
  maxCachedFloats?: number;
  now?: () => number;
}

const DEFAULT_MAX_CACHED_FLOATS = 50_000_000;
// Documents queued again at a start at most (each waits beyond the queue's bound, as jobs without a reservation do).
const RESUMED_PER_START = 10_000;

// How many candidates each ranking contributes to the fusion of a hybrid search, per result asked for.
const HYBRID_CANDIDATES_PER_RESULT = 4;

/** The knowledge base of every tenant: documents in the store, indexed by jobs on the queue, searched lexically or hybrid. */
export class KnowledgeBaseService implements KnowledgeBase {
  private readonly now: () => number;
  private readonly vectors: VectorIndex;

  constructor(private readonly dependencies: KnowledgeBaseDependencies) {
    this.now = dependencies.now ?? Date.now;
    this.vectors = new VectorIndex(dependencies.store, dependencies.maxCachedFloats ?? DEFAULT_MAX_CACHED_FLOATS);
  }

  async addDocument(tenant: string, input: DocumentInput): Promise<DocumentView> {
    const fields = documentInputSchema.parse(input);
    const bytes = this.checkSize(fields.content);
    const at = this.now();
    const record: DocumentRecord = {
      tenant, id: `doc_${randomBytes(12).toString('base64url')}`, source: fields.source, title: fields.title, url: fields.url ?? null, tags: fields.tags,
      format: fields.format, content: fields.content, bytes, version: 1, status: 'pending', chunksIndexed: 0, chunksTotal: null, error: null,
      createdAt: at, updatedAt: at, indexedAt: null,
    };
    const reservation = await this.dependencies.queue.reserve({ tenant, conversationId: `kb:${record.id}` }, { exclusive: false });
    const created = await this.dependencies.store.createDocument(record, this.dependencies.limits.maxDocuments).catch(async (error: unknown) => {
      await this.dependencies.queue.cancel(reservation);
      throw error;
    });
    if (!created) {
      await this.dependencies.queue.cancel(reservation);
      throw new ParleyError('too_large', `the knowledge base holds ${this.dependencies.limits.maxDocuments} documents at most; delete some first`);
    }
    await this.dependencies.queue.submit(indexingJob(tenant, record.id, record.version), reservation);
    return toView(record, false);
  }

  async getDocument(tenant: string, id: string, options: { content?: boolean } = {}): Promise<DocumentView> {
    return toView(await this.find(tenant, id), options.content ?? false);
  }

  async listDocuments(tenant: string, options: { limit: number; source?: string | undefined; after?: string | undefined }): Promise<{ documents: DocumentView[]; nextCursor: string | null }> {
    const records = await this.dependencies.store.listDocuments(tenant, { ...options, limit: options.limit + 1 });
    const page = records.slice(0, options.limit);
    return { documents: page.map((record) => toView(record, false)), nextCursor: records.length > options.limit ? page.at(-1)!.id : null };
  }

  async updateDocument(tenant: string, id: string, patch: DocumentPatch): Promise<DocumentView> {
    const current = await this.find(tenant, id);
    const reindex = (patch.content !== undefined && patch.content !== current.content) || (patch.format !== undefined && patch.format !== current.format);
    const content = patch.content ?? current.content;
    const changed: DocumentRecord = {
      ...current,
      source: patch.source ?? current.source,
      title: patch.title ?? current.title,
      url: patch.url === undefined ? current.url : patch.url,
      tags: patch.tags ?? current.tags,
      format: patch.format ?? current.format,
      content,
      bytes: this.checkSize(content),
      updatedAt: this.now(),
      ...(reindex ? { version: current.version + 1, status: 'pending' as const, chunksIndexed: 0, chunksTotal: null, error: null } : {}),
    };
    const reservation = reindex ? await this.dependencies.queue.reserve({ tenant, conversationId: `kb:${id}` }, { exclusive: false }) : null;
    const updated = await this.dependencies.store.updateDocument(changed).catch(async (error: unknown) => {
      if (reservation) await this.dependencies.queue.cancel(reservation);
      throw error;
    });
    if (!updated) {
      if (reservation) await this.dependencies.queue.cancel(reservation);
      throw documentNotFound(id);
    }
    if (reservation) await this.dependencies.queue.submit(indexingJob(tenant, id, changed.version), reservation);
    return toView(updated, false);
  }

  async deleteDocument(tenant: string, id: string): Promise<void> {
    if (!(await this.dependencies.store.deleteDocument(tenant, id))) throw documentNotFound(id);
  }

  /**
   * Queues again the indexing of documents left unindexed: an in-process queue loses its jobs with its
   * process, so a node starting over an existing store calls this. Repeats are harmless (indexing a version
   * twice writes the same passages; a shared queue ignores a job id it already holds). Returns how many.
   */
  async resumeIndexing(): Promise<number> {
    const unindexed = await this.dependencies.store.unindexedDocuments(RESUMED_PER_START);
    for (const document of unindexed) await this.dependencies.queue.submit(indexingJob(document.tenant, document.id, document.version));
    return unindexed.length;
  }

  async search(tenant: string, search: KnowledgeSearch): Promise<Passage[]> {
    const { query, topK, minScore, sources, tags, match } = knowledgeSearchSchema.parse(search);
    const filter = { sources, tags };
    const { store, embedder } = this.dependencies;
    if (!embedder) return store.searchLexical(tenant, query, { ...filter, limit: topK, minScore, match });
    // Hybrid: each ranking's own minimum would mean nothing after fusion, so minScore applies to the fused score.
    const candidates = topK * HYBRID_CANDIDATES_PER_RESULT;
    const [vector] = await embedder.embed([query]);
    const [lexical, similar] = await Promise.all([
      store.searchLexical(tenant, query, { ...filter, limit: candidates, minScore: 0, match }),
      this.vectors.search(tenant, vector!, { ...filter, limit: candidates, minScore: 0 }),
    ]);
    return fuseRankings([lexical, similar]).filter((passage) => passage.score >= minScore).slice(0, topK);
  }

  private async find(tenant: string, id: string): Promise<DocumentRecord> {
    const record = await this.dependencies.store.getDocument(tenant, id);
    if (!record) throw documentNotFound(id);
    return record;
  }

  private checkSize(content: string): number {
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > this.dependencies.limits.maxDocumentBytes) {
      throw new ParleyError('too_large', `the document is ${bytes} bytes; the limit is ${this.dependencies.limits.maxDocumentBytes} (PARLEY_KB_MAX_DOCUMENT_BYTES)`);
    }
    return bytes;
  }
}

function documentNotFound(id: string): ParleyError {
  return new ParleyError('not_found', `no document ${id} in this tenant's knowledge base`);
}

function toView(record: DocumentRecord, withContent: boolean): DocumentView {
  return {
    id: record.id, source: record.source, title: record.title, url: record.url, tags: record.tags, format: record.format, bytes: record.bytes,
    version: record.version, status: record.status, progress: { indexed: record.chunksIndexed, total: record.chunksTotal }, error: record.error,
    createdAt: record.createdAt, updatedAt: record.updatedAt, indexedAt: record.indexedAt,
    ...(withContent ? { content: record.content } : {}),
  };
}
