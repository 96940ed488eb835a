// The knowledge base: retrieval quality on the committed evaluation set (bench/knowledge-eval: recall@k and MRR
// for full-text, vector and hybrid search), indexing throughput through the indexing queue, and search latency
// at a synthetic size. Vectors come from a deterministic hashing embedder (each word adds ±1 at a hashed
// dimension): its quality figures measure the plumbing (storage, cosine search, fusion), not semantics.
//   node bench/knowledge.mjs [--store pglite|postgres] [--chunks 10000] [--searches 200]
// Needs `npm run build`; PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) for --store postgres.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DATABASE_URL } from './lib/servers.mjs';

const DIST = new URL('../packages/server/dist/', import.meta.url);
const { openPostgresStore } = await import(new URL('store/postgres/open.js', DIST).href);
const { PostgresKnowledgeStore } = await import(new URL('store/postgres/knowledge-store.js', DIST).href);
const { MemoryJobQueue } = await import(new URL('adapters/memory/job-queue.js', DIST).href);
const { KnowledgeBaseService, VectorIndex, indexingRunner } = await import(new URL('kb/index.js', DIST).href);
const EVAL = new URL('./knowledge-eval/', import.meta.url);
const DIMENSIONS = 256;
const K = [1, 3, 5];

/** The deterministic hashing embedder, in process. */
const hashingEmbedder = {
  name: 'hashing-256',
  embed: async (texts) => texts.map(hashingEmbedding),
};

function hashingEmbedding(text) {
  const vector = new Array(DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt16BE(0) % DIMENSIONS] += digest[2] & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}

