import { attachmentPart, ParleyServerClient } from '@parley/client/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall as call } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { startLocalS3, S3RVER_CREDENTIALS, type LocalS3 } from '../support/s3rver.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

// A 1x1 PNG: its signature is what finalize sniffs.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const HTML = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
const MAX_BYTES = 50_000;
const LIMITS = { PARLEY_ATTACHMENT_LIMITS: JSON.stringify({ acme: { maxBytes: MAX_BYTES } }) };

/** The same suite over both storages: local disk (uploads through the server) and s3rver (presigned uploads; no real S3 or MinIO). */
const STORAGES: Array<{ name: string; start(): Promise<{ env: Record<string, string>; close(): Promise<void> }> }> = [
  { name: 'local disk', start: async () => ({ env: {}, close: async () => undefined }) },
  {
    name: 's3rver',
    start: async () => {
      const s3: LocalS3 = await startLocalS3();
      const env = {
        PARLEY_STORAGE: 's3',
        PARLEY_S3_BUCKET: s3.bucket,
        PARLEY_S3_ENDPOINT: s3.endpoint,
        PARLEY_S3_FORCE_PATH_STYLE: 'on',
        PARLEY_S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        PARLEY_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      };
      return { env, close: () => s3.close() };
    },
  },
];

describe.each(STORAGES)('attachments over $name', (storage) => {
  let server: TestServer;
  let closeStorage: () => Promise<void>;
  let alice: string;
  let bob: string;
  let carol: string;
  let mallory: string;
  let conversation = 0;

  beforeAll(async () => {
    const started = await storage.start();
    closeStorage = started.close;
    server = await startServer({ ...LIMITS, PARLEY_DEMO_TTFT_MS: '0', PARLEY_DEMO_TOKENS_PER_SECOND: '10000', ...started.env });
    [alice, bob, carol, mallory] = await Promise.all([token('alice'), token('bob'), token('carol'), token('mallory', { tenant: 'other' })]);
  });
  afterAll(async () => {
    await server?.stop();
    await closeStorage?.();
  });

  async function newConversation(assistant?: string): Promise<string> {
    const id = `files-${++conversation}`;
    expect((await call(server, alice, 'POST', '/conversations', { id, members: ['alice', 'bob'], ...(assistant ? { assistant } : {}) })).status).toBe(201);
    return id;
  }

  /** The text of the first `ai.completed` after `seq`, once there is one. */
  async function answerAfter(conversationId: string, seq: number): Promise<string> {
    let text = '';
    await eventually(async () => {
      const history = await call(server, alice, 'GET', `/conversations/${conversationId}/events?after=${seq}`);
      const completed = history.body.events.find((event: { type: string }) => event.type === 'ai.completed');
      expect(completed).toBeDefined();
      text = completed.data.text;
    });
    return text;
  }

  /** Declares, uploads (where the server says) and finalizes a file; returns the finalize response. */
  async function upload(conversationId: string, name: string, contentType: string, bytes: Buffer) {
    const created = await call(server, alice, 'POST', `/conversations/${conversationId}/attachments`, { name, contentType, size: bytes.length });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const target = created.body.upload;
    expect(target.via).toBe(storage.name === 'local disk' ? 'server' : 'storage');
    const url = target.via === 'server' ? `${server.url}${target.url}` : target.url;
    const headers = target.via === 'server' ? { ...target.headers, authorization: `Bearer ${alice}` } : target.headers;
    const put = await fetch(url, { method: target.method, headers, body: bytes });
    expect(put.status, await put.text()).toBe(200);
    const finalized = await call(server, alice, 'POST', `/conversations/${conversationId}/attachments/${created.body.attachment.id}/finalize`);
    return { id: created.body.attachment.id as string, finalized };
  }

  async function download(conversationId: string, attachmentId: string, credential: string) {
    const signed = await call(server, credential, 'GET', `/conversations/${conversationId}/attachments/${attachmentId}`);
    if (signed.status !== 200) return { status: signed.status, body: signed.body };
    const response = await fetch(`${server.url}${signed.body.url}`);
    return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()), url: signed.body.url as string };
  }

  it('takes an image, sends it as a message part with the facts the server measured, and serves the same bytes inline to a member', async () => {
    const id = await newConversation();
    const { id: attachmentId, finalized } = await upload(id, 'screen shot.png', 'image/png', PNG);
    expect(finalized.status, JSON.stringify(finalized.body)).toBe(200);
    expect(finalized.body.attachment).toMatchObject({ state: 'ready', contentType: 'image/png', size: PNG.length, image: true });
    // The sender's claims about the file are replaced by the server's record.
    const sent = await call(server, alice, 'POST', `/conversations/${id}/messages`, { content: { type: 'parts', parts: [{ type: 'text', text: 'my screen' }, { type: 'image', attachmentId, name: 'lies.exe', contentType: 'image/png', size: 1 }] } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const history = await call(server, bob, 'GET', `/conversations/${id}/events?after=${sent.body.seq - 1}`);
    expect(history.body.events[0].data.content.parts[1]).toEqual({ type: 'image', attachmentId, name: 'screen shot.png', contentType: 'image/png', size: PNG.length });
    const served = await download(id, attachmentId, bob);
    expect(served.status).toBe(200);
    expect(served.bytes).toEqual(PNG);
    expect(served.headers!.get('content-type')).toBe('image/png');
    expect(served.headers!.get('content-disposition')).toMatch(/^inline; filename="screen shot.png"/);
    expect(served.headers!.get('x-content-type-options')).toBe('nosniff');
    expect(served.headers!.get('content-security-policy')).toBe('sandbox');
  });

  it('serves any other file as a download, and refuses it as an image part', async () => {
    const id = await newConversation();
    const text = Buffer.from('order 1234 arrived broken\n');
    const { id: attachmentId, finalized } = await upload(id, 'notes.txt', 'text/plain', text);
    expect(finalized.body.attachment).toMatchObject({ state: 'ready', contentType: 'text/plain', image: false });
    const asImage = await call(server, alice, 'POST', `/conversations/${id}/messages`, { content: { type: 'parts', parts: [{ type: 'image', attachmentId, name: 'n', contentType: 'image/png', size: 1 }] } });
    expect(asImage.status).toBe(400);
    expect(asImage.body.error.message).toContain('send it as a file part');
    const served = await download(id, attachmentId, alice);
    expect(served.bytes).toEqual(text);
    expect(served.headers!.get('content-disposition')).toMatch(/^attachment; /);
  });

  it("refuses a file over the tenant's limit and a type it does not accept", async () => {
    const id = await newConversation();
    const tooLarge = await call(server, alice, 'POST', `/conversations/${id}/attachments`, { name: 'big.png', contentType: 'image/png', size: MAX_BYTES + 1 });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toMatchObject({ code: 'too_large', details: { maxBytes: MAX_BYTES } });
    const refused = await call(server, alice, 'POST', `/conversations/${id}/attachments`, { name: 'page.html', contentType: 'text/html', size: HTML.length });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'bad_request', details: { reason: 'type_refused' } });
  });

  it('deletes a file whose bytes are not the type it was declared as (HTML posing as a PNG)', async () => {
    const id = await newConversation();
    const { id: attachmentId, finalized } = await upload(id, 'cat.png', 'image/png', HTML);
    expect(finalized.status).toBe(400);
    expect(finalized.body.error).toMatchObject({ code: 'bad_request', details: { reason: 'type_mismatch', sniffed: 'application/octet-stream' } });
    // Gone: neither finalizable again, nor servable, nor sendable.
    expect((await call(server, alice, 'POST', `/conversations/${id}/attachments/${attachmentId}/finalize`)).status).toBe(404);
    expect((await download(id, attachmentId, alice)).status).toBe(404);
    const sent = await call(server, alice, 'POST', `/conversations/${id}/messages`, { content: { type: 'parts', parts: [{ type: 'file', attachmentId, name: 'cat.png', contentType: 'image/png', size: HTML.length }] } });
    expect(sent.status).toBe(400);
  });

  it('serves a file to members only: not to a non-member, not to another tenant, not through a URL signed for another file', async () => {
    const id = await newConversation();
    const { id: attachmentId } = await upload(id, 'screen.png', 'image/png', PNG);
    const nonMember = await download(id, attachmentId, carol);
    expect(nonMember.status).toBe(403);
    const otherTenant = await download(id, attachmentId, mallory);
    expect(otherTenant.status).toBe(404);
    const { id: secondId } = await upload(id, 'second.png', 'image/png', PNG);
    const signed = await download(id, attachmentId, alice);
    const forged = await fetch(`${server.url}${signed.url!.replace(attachmentId, secondId)}`);
    expect(forged.status).toBe(404);
    const unsigned = await fetch(`${server.url}${signed.url!.split('?')[0]}`);
    expect(unsigned.status).toBe(404);
  });

  it('uploads and sends through the server SDK, which goes where the server says (storage or server)', async () => {
    const id = await newConversation();
    const sdk = new ParleyServerClient({ url: server.url, apiKey: alice });
    const attachment = await sdk.uploadAttachment(id, { name: 'screen.png', contentType: 'image/png', data: new Uint8Array(PNG) });
    expect(attachment).toMatchObject({ state: 'ready', image: true, size: PNG.length });
    const ack = await sdk.postMessage(id, { content: { type: 'parts', parts: [attachmentPart(attachment)] } });
    expect(ack.seq).toBeGreaterThan(1);
    const { url } = await sdk.attachmentUrl(id, attachment.id);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer())).toEqual(PNG);
    const refused = await sdk.uploadAttachment(id, { name: 'cat.png', contentType: 'image/png', data: new Blob([HTML]) }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'bad_request', details: { reason: 'type_mismatch' } });
  });

  it("reaches the model as an image: the demo model describes the image's type and size", async () => {
    const id = await newConversation('assistant');
    const { id: attachmentId } = await upload(id, 'screen.png', 'image/png', PNG);
    const sent = await call(server, alice, 'POST', `/conversations/${id}/messages`, { content: { type: 'parts', parts: [{ type: 'text', text: 'what is this?' }, { type: 'image', attachmentId, name: 'screen.png', contentType: 'image/png', size: PNG.length }] } });
    expect(sent.status).toBe(201);
    expect(await answerAfter(id, sent.body.seq)).toMatch(new RegExp(`^I received a PNG image of ${PNG.length} bytes, 1x1 pixels\\.`));
  });
  // Not about storage: once is enough.
  it.runIf(storage.name === 'local disk')('takes a choice or a form submission only as an answer to what the message it names offered, and the model sees it', async () => {
    expect((await call(server, alice, 'POST', '/conversations', { id: 'offers', members: ['alice'], assistant: 'assistant' })).status).toBe(201);
    const key = await call(server, await token('admin', { roles: ['admin'] }), 'POST', '/keys', { name: 'bot', scopes: ['messages:write', 'conversations:read'] });
    const offer = {
      type: 'parts',
      parts: [
        { type: 'quick_replies', options: [{ id: 'ship', label: 'Shipping' }, { id: 'ret', label: 'Returns' }] },
        { type: 'form', formId: 'contact', fields: [{ name: 'email', label: 'Email', kind: 'email', required: true }] },
      ],
    };
    const offered = await call(server, key.body.key, 'POST', '/conversations/offers/messages', { content: offer, sender: { kind: 'bot', id: 'helper' } });
    expect(offered.status, JSON.stringify(offered.body)).toBe(201);
    const send = (part: Record<string, unknown>) => call(server, alice, 'POST', '/conversations/offers/messages', { content: { type: 'parts', parts: [part] } });
    expect((await send({ type: 'choice', replyTo: offered.body.seq, optionId: 'nope', label: 'x' })).body.error.message).toBe(`message ${offered.body.seq} offers no quick reply "nope"`);
    expect((await send({ type: 'form_response', replyTo: offered.body.seq, formId: 'contact', values: { email: 'not an address' } })).body.error.message).toBe('form contact: "email" must be an email address');
    expect((await send({ type: 'choice', replyTo: 1, optionId: 'ship', label: 'x' })).status).toBe(400);
    const form = await send({ type: 'form_response', replyTo: offered.body.seq, formId: 'contact', values: { email: 'alice@example.com' } });
    expect(form.status).toBe(201);
    // The label stored is the offer's, whatever the client sent; the demo model answers the choice's text.
    const chose = await send({ type: 'choice', replyTo: offered.body.seq, optionId: 'ship', label: 'Refund me 1000 euros' });
    expect(chose.status).toBe(201);
    const history = await call(server, alice, 'GET', `/conversations/offers/events?after=${chose.body.seq - 1}&limit=1`);
    expect(history.body.events[0].data.content.parts[0]).toEqual({ type: 'choice', replyTo: offered.body.seq, optionId: 'ship', label: 'Shipping' });
    let answer = '';
    await eventually(async () => {
      const after = await call(server, alice, 'GET', `/conversations/offers/events?after=${chose.body.seq}`);
      const completed = after.body.events.find((event: { type: string; causation?: { replyTo?: number } }) => event.type === 'ai.completed' && event.causation?.replyTo === chose.body.seq);
      expect(completed).toBeDefined();
      answer = completed.data.text;
    });
    expect(answer).toMatch(/^Standard shipping takes 2 to 4 business days/);
  });
});
