import { z } from 'zod';
import { identifierSchema } from './ids.js';

/**
 * The knowledge base of a tenant: documents (Markdown, HTML or plain text) cut into passages that search
 * finds and that assistants cite. See docs/knowledge.md.
 */

/** Tags one document may carry. */
export const MAX_DOCUMENT_TAGS = 20;
/** Passages one search returns at most. */
export const MAX_SEARCH_RESULTS = 50;

export const documentFormatSchema = z.enum(['markdown', 'html', 'text']);
export type DocumentFormat = z.infer<typeof documentFormatSchema>;

const tagSchema = z.string().min(1).max(64);
const sourceSchema = z.string().min(1).max(200);

/** The body of "add a document". */
export const documentInputSchema = z.object({
  /** Where the document comes from (a product, a site, a folder): search can be limited to some sources. */
  source: sourceSchema.default('default'),
  title: z.string().min(1).max(300),
  /** Where people read the document; citations link to it. */
  url: z.url({ protocol: /^https?$/ }).max(2000).optional(),
  tags: z.array(tagSchema).max(MAX_DOCUMENT_TAGS).default([]),
  format: documentFormatSchema.default('markdown'),
  content: z.string().min(1),
});
export type DocumentInput = z.input<typeof documentInputSchema>;

/** The body of "change a document": any field of the input; a new content or format is indexed again. */
export const documentPatchSchema = z.object({
  source: sourceSchema.optional(),
  title: z.string().min(1).max(300).optional(),
  url: z.url({ protocol: /^https?$/ }).max(2000).nullable().optional(),
  tags: z.array(tagSchema).max(MAX_DOCUMENT_TAGS).optional(),
  format: documentFormatSchema.optional(),
  content: z.string().min(1).optional(),
});
export type DocumentPatch = z.input<typeof documentPatchSchema>;

/** Where a document's indexing stands: `pending` (queued), `indexing`, `indexed`, or `failed` (see `error`). */
export const indexStatusSchema = z.enum(['pending', 'indexing', 'indexed', 'failed']);
export type IndexStatus = z.infer<typeof indexStatusSchema>;

/** A document as the API shows it (without its content unless asked for). */
export const documentViewSchema = z.object({
  id: identifierSchema,
  source: z.string(),
  title: z.string(),
  url: z.string().nullable(),
  tags: z.array(z.string()),
  format: documentFormatSchema,
  /** Size of the content in bytes (UTF-8). */
  bytes: z.number().int(),
  /** Bumped by every change of content or format: the index holds the passages of this version once `indexed`. */
  version: z.number().int(),
  status: indexStatusSchema,
  /** Passages of this version indexed so far, out of `total` (null before chunking). */
  progress: z.object({ indexed: z.number().int(), total: z.number().int().nullable() }),
  /** Why indexing failed; null unless `failed`. */
  error: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  indexedAt: z.number().int().nullable(),
  content: z.string().optional(),
});
export type DocumentView = z.infer<typeof documentViewSchema>;

/** The body of a search. */
export const knowledgeSearchSchema = z.object({
  query: z.string().min(1).max(2000),
  topK: z.number().int().min(1).max(MAX_SEARCH_RESULTS).default(5),
  /** Passages scoring below it are left out (lexical scores lie in [0, 1)). */
  minScore: z.number().min(0).default(0),
  /** Only documents of these sources. */
  sources: z.array(sourceSchema).max(50).optional(),
  /** Only documents carrying at least one of these tags. */
  tags: z.array(tagSchema).max(50).optional(),
  /** `any` (default): passages with any of the query's words, more matches ranked higher; `all`: web-search syntax, every word ("quoted phrases", -excluded, or). */
  match: z.enum(['any', 'all']).default('any'),
});
export type KnowledgeSearch = z.input<typeof knowledgeSearchSchema>;

/** One passage found. */
export const passageSchema = z.object({
  /** `<documentId>:<position>`: stable until the document changes. */
  chunkId: z.string(),
  documentId: identifierSchema,
  title: z.string(),
  url: z.string().nullable(),
  source: z.string(),
  /** The headings above the passage, outermost first, joined with " > "; empty at the top of a document. */
  heading: z.string(),
  text: z.string(),
  score: z.number(),
});
export type Passage = z.infer<typeof passageSchema>;

/** A passage an answer cites: `n` is the number the answer writes as `[n]`. */
export const answerSourceSchema = z.object({
  n: z.number().int().positive(),
  chunkId: z.string(),
  documentId: z.string(),
  title: z.string(),
  url: z.string().nullable(),
  heading: z.string(),
});
export type AnswerSource = z.infer<typeof answerSourceSchema>;
