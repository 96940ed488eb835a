import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentView } from '@parley/protocol';
import { EmbeddingsServer } from '../../../../test/support/embeddings-server.js';
import { eventually } from '../../../../test/support/eventually.js';
import { MemoryJobQueue } from '../../src/adapters/memory/job-queue.js';
import { indexingRunner, KnowledgeBaseService, OpenAiCompatibleEmbedder, VectorIndex, type IndexingJob } from '../../src/kb/index.js';
import { PostgresKnowledgeStore } from '../../src/store/postgres/knowledge-store.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { STORE_FACTORIES } from '../store-factories.js';

const REFUNDS = `# Billing

## Refunds
Refunds are paid back to the original card within 5 business days. Ask for a refund from the Orders page.

## Invoices
Invoices are emailed on the first day of each month as PDF files.
`;
const PASSWORDS = `<html><head><title>Account</title><script>var password = "not content";</script></head>
<body><h1>Account</h1><h2>Resetting your password</h2><p>Open Settings, choose Security and press <b>Reset password</b>. The link expires after 30 minutes.</p>
<h2>Two-factor authentication</h2><ul><li>Install an authenticator app.</li><li>Scan the QR code shown in Security.</li></ul></body></html>`;

describe.each(STORE_FACTORIES)('knowledge base on $name', (factory) => {
  let store: PostgresStore;
  let cleanup: () => Promise<void>;
  let queue: MemoryJobQueue<IndexingJob>;
  let knowledge: KnowledgeBaseService;

  beforeAll(async () => {
    ({ store, cleanup } = await factory.open());
    await store.migrate();
    const knowledgeStore = new PostgresKnowledgeStore(store.database);
    queue = new MemoryJobQueue<IndexingJob>({ maxQueued: 100, concurrency: 2, perTenantConcurrency: 1 }, (error) => { throw error; });
    queue.work(indexingRunner({ store: knowledgeStore }));
    knowledge = new KnowledgeBaseService({ store: knowledgeStore, queue, limits: { maxDocumentBytes: 4096, maxDocuments: 3 } });
  });
  afterAll(async () => {
    await queue.close();
    await cleanup();
  });

  const indexed = async (tenant: string, document: DocumentView) => {
    await eventually(async () => expect((await knowledge.getDocument(tenant, document.id)).status).toBe('indexed'));
    return knowledge.getDocument(tenant, document.id);
  };

  it('indexes Markdown and HTML into passages that lexical search finds, headings included, scripts left out', async () => {
    const billing = await knowledge.addDocument('acme', { title: 'Billing', content: REFUNDS, source: 'help', tags: ['billing'], url: 'https://help.example/billing' });
    expect(billing).toMatchObject({ status: 'pending', version: 1, bytes: Buffer.byteLength(REFUNDS) });
    const account = await knowledge.addDocument('acme', { title: 'Account', content: PASSWORDS, format: 'html', source: 'site', tags: ['account'] });
    expect((await indexed('acme', billing)).progress).toEqual({ indexed: 2, total: 2 });
    await indexed('acme', account);

    const [refund] = await knowledge.search('acme', { query: 'How do I get a refund?' });
    expect(refund).toMatchObject({ documentId: billing.id, title: 'Billing', heading: 'Billing > Refunds', url: 'https://help.example/billing', source: 'help' });
    expect(refund!.text).toContain('within 5 business days');
    expect(refund!.score).toBeGreaterThan(0);
    const [reset] = await knowledge.search('acme', { query: 'reset my password' });
    expect(reset).toMatchObject({ documentId: account.id, heading: 'Account > Resetting your password' });
    expect(await knowledge.search('acme', { query: 'not content var' })).toEqual([]);
    // "all" reads web-search syntax: every word must match.
    expect(await knowledge.search('acme', { query: 'refund password', match: 'all' })).toEqual([]);
    expect(await knowledge.search('acme', { query: '"original card" -password', match: 'all' })).toHaveLength(1);
  });

  it('filters by source and tag, keeps to the minimum score and topK', async () => {
    expect((await knowledge.search('acme', { query: 'password refund invoices', sources: ['site'] })).every((passage) => passage.source === 'site')).toBe(true);
    expect((await knowledge.search('acme', { query: 'password refund invoices', tags: ['billing'] })).map((passage) => passage.heading).sort()).toEqual(['Billing > Invoices', 'Billing > Refunds']);
    expect(await knowledge.search('acme', { query: 'password refund invoices', tags: ['nothing'] })).toEqual([]);
    expect(await knowledge.search('acme', { query: 'password refund invoices', topK: 1 })).toHaveLength(1);
    const all = await knowledge.search('acme', { query: 'refund' });
    expect(await knowledge.search('acme', { query: 'refund', minScore: all[0]!.score + 0.001 })).toEqual([]);
  });

  it("keeps tenants apart: another tenant's documents are neither found, read, changed nor deleted", async () => {
    const [found] = await knowledge.search('acme', { query: 'refund' });
    expect(await knowledge.search('globex', { query: 'refund' })).toEqual([]);
    await expect(knowledge.getDocument('globex', found!.documentId)).rejects.toMatchObject({ code: 'not_found' });
    await expect(knowledge.updateDocument('globex', found!.documentId, { title: 'x' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(knowledge.deleteDocument('globex', found!.documentId)).rejects.toMatchObject({ code: 'not_found' });
    expect((await knowledge.listDocuments('globex', { limit: 10 })).documents).toEqual([]);
  });

  it('re-indexes a changed document, replaces its passages, and deletes every passage with it', async () => {
    const document = await knowledge.addDocument('acme', { title: 'Shipping', content: '# Shipping\nParcels leave the warehouse daily.' });
    await indexed('acme', document);
    const changed = await knowledge.updateDocument('acme', document.id, { content: '# Shipping\nPallets leave on Mondays.' });
    expect(changed).toMatchObject({ version: 2, status: 'pending' });
    await indexed('acme', changed);
    expect(await knowledge.search('acme', { query: 'parcels' })).toEqual([]);
    expect((await knowledge.search('acme', { query: 'pallets' }))[0]?.documentId).toBe(document.id);
    // A title change alone is not re-indexed.
    expect(await knowledge.updateDocument('acme', document.id, { title: 'Freight' })).toMatchObject({ version: 2, title: 'Freight' });
    await knowledge.deleteDocument('acme', document.id);
    expect(await knowledge.search('acme', { query: 'pallets' })).toEqual([]);
    const { rows } = await store.database.query<{ count: string }>('SELECT count(*) FROM parley_kb_chunks WHERE document = $1', [document.id]);
    expect(Number(rows[0]!.count)).toBe(0);
  });

  it('indexes documents a node added but never indexed (its in-process queue died with it) when the next node resumes', async () => {
    const knowledgeStore = new PostgresKnowledgeStore(store.database);
    // A node whose queue never ran its jobs, then "restarted" as a fresh service and queue over the same store.
    const deadQueue = new MemoryJobQueue<IndexingJob>({ maxQueued: 10, concurrency: 1, perTenantConcurrency: 1 }, () => undefined);
    const dead = new KnowledgeBaseService({ store: knowledgeStore, queue: deadQueue, limits: { maxDocumentBytes: 4096, maxDocuments: 100 } });
    const orphan = await dead.addDocument('initech', { title: 'Orphan', content: 'Staplers are red.' });
    await deadQueue.close();
    const nextQueue = new MemoryJobQueue<IndexingJob>({ maxQueued: 10, concurrency: 1, perTenantConcurrency: 1 }, (error) => { throw error; });
    nextQueue.work(indexingRunner({ store: knowledgeStore }));
    const next = new KnowledgeBaseService({ store: knowledgeStore, queue: nextQueue, limits: { maxDocumentBytes: 4096, maxDocuments: 100 } });
    expect(await next.resumeIndexing()).toBe(1);
    await eventually(async () => expect((await next.getDocument('initech', orphan.id)).status).toBe('indexed'));
    expect((await next.search('initech', { query: 'stapler' }))[0]?.documentId).toBe(orphan.id);
    expect(await next.resumeIndexing()).toBe(0);
    await nextQueue.close();
  });

  it('refuses documents over the size limit and beyond the count limit with too_large', async () => {
    await expect(knowledge.addDocument('acme', { title: 'Big', content: 'x'.repeat(4097) })).rejects.toMatchObject({ code: 'too_large' });
    await knowledge.addDocument('acme', { title: 'Third', content: 'third' });
    await expect(knowledge.addDocument('acme', { title: 'Fourth', content: 'fourth' })).rejects.toMatchObject({ code: 'too_large' });
    expect((await knowledge.listDocuments('acme', { limit: 10 })).documents.map((document) => document.title)).toEqual(['Third', 'Account', 'Billing']);
    const first = await knowledge.listDocuments('acme', { limit: 2 });
    expect((await knowledge.listDocuments('acme', { limit: 2, after: first.nextCursor! })).documents.map((document) => document.title)).toEqual(['Billing']);
  });
});

describe.each(STORE_FACTORIES)('knowledge base with embeddings on $name (a local OpenAI-format embeddings server, deterministic hashing embedder)', (factory) => {
  let embeddings: EmbeddingsServer;
  let store: PostgresStore;
  let cleanup: () => Promise<void>;
  let queue: MemoryJobQueue<IndexingJob>;
  let knowledge: KnowledgeBaseService;
  let knowledgeStore: PostgresKnowledgeStore;

  beforeAll(async () => {
    embeddings = await EmbeddingsServer.start();
    ({ store, cleanup } = await factory.open());
    await store.migrate();
    knowledgeStore = new PostgresKnowledgeStore(store.database);
    const embedder = new OpenAiCompatibleEmbedder({ baseUrl: embeddings.baseUrl, model: 'hashing', maxRetries: 0 });
    queue = new MemoryJobQueue<IndexingJob>({ maxQueued: 100, concurrency: 2, perTenantConcurrency: 1 }, (error) => { throw error; });
    queue.work(indexingRunner({ store: knowledgeStore, embedder }));
    knowledge = new KnowledgeBaseService({ store: knowledgeStore, queue, embedder, limits: { maxDocumentBytes: 65_536, maxDocuments: 100 } });
  });
  afterAll(async () => {
    await queue.close();
    await cleanup();
    await embeddings.close();
  });

  it('embeds passages with their headings, finds them by cosine similarity, and fuses both rankings', async () => {
    const billing = await knowledge.addDocument('acme', { title: 'Billing', content: REFUNDS });
    const account = await knowledge.addDocument('acme', { title: 'Account', content: PASSWORDS, format: 'html' });
    await eventually(async () => {
      for (const document of [billing, account]) expect((await knowledge.getDocument('acme', document.id)).status).toBe('indexed');
    });
    expect(embeddings.inputs.flat()).toContain('Billing > Refunds\n\nRefunds are paid back to the original card within 5 business days. Ask for a refund from the Orders page.');

    const vector = (await new OpenAiCompatibleEmbedder({ baseUrl: embeddings.baseUrl, model: 'hashing' }).embed(['refunds paid back to the original card']))[0]!;
    const [nearest] = await knowledgeStore.searchVector('acme', vector, { limit: 3, minScore: 0 });
    expect(nearest).toMatchObject({ documentId: billing.id, heading: 'Billing > Refunds' });
    expect(nearest!.score).toBeGreaterThan(0.5);
    expect(await knowledgeStore.searchVector('globex', vector, { limit: 3, minScore: 0 })).toEqual([]);

    // Hybrid: the passage both rankings put first comes first, scored 1 (first in both).
    const [best] = await knowledge.search('acme', { query: 'refunds paid back to the original card' });
    expect(best).toMatchObject({ documentId: billing.id, heading: 'Billing > Refunds', score: 1 });
    expect((await knowledge.search('acme', { query: 'authenticator app QR code', topK: 1 }))[0]).toMatchObject({ documentId: account.id, heading: 'Account > Two-factor authentication' });
    expect(await knowledge.search('acme', { query: 'refund', minScore: 1.01 })).toEqual([]);
  });

  it('searches vectors in memory as SQL does, sees changes through the stamp, and falls back to SQL past its bound', async () => {
    const vector = (await new OpenAiCompatibleEmbedder({ baseUrl: embeddings.baseUrl, model: 'hashing' }).embed(['invoices emailed monthly as PDF']))[0]!;
    const options = { limit: 4, minScore: 0 };
    const inSql = await knowledgeStore.searchVector('acme', vector, options);
    const index = new VectorIndex(knowledgeStore, 1_000_000);
    const inMemory = await index.search('acme', vector, options);
    expect(inMemory.map((passage) => passage.chunkId)).toEqual(inSql.map((passage) => passage.chunkId));
    inMemory.forEach((passage, position) => expect(passage.score).toBeCloseTo(inSql[position]!.score, 4));
    expect(inMemory[0]).toMatchObject({ heading: 'Billing > Invoices', text: expect.stringContaining('first day of each month') });
    expect(await index.search('acme', vector, { ...options, tags: ['none'] })).toEqual([]);
    // A deletion by anyone changes the stamp: the next search no longer finds the document's passages.
    const stamp = await knowledgeStore.embeddingStamp('acme');
    await knowledge.deleteDocument('acme', inMemory[0]!.documentId);
    expect(await knowledgeStore.embeddingStamp('acme')).not.toBe(stamp);
    expect((await index.search('acme', vector, options)).some((passage) => passage.documentId === inMemory[0]!.documentId)).toBe(false);
    // Too many numbers for the bound: the same answer, from SQL.
    const small = new VectorIndex(knowledgeStore, 10);
    expect((await small.search('acme', vector, options)).map((passage) => passage.chunkId)).toEqual((await knowledgeStore.searchVector('acme', vector, options)).map((passage) => passage.chunkId));
  });

  it('marks a document failed, with the reason, when the embedding model fails', async () => {
    await embeddings.close();
    const document = await knowledge.addDocument('acme', { title: 'Late', content: 'Written while the model was down.' });
    await eventually(async () => expect((await knowledge.getDocument('acme', document.id)).status).toBe('failed'), 30_000);
    expect((await knowledge.getDocument('acme', document.id)).error).toBeTruthy();
  });
});
