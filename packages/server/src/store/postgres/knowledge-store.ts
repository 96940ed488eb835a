import type { Passage } from '@parley/protocol';
import type { ChunkRecord, DocumentRecord, EmbeddedChunk, KnowledgeStore, PassageFilter } from '../../core/ports.js';
import type { SqlDatabase } from './sql.js';

interface DocumentRow {
  tenant: string;
  id: string;
  source: string;
  title: string;
  url: string | null;
  tags: string[];
  format: DocumentRecord['format'];
  content: string;
  bytes: number;
  version: number;
  status: DocumentRecord['status'];
  chunks_indexed: number;
  chunks_total: number | null;
  error: string | null;
  created_at: string | number;
  updated_at: string | number;
  indexed_at: string | number | null;
}

interface PassageRow {
  document: string;
  position: number;
  heading: string;
  text: string;
  title: string;
  url: string | null;
  source: string;
  score: number;
}

const COLUMNS = 'tenant, id, source, title, url, tags, format, content, bytes, version, status, chunks_indexed, chunks_total, error, created_at, updated_at, indexed_at';
// Listing leaves the content out: documents may be large.
const LIST_COLUMNS = COLUMNS.replace('content', "'' AS content");

function toDocument(row: DocumentRow): DocumentRecord {
  return {
    tenant: row.tenant,
    id: row.id,
    source: row.source,
    title: row.title,
    url: row.url,
    tags: row.tags,
    format: row.format,
    content: row.content,
    bytes: row.bytes,
    version: row.version,
    status: row.status,
    chunksIndexed: row.chunks_indexed,
    chunksTotal: row.chunks_total,
    error: row.error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    indexedAt: row.indexed_at === null ? null : Number(row.indexed_at),
  };
}

function toPassage(row: PassageRow): Passage {
  return { chunkId: `${row.document}:${row.position}`, documentId: row.document, title: row.title, url: row.url, source: row.source, heading: row.heading, text: row.text, score: Number(row.score) };
}

/** The query of `any` mode: the query's own lexemes (stemmed, stop words dropped) joined with OR. */
// Lexemes are quoted as tsquery literals; one with a backslash is left out (quote_literal would escape it differently).
const ANY_WORDS_QUERY = `(SELECT string_agg(quote_literal(lexeme), ' | ') FROM unnest(to_tsvector('english', $2)) WHERE strpos(lexeme, E'\\\\') = 0)::tsquery`;
const ALL_WORDS_QUERY = `websearch_to_tsquery('english', $2)`;
// Documents of the listed sources ($3) and with any of the listed tags ($4); null lists filter nothing.
const FILTER = '($3::text[] IS NULL OR d.source = ANY($3)) AND ($4::text[] IS NULL OR d.tags && $4)';

/** Knowledge-base documents and chunks in PostgreSQL (or PGlite), beside the conversations. */
export class PostgresKnowledgeStore implements KnowledgeStore {
  constructor(private readonly db: SqlDatabase) {}

  async createDocument(record: DocumentRecord, maxPerTenant: number): Promise<boolean> {
    // One statement, so that two concurrent creations cannot both pass the count.
    const { rows } = await this.db.query(
      `INSERT INTO parley_kb_documents (${COLUMNS})
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
       WHERE (SELECT count(*) FROM parley_kb_documents WHERE tenant = $1) < $18
       RETURNING id`,
      [...documentValues(record), maxPerTenant],
    );
    return rows.length > 0;
  }