/** A store of the chosen kind, migrated; `close` also drops the PostgreSQL schema. */
async function openStore(kind) {
  if (kind === 'pglite') {
    const store = await openPostgresStore({ kind: 'pglite', dataDir: 'memory://' });
    await store.migrate();
    return { store, close: () => store.close() };
  }
  const schema = `bench_kb_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 4 });
  await store.migrate();
  return {
    store,
    close: async () => {
      await store.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** The knowledge base over `store` with an in-process queue and the hashing embedder. */
function knowledgeBase(store) {
  const knowledgeStore = new PostgresKnowledgeStore(store.database);
  const queue = new MemoryJobQueue({ maxQueued: 100_000, concurrency: 2, perTenantConcurrency: 2 }, (error) => console.error(error));
  queue.work(indexingRunner({ store: knowledgeStore, embedder: hashingEmbedder }));
  const service = new KnowledgeBaseService({ store: knowledgeStore, queue, embedder: hashingEmbedder, limits: { maxDocumentBytes: 1 << 20, maxDocuments: 100_000 } });
  return { knowledgeStore, queue, service, database: store.database, vectors: new VectorIndex(knowledgeStore, 1e9) };
}

/** Waits until every document of the tenant is indexed (one count query a poll: polling each document would load the database). */
async function allIndexed(knowledgeStore, database, tenant, ids) {
  for (;;) {
    const { rows } = await database.query(
      "SELECT count(*) FILTER (WHERE status = 'indexed') AS indexed, count(*) FILTER (WHERE status = 'failed') AS failed FROM parley_kb_documents WHERE tenant = $1",
      [tenant],
    );
    if (Number(rows[0].failed) > 0) throw new Error('indexing failed');
    if (Number(rows[0].indexed) === ids.length) return Promise.all(ids.map((id) => knowledgeStore.getDocument(tenant, id)));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** recall@k (a passage of the answering section among the first k) and MRR over the evaluation set, per mode. */
async function quality(kb) {
  const tenant = 'eval';
  const names = (await readdir(new URL('docs/', EVAL))).filter((name) => name.endsWith('.md')).sort();
  const ids = new Map();
  for (const name of names) {
    const content = await readFile(new URL(`docs/${name}`, EVAL), 'utf8');
    const document = await kb.service.addDocument(tenant, { title: content.match(/^# (.+)$/m)[1], content, source: 'eval' });
    ids.set(document.id, name);
  }
  const documents = await allIndexed(kb.knowledgeStore, kb.database, tenant, [...ids.keys()]);
  const { questions } = JSON.parse(await readFile(new URL('questions.json', EVAL), 'utf8'));
  const topK = Math.max(...K);
  const modes = {
    lexical: (question) => kb.knowledgeStore.searchLexical(tenant, question, { limit: topK, minScore: 0, match: 'any' }),
    vector: async (question) => kb.vectors.search(tenant, (await hashingEmbedder.embed([question]))[0], { limit: topK, minScore: 0 }),
    hybrid: (question) => kb.service.search(tenant, { query: question, topK }),
  };
  const results = {};
  for (const [mode, search] of Object.entries(modes)) {
    const ranks = [];
    const times = [];
    for (const { question, document, heading } of questions) {
      const started = performance.now();
      const passages = await search(question);
      times.push(performance.now() - started);
      const rank = passages.findIndex((passage) => ids.get(passage.documentId) === document && passage.heading === heading);
      ranks.push(rank < 0 ? null : rank + 1);
    }
    results[mode] = {
      ...Object.fromEntries(K.map((k) => [`recall@${k}`, round(ranks.filter((rank) => rank !== null && rank <= k).length / ranks.length)])),
      mrr: round(ranks.reduce((sum, rank) => sum + (rank ? 1 / rank : 0), 0) / ranks.length),
      searchMsP50: round(percentile(times, 0.5)),
    };
  }
  return { documents: documents.length, passages: documents.reduce((sum, document) => sum + document.chunksTotal, 0), questions: questions.length, ...results };
}

/** Indexing throughput through the queue, then search latency, at `chunks` synthetic passages in one tenant. */
async function scale(kb, chunks, searches) {
  const tenant = 'scale';
  const vocabulary = Array.from({ length: 5000 }, (_, index) => `term${index.toString(36)}`);
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const word = () => vocabulary[Math.floor(random() ** 2 * vocabulary.length)];
  const paragraph = () => Array.from({ length: 120 }, word).join(' ');
  // Documents of 50 sections with one ~1,000-character paragraph each: about 50 passages a document.
  const documentCount = Math.ceil(chunks / 50);
  const contents = Array.from({ length: documentCount }, (_, index) => Array.from({ length: 50 }, (_, section) => `## Section ${index}.${section}\n${paragraph()}\n`).join('\n'));
  const started = performance.now();
  const ids = [];
  for (const [index, content] of contents.entries()) ids.push((await kb.service.addDocument(tenant, { title: `Synthetic ${index}`, content })).id);
  const indexed = await allIndexed(kb.knowledgeStore, kb.database, tenant, ids);
  const seconds = (performance.now() - started) / 1000;
  const total = indexed.reduce((sum, document) => sum + document.chunksTotal, 0);
  const query = () => `${word()} ${word()} ${word()}`;
  const timed = async (runs, run) => {
    const times = [];
    for (let index = 0; index < runs; index++) {
      const begun = performance.now();
      await run();
      times.push(performance.now() - begun);
    }
    return { p50: round(percentile(times, 0.5)), p99: round(percentile(times, 0.99)) };
  };
  await kb.vectors.search(tenant, hashingEmbedding('warm'), { limit: 5, minScore: 0 });
  return {
    passages: total,
    indexingPassagesPerSecond: Math.round(total / seconds),
    lexicalMs: await timed(searches, () => kb.knowledgeStore.searchLexical(tenant, query(), { limit: 5, minScore: 0, match: 'any' })),
    vectorInMemoryMs: await timed(searches, async () => kb.vectors.search(tenant, hashingEmbedding(query()), { limit: 5, minScore: 0 })),
    hybridMs: await timed(searches, () => kb.service.search(tenant, { query: query(), topK: 5 })),
  };
}

function percentile(values, fraction) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

async function main() {
  const { values } = parseArgs({ options: { store: { type: 'string', default: 'pglite' }, chunks: { type: 'string', default: '10000' }, searches: { type: 'string', default: '200' } } });
  const { store, close } = await openStore(values.store);
  const kb = knowledgeBase(store);
  try {
    const result = { store: values.store, embedder: `${hashingEmbedder.name} (deterministic hashing; measures plumbing, not semantics)`, quality: await quality(kb) };
    result.scale = await scale(kb, Number(values.chunks), Number(values.searches));
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await kb.queue.close();
    await close();
  }
}

await main();
