import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { ask, finished, read, waitForReady, watch } from '../support/chat-page.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
// Every run saves its mid-answer screenshot under test-results/; PARLEY_UPDATE_SCREENSHOTS=1 also refreshes the one in docs/.
const SCREENSHOTS = process.env.PARLEY_UPDATE_SCREENSHOTS === '1' ? [join(ROOT, 'test-results/chat.png'), join(ROOT, 'docs/screenshots/chat.png')] : [join(ROOT, 'test-results/chat.png')];
const LONG_ANSWER_START = 'Here is a long answer';

/** The web chat page in headless Chromium against a real server: streaming, tools, Stop, reload, reconnect. */
describe('web chat page', () => {
  let server: TestServer;
  let browser: Browser;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    // The generated development secret (no PARLEY_JWT_SECRET) turns on /v1/dev/token, which the page signs in with.
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: '100', PARLEY_DEMO_TOKENS_PER_SECOND: '30', PARLEY_WEB_DIR: WEB_DIR });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    for (const proxy of proxies) await proxy.close();
    await server?.stop();
  });

  /** A fresh browser profile (so a new guest and a new conversation) on the chat page, ready to send. */
  async function openChat(baseUrl = server.url): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 820, height: 620 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(baseUrl);
    await waitForReady(page);
    return page;
  }

  it('streams an answer that uses the order lookup tool, with a note about the tool', async () => {
    const page = await openChat();
    await ask(page, 'where is my order 1234?');
    await expect.poll(() => page.getByTestId('message').first().textContent()).toContain('where is my order 1234?');
    const answer = page.getByTestId('answer').last();
    const seen = await watch(answer, finished);
    const final = seen.at(-1)!;
    expect(final.status).toBe('completed');
    expect(final.text).toContain('Order 1234');
    // Streamed token by token: at least two different partial texts, each a beginning of the final one.
    const partials = seen.filter((view) => view.status === 'streaming' && view.text.length > 0 && view.text !== final.text);
    expect(new Set(partials.map((view) => view.text)).size).toBeGreaterThanOrEqual(2);
    for (const partial of partials) expect(final.text.startsWith(partial.text)).toBe(true);
    await expect.poll(() => answer.getByTestId('tool-note').allTextContents()).toEqual(['used tool lookup_order']);
    await page.context().close();
  });

  it('Stop ends a streaming answer, marks it stopped, and it stops growing', async () => {
    const page = await openChat();
    await ask(page, 'tell me a long story');
    const answer = page.getByTestId('answer').last();
    await watch(answer, (view) => view.text.length > 40);
    await page.getByRole('button', { name: 'Stop' }).click();
    const stopped = (await watch(answer, finished)).at(-1)!;
    expect(stopped.status).toBe('stopped');
    expect(stopped.text.startsWith(LONG_ANSWER_START)).toBe(true);
    await expect.poll(() => answer.getByTestId('answer-stopped').textContent()).toContain('(stopped)');
    await expect.poll(() => page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
    // At 30 tokens a second a running answer would grow by several words in this time.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await read(answer)).toEqual(stopped);
    await page.context().close();
  });

  it('asks before running a tool that needs approval; approving it once (also after a reload) runs it once', async () => {
    const page = await openChat();
    await ask(page, 'please cancel my order 1234');
    const answer = page.getByTestId('answer').last();
    const approval = answer.getByRole('group', { name: 'Approval needed' });
    await expect.poll(() => approval.count()).toBe(1);
    expect(await approval.textContent()).toContain('cancel_order(orderId: "1234")');
    // The request is durable: a reload still shows it, pending.
    await page.reload();
    await waitForReady(page);
    const reloaded = page.getByTestId('answer').last();
    await expect.poll(() => reloaded.getByRole('group', { name: 'Approval needed' }).count()).toBe(1);
    await reloaded.getByRole('button', { name: 'Approve' }).click();
    const final = (await watch(reloaded, finished)).at(-1)!;
    expect(final).toEqual({ status: 'completed', text: expect.stringContaining('Order 1234 is cancelled') });
    await expect.poll(() => reloaded.getByTestId('approval').getAttribute('data-state')).toBe('approved');
    await page.context().close();
  });

  it('after a reload mid-answer, shows the text so far at once and streams the rest', async () => {
    const page = await openChat();
    await ask(page, 'where is my order 1234?');
    await watch(page.getByTestId('answer').last(), finished);
    await ask(page, 'tell me a long story');
    const answer = page.getByTestId('answer').nth(1);
    const before = (await watch(answer, (view) => view.text.length > 150)).at(-1)!;
    expect(before.status).toBe('streaming');
    for (const path of SCREENSHOTS) {
      await mkdir(dirname(path), { recursive: true });
      await page.screenshot({ path });
    }

    await page.reload();
    // The first text shown after the reload is already everything streamed before it (the server's snapshot),
    // not only the tokens that came after.
    const afterReload = await watch(answer, (view) => view.text.length > 0);
    const first = afterReload.at(-1)!;
    expect(first.status).toBe('streaming');
    expect(first.text.startsWith(LONG_ANSWER_START)).toBe(true);
    expect(first.text.length).toBeGreaterThanOrEqual(before.text.length);
    const final = (await watch(answer, finished)).at(-1)!;
    expect(final.status).toBe('completed');
    expect(final.text.startsWith(first.text)).toBe(true);
    expect(final.text.length).toBeGreaterThan(first.text.length);
    // The rest of the conversation came back from history: both questions, the first answer and its tool note.
    expect(await page.getByTestId('message').allTextContents()).toEqual(['where is my order 1234?', 'tell me a long story']);
    expect(await page.getByTestId('answer').first().getByTestId('answer-text').textContent()).toContain('Order 1234');
    expect(await page.getByTestId('tool-note').allTextContents()).toEqual(['used tool lookup_order']);
    await page.context().close();
  });

  it('shows a tool that failed as failed, live and after a reload (the failure is inside the result output)', async () => {
    const backend = await failingToolBackend();
    const assistantsDir = await mkdtemp(join(tmpdir(), 'parley-assistants-'));
    let failing: TestServer | undefined;
    try {
      const assistantsFile = join(assistantsDir, 'assistants.json');
      await writeFile(assistantsFile, JSON.stringify(assistantsWithWebhookTool(backend.url)));
      // The tool's backend is on loopback, which outbound requests refuse unless the allow-list names it.
      failing = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_WEB_DIR: WEB_DIR, PARLEY_ASSISTANTS_FILE: assistantsFile, PARLEY_OUTBOUND_ALLOW: '127.0.0.1' });
      const page = await openChat(failing.url);
      await ask(page, 'where is my order 1234?');
      const answer = page.getByTestId('answer').last();
      const final = (await watch(answer, finished)).at(-1)!;
      expect(final.text).toContain('I could not use lookup_order just now (webhook answered HTTP 500)');
      expect(backend.calls).toBe(1);
      const note = answer.getByTestId('tool-note');
      await expect.poll(() => note.getAttribute('data-state')).toBe('failed');
      expect(await note.allTextContents()).toEqual(['tool lookup_order failed']);
      expect(await note.getAttribute('title')).toBe('webhook answered HTTP 500');

      await page.reload();
      await waitForReady(page);
      const replayed = page.getByTestId('answer').last().getByTestId('tool-note');
      await expect.poll(() => replayed.getAttribute('data-state')).toBe('failed');
      expect(await replayed.allTextContents()).toEqual(['tool lookup_order failed']);
      await page.context().close();
    } finally {
      await failing?.stop();
      await backend.close();
      await rm(assistantsDir, { recursive: true, force: true });
    }
  });

  it('shows a reconnect banner while the connection is down, and works again once it is back', async () => {
    const proxy = await TcpProxy.start(server.port);
    proxies.push(proxy);
    const page = await openChat(`http://127.0.0.1:${proxy.port}`);
    const banner = page.getByTestId('connection-banner');
    expect(await banner.count()).toBe(0);

    proxy.cut(); // the network drops: the page's WebSocket closes and reconnect attempts are refused
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toContain('Reconnecting');
    proxy.restore();
    await expect.poll(() => banner.count(), { timeout: 20_000 }).toBe(0);

    await ask(page, 'where is my order 1234?');
    const final = (await watch(page.getByTestId('answer').last(), finished)).at(-1)!;
    expect(final).toMatchObject({ status: 'completed' });
    expect(final.text).toContain('Order 1234');
    await page.context().close();
  });
});

/** A tenant backend whose tool endpoint answers every call with HTTP 500. */
async function failingToolBackend(): Promise<{ url: string; calls: number; close(): Promise<void> }> {
  const backend = { url: '', calls: 0, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      backend.calls++;
      response.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":"the order system is down"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tools`;
  return backend;
}

/** The page's `assistant` profile on the demo model, with `lookup_order` as a webhook tool at `url`. */
function assistantsWithWebhookTool(url: string) {
  return {
    assistants: [{ id: 'assistant', models: [{ provider: 'demo', ttftMs: 50, tokensPerSecond: 200 }], tools: ['lookup_order'], limits: { retries: 0 } }],
    tools: [
      {
        name: 'lookup_order',
        description: 'Look up an order by its number',
        inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
        url,
        secret: 'a-long-shared-secret-for-the-test',
        timeoutMs: 5000,
      },
    ],
  };
}
