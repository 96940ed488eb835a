import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { EmbeddingsServer } from '../support/embeddings-server.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const text = (value: string) => ({ type: 'text', text: value });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

const RETURNS = `# Returns

## Refund timing
Refunds reach the original card within 7 business days after the parcel arrives at our warehouse.

## Return labels
Print the prepaid label from the Orders page.
`;

/** The knowledge base end to end: REST documents and search, the CLI, and an assistant that answers with cited sources. */
describe('knowledge base through a real server', () => {
  let server: TestServer;
  let admin: string;
  let otherAdmin: string;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    server = await startServer({ PARLEY_DEMO_TTFT_MS: '20', PARLEY_DEMO_TOKENS_PER_SECOND: '500', PARLEY_KB_MAX_DOCUMENT_BYTES: '2048' });
    admin = await token('root', { tenant: 'acme', roles: ['admin'] });
    otherAdmin = await token('root', { tenant: 'globex', roles: ['admin'] });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await server?.stop();
  });

  async function indexed(credential: string, id: string) {
    await eventually(async () => expect((await apiCall(server, credential, 'GET', `/knowledge/documents/${id}`)).body.document.status).toBe('indexed'));
  }

  it('adds, lists, searches, changes and deletes documents over the REST API, scoped by tenant and key scopes', async () => {
    const created = await apiCall(server, admin, 'POST', '/knowledge/documents', { title: 'Returns', content: RETURNS, url: 'https://help.example/returns', tags: ['billing'], source: 'help' });
    expect(created.status).toBe(201);
    expect(created.body.document).toMatchObject({ title: 'Returns', status: 'pending', version: 1, progress: { indexed: 0, total: null } });
    const id = created.body.document.id as string;
    await indexed(admin, id);
    expect((await apiCall(server, admin, 'GET', `/knowledge/documents/${id}`)).body.document).toMatchObject({ content: RETURNS, progress: { indexed: 2, total: 2 }, indexedAt: expect.any(Number) });
    expect((await apiCall(server, admin, 'GET', '/knowledge/documents')).body).toMatchObject({ documents: [{ id, title: 'Returns' }], nextCursor: null });

    const search = await apiCall(server, admin, 'POST', '/knowledge/search', { query: 'when does my refund arrive', tags: ['billing'] });
    expect(search.status).toBe(200);
    expect(search.body.passages[0]).toMatchObject({ documentId: id, heading: 'Returns > Refund timing', url: 'https://help.example/returns', chunkId: `${id}:0` });

    // Another tenant sees nothing of it.
    expect((await apiCall(server, otherAdmin, 'POST', '/knowledge/search', { query: 'refund' })).body.passages).toEqual([]);
    expect((await apiCall(server, otherAdmin, 'GET', `/knowledge/documents/${id}`)).status).toBe(404);
    expect((await apiCall(server, otherAdmin, 'DELETE', `/knowledge/documents/${id}`)).status).toBe(404);

    // Scopes: a reader searches but does not write; users are refused.
    const reader = (await apiCall(server, admin, 'POST', '/keys', { name: 'kb-reader', scopes: ['knowledge:read'] })).body.key as string;
    expect((await apiCall(server, reader, 'POST', '/knowledge/search', { query: 'refund' })).status).toBe(200);
    const refused = await apiCall(server, reader, 'POST', '/knowledge/documents', { title: 'x', content: 'y' });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden', details: { scope: 'knowledge:write' } } } });
    expect((await apiCall(server, await token('alice'), 'GET', '/knowledge/documents')).status).toBe(403);

    // Bad input gets a code and a message.
    const tooLarge = await apiCall(server, admin, 'POST', '/knowledge/documents', { title: 'Big', content: 'x'.repeat(2049) });
    expect(tooLarge).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    expect(tooLarge.body.error.message).toContain('2048');
    const badFormat = await apiCall(server, admin, 'POST', '/knowledge/documents', { title: 'x', content: 'y', format: 'pdf' });
    expect(badFormat).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect((await apiCall(server, admin, 'POST', '/knowledge/search', { query: '' })).status).toBe(400);

    // A change of content is indexed again; deletion removes every passage.
    const changed = await apiCall(server, admin, 'PATCH', `/knowledge/documents/${id}`, { content: '# Returns\nExchanges are free for 60 days.' });
    expect(changed.body.document).toMatchObject({ version: 2, status: 'pending' });
    await indexed(admin, id);
    expect((await apiCall(server, admin, 'POST', '/knowledge/search', { query: 'exchanges' })).body.passages).toHaveLength(1);
    expect((await apiCall(server, admin, 'DELETE', `/knowledge/documents/${id}`)).status).toBe(204);
    expect((await apiCall(server, admin, 'POST', '/knowledge/search', { query: 'exchanges' })).body.passages).toEqual([]);
  });

  it('parley kb add loads a folder of Markdown and HTML through the running server', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'parley-kb-'));
    try {
      await mkdir(join(folder, 'billing'));
      await writeFile(join(folder, 'billing', 'refunds.md'), RETURNS);
      await writeFile(join(folder, 'warranty.html'), '<html><head><title>Warranty</title></head><body><h1>Warranty</h1><p>Every kettle carries a two-year warranty against defects.</p></body></html>');
      await writeFile(join(folder, 'notes.bin'), Buffer.from([0, 1, 2]));
      const env = { ...process.env, PARLEY_DATA_DIR: server.dataDir, PARLEY_JWT_SECRET: TEST_SECRET, DATABASE_URL: '' };
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'kb', 'add', '--tenant', 'acme', '--source', 'manual', folder], { env });
      expect(stdout).toMatch(/added 2 documents/);
      expect(stderr).toContain('notes.bin');
      const listed = (await apiCall(server, admin, 'GET', '/knowledge/documents?source=manual')).body.documents as Array<{ id: string; title: string; format: string }>;
      expect(listed.map((document) => [document.title, document.format]).sort()).toEqual([['Returns', 'markdown'], ['Warranty', 'html']]);
      for (const document of listed) await indexed(admin, document.id);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("answers a question the documents answer with numbered sources, never from another tenant's documents", async () => {
    // Globex's document matches the question better; acme's assistant must never see it.
    const secret = await apiCall(server, otherAdmin, 'POST', '/knowledge/documents', { title: 'Globex kettles', content: '# Kettle warranty\nGlobex kettle warranty lasts ten years, warranty warranty.' });
    await indexed(otherAdmin, secret.body.document.id);

    const customer = await RawClient.connect(server.wsUrl, await token('carol'));
    clients.push(customer);
    const conversationId = 'kb-question';
    await customer.call('conversation.open', { conversationId, assistant: 'assistant' });
    await customer.call('subscribe', { conversationId, since: 0 });
    await customer.call('message.send', { conversationId, clientMsgId: 'q1', content: text('How long is the kettle warranty?') });
    await eventually(() => expect(customer.events(conversationId).some((event: Frame) => event.type === 'ai.completed')).toBe(true));
    const completed = customer.events(conversationId).find((event: Frame) => event.type === 'ai.completed')!;
    expect(completed.data.text).toContain('two-year warranty');
    expect(completed.data.text).toContain('[1]');
    expect(completed.data.sources).toEqual([{ n: 1, chunkId: expect.stringMatching(/^doc_.+:0$/), documentId: expect.any(String), title: 'Warranty', url: null, heading: 'Warranty' }]);
    expect(completed.data.text).not.toContain('ten years');

    // ai.context shows what was retrieved, numbered as the model saw it.
    const agent = await RawClient.connect(server.wsUrl, await token('ari', { roles: ['agent'] }));
    clients.push(agent);
    const context = await agent.call('ai.context', { conversationId, generationId: completed.data.generationId });
    expect(context.knowledge[0]).toMatchObject({ n: 1, title: 'Warranty', text: 'Every kettle carries a two-year warranty against defects.' });
    expect(context.knowledge.every((passage: { title: string }) => passage.title !== 'Globex kettles')).toBe(true);
    expect(context.system).toContain('[1] Warranty — Warranty');

    // A question the documents do not answer gets no sources.
    await customer.call('message.send', { conversationId, clientMsgId: 'q2', content: text('hello there') });
    await eventually(() => expect(customer.events(conversationId).filter((event: Frame) => event.type === 'ai.completed')).toHaveLength(2));
    expect(customer.events(conversationId).filter((event: Frame) => event.type === 'ai.completed')[1]!.data.sources).toBeUndefined();
  });
});