  async getDocument(tenant: string, id: string): Promise<DocumentRecord | null> {
    const { rows } = await this.db.query<DocumentRow>(`SELECT ${COLUMNS} FROM parley_kb_documents WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return rows[0] ? toDocument(rows[0]) : null;
  }

  async listDocuments(tenant: string, options: { limit: number; source?: string | undefined; after?: string | undefined }): Promise<DocumentRecord[]> {
    const { rows } = await this.db.query<DocumentRow>(
      `SELECT ${LIST_COLUMNS} FROM parley_kb_documents d
       WHERE tenant = $1 AND ($2::text IS NULL OR source = $2)
         AND ($3::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM parley_kb_documents WHERE tenant = $1 AND id = $3))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [tenant, options.source ?? null, options.after ?? null, options.limit],
    );
    return rows.map(toDocument);
  }

  async updateDocument(record: DocumentRecord): Promise<DocumentRecord | null> {
    const { rows } = await this.db.query<DocumentRow>(
      `UPDATE parley_kb_documents SET source = $3, title = $4, url = $5, tags = $6, format = $7, content = $8, bytes = $9, version = $10,
         status = $11, chunks_indexed = $12, chunks_total = $13, error = $14, updated_at = $15, indexed_at = $16
       WHERE tenant = $1 AND id = $2 RETURNING ${COLUMNS}`,
      [...documentValues(record).slice(0, 14), record.updatedAt, record.indexedAt],
    );
    return rows[0] ? toDocument(rows[0]) : null;
  }

  async deleteDocument(tenant: string, id: string): Promise<boolean> {
    // The chunks go with it (ON DELETE CASCADE).
    const { rows } = await this.db.query('DELETE FROM parley_kb_documents WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    return rows.length > 0;
  }

  async unindexedDocuments(limit: number): Promise<Array<{ tenant: string; id: string; version: number }>> {
    const { rows } = await this.db.query<{ tenant: string; id: string; version: number }>(
      "SELECT tenant, id, version FROM parley_kb_documents WHERE status IN ('pending', 'indexing') ORDER BY updated_at LIMIT $1",
      [limit],
    );
    return rows;
  }

  async setIndexState(
    tenant: string,
    id: string,
    version: number,
    state: { status: DocumentRecord['status']; chunksIndexed: number; chunksTotal: number | null; error: string | null; indexedAt: number | null },
  ): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE parley_kb_documents SET status = $4, chunks_indexed = $5, chunks_total = $6, error = $7, indexed_at = COALESCE($8, indexed_at)
       WHERE tenant = $1 AND id = $2 AND version = $3 RETURNING id`,
      [tenant, id, version, state.status, state.chunksIndexed, state.chunksTotal, state.error, state.indexedAt],
    );
    return rows.length > 0;
  }

  async replaceChunks(tenant: string, id: string, version: number, chunks: ChunkRecord[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // The row lock orders this against an update of the document: a newer version wins.
      const { rows } = await tx.query('SELECT id FROM parley_kb_documents WHERE tenant = $1 AND id = $2 AND version = $3 FOR UPDATE', [tenant, id, version]);
      if (rows.length === 0) return false;
      await tx.query('DELETE FROM parley_kb_chunks WHERE tenant = $1 AND document = $2', [tenant, id]);
      if (chunks.length > 0) {
        await tx.query(
          `INSERT INTO parley_kb_chunks (tenant, document, position, heading, text, embedding)
           SELECT $1, $2, chunk.position, chunk.heading, chunk.text, CASE WHEN chunk.embedding = 'null' THEN NULL
             ELSE ARRAY(SELECT jsonb_array_elements_text(chunk.embedding)::real) END
           FROM jsonb_to_recordset($3::jsonb) AS chunk(position int, heading text, text text, embedding jsonb)`,
          [tenant, id, JSON.stringify(chunks)],
        );
      }
      return true;
    });
  }

  async searchLexical(tenant: string, query: string, options: PassageFilter & { limit: number; minScore: number; match: 'any' | 'all' }): Promise<Passage[]> {
    const { rows } = await this.db.query<PassageRow>(
      `SELECT * FROM (
         SELECT c.document, c.position, c.heading, c.text, d.title, d.url, d.source, ts_rank(c.search, q.query, 32) AS score
         FROM (SELECT ${options.match === 'all' ? ALL_WORDS_QUERY : ANY_WORDS_QUERY} AS query) q,
              parley_kb_chunks c JOIN parley_kb_documents d ON d.tenant = c.tenant AND d.id = c.document
         WHERE c.tenant = $1 AND c.search @@ q.query AND ${FILTER}
       ) found WHERE score >= $6 ORDER BY score DESC, document, position LIMIT $5`,
      [tenant, query, options.sources ?? null, options.tags ?? null, options.limit, options.minScore],
    );
    return rows.map(toPassage);
  }

  async embeddingStamp(tenant: string): Promise<string> {
    // Chunks change only with a document's version or index state (replaced, then marked indexed) or its deletion.
    const { rows } = await this.db.query<{ stamp: string | null }>(
      `SELECT md5(string_agg(id || ':' || version || ':' || status || ':' || coalesce(indexed_at, 0), ',' ORDER BY id)) AS stamp
       FROM parley_kb_documents WHERE tenant = $1`,
      [tenant],
    );
    return rows[0]?.stamp ?? 'empty';
  }

  async loadEmbeddings(tenant: string): Promise<EmbeddedChunk[]> {
    const { rows } = await this.db.query<{ document: string; position: number; source: string; tags: string[]; embedding: number[] }>(
      `SELECT c.document, c.position, d.source, d.tags, c.embedding
       FROM parley_kb_chunks c JOIN parley_kb_documents d ON d.tenant = c.tenant AND d.id = c.document
       WHERE c.tenant = $1 AND c.embedding IS NOT NULL`,
      [tenant],
    );
    return rows.map((row) => ({ documentId: row.document, position: row.position, source: row.source, tags: row.tags, embedding: row.embedding }));
  }

  async getPassages(tenant: string, places: Array<{ documentId: string; position: number }>): Promise<Passage[]> {
    if (places.length === 0) return [];
    const { rows } = await this.db.query<PassageRow>(
      `SELECT c.document, c.position, c.heading, c.text, d.title, d.url, d.source, 0 AS score
       FROM unnest($2::text[], $3::int[]) AS place(document, position)
       JOIN parley_kb_chunks c ON c.tenant = $1 AND c.document = place.document AND c.position = place.position
       JOIN parley_kb_documents d ON d.tenant = c.tenant AND d.id = c.document`,
      [tenant, places.map((place) => place.documentId), places.map((place) => place.position)],
    );
    return rows.map(toPassage);
  }

  async searchVector(tenant: string, embedding: number[], options: PassageFilter & { limit: number; minScore: number }): Promise<Passage[]> {
    // Exact cosine similarity over every embedded passage of the tenant (no pgvector index: see docs/knowledge.md).
    const { rows } = await this.db.query<PassageRow>(
      `SELECT * FROM (
         SELECT c.document, c.position, c.heading, c.text, d.title, d.url, d.source,
           (SELECT sum(a * b) / NULLIF(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0) FROM unnest(c.embedding::float8[], $2::float8[]) AS pair(a, b)) AS score
         FROM parley_kb_chunks c JOIN parley_kb_documents d ON d.tenant = c.tenant AND d.id = c.document
         WHERE c.tenant = $1 AND c.embedding IS NOT NULL AND cardinality(c.embedding) = cardinality($2::float8[]) AND ${FILTER}
       ) found WHERE score >= $6 ORDER BY score DESC, document, position LIMIT $5`,
      [tenant, embedding, options.sources ?? null, options.tags ?? null, options.limit, options.minScore],
    );
    return rows.map(toPassage);
  }
}

function documentValues(record: DocumentRecord): unknown[] {
  return [
    record.tenant, record.id, record.source, record.title, record.url, record.tags, record.format, record.content, record.bytes, record.version,
    record.status, record.chunksIndexed, record.chunksTotal, record.error, record.createdAt, record.updatedAt, record.indexedAt,
  ];
}