/** Scale-out: a gateway takes documents, a worker indexes them from the Redis queue, with an embeddings API (hybrid search). */
describe('knowledge base on a gateway and a worker over PostgreSQL and Redis, with embeddings', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let embeddings: EmbeddingsServer;
  let gateway: TestServer;
  let worker: TestServer;
  const prefix = `parley-it-kb-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    schema = await createTestSchema();
    embeddings = await EmbeddingsServer.start();
    const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix, PARLEY_EMBEDDINGS_BASE_URL: embeddings.baseUrl, PARLEY_EMBEDDINGS_MODEL: 'hashing' };
    gateway = await startServer({ ...env, PARLEY_ROLE: 'gateway' });
    worker = await startServer({ ...env, PARLEY_ROLE: 'worker' });
  });
  afterAll(async () => {
    await gateway?.stop();
    await worker?.stop();
    await embeddings?.close();
    await deleteTestKeys(prefix);
    await schema?.drop();
  });

  it('indexes on the worker what the gateway took, embedding every passage, and searches hybrid through the gateway', async () => {
    const admin = await token('root', { tenant: 'acme', roles: ['admin'] });
    const created = await apiCall(gateway, admin, 'POST', '/knowledge/documents', { title: 'Returns', content: RETURNS });
    expect(created.status).toBe(201);
    await eventually(async () => expect((await apiCall(gateway, admin, 'GET', `/knowledge/documents/${created.body.document.id}`)).body.document.status).toBe('indexed'));
    const embedded = embeddings.inputs.flat();
    expect(embedded).toContain('Returns > Refund timing\n\nRefunds reach the original card within 7 business days after the parcel arrives at our warehouse.');
    const [best] = (await apiCall(gateway, admin, 'POST', '/knowledge/search', { query: 'refunds reach the original card' })).body.passages;
    // First in both rankings: the fused score is 1.
    expect(best).toMatchObject({ heading: 'Returns > Refund timing', score: 1 });
    // The query itself was embedded by the gateway.
    expect(embeddings.inputs.flat()).toContain('refunds reach the original card');
  });
});
