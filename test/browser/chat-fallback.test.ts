import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { ask, finished, read, waitForReady, watch } from '../support/chat-page.js';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
const LONG_ANSWER_START = 'Here is a long answer';

/**
 * Runs in the page before its scripts: a WebSocket that never gets through, as behind a proxy or firewall that
 * drops upgrades (it fails as the browser's own does: an error event, then a close with 1006). It counts its
 * uses, so the test can tell that the page did try.
 */
function blockWebSockets(): void {
  const counter = globalThis as unknown as { blockedWebSockets: number };
  counter.blockedWebSockets = 0;
  class BlockedWebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readyState = 0;
    binaryType = 'blob';
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    constructor(readonly url: string) {
      counter.blockedWebSockets++;
      setTimeout(() => {
        this.readyState = 3;
        this.onerror?.({ type: 'error' });
        this.onclose?.({ type: 'close', code: 1006, reason: '', wasClean: false });
      }, 20);
    }
    send(): void {
      throw new Error('InvalidStateError: the WebSocket is not open');
    }
    close(): void {
      this.readyState = 3;
    }
  }
  (globalThis as unknown as { WebSocket: unknown }).WebSocket = BlockedWebSocket;
}

/** The web chat page in headless Chromium with WebSockets blocked: the SDK falls back, the page does not change. */
describe('web chat page without WebSockets', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: '100', PARLEY_DEMO_TOKENS_PER_SECOND: '30', PARLEY_WEB_DIR: WEB_DIR });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A fresh profile whose WebSockets are blocked, on the chat page, ready to send. */
  async function openChat(setup: (context: BrowserContext) => Promise<void> = async () => {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 820, height: 620 } });
    await context.addInitScript(blockWebSockets);
    await setup(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(server.url);
    await waitForReady(page);
    return page;
  }

  const transport = (page: Page) => page.getByTestId('transport-banner').getAttribute('data-transport');
  const blockedAttempts = (page: Page) => page.evaluate(() => (globalThis as unknown as { blockedWebSockets: number }).blockedWebSockets);

  it('connects over SSE, streams an answer, stops one, and resumes the running answer after a reload', async () => {
    const page = await openChat();
    expect(await transport(page)).toBe('sse');
    expect(await blockedAttempts(page)).toBeGreaterThanOrEqual(1);

    // Streams, token by token.
    await ask(page, 'where is my order 1234?');
    const first = page.getByTestId('answer').last();
    const seen = await watch(first, finished);
    expect(seen.at(-1)).toEqual({ status: 'completed', text: expect.stringContaining('Order 1234') });
    expect(seen.filter((view) => view.status === 'streaming' && view.text.length > 0).length).toBeGreaterThanOrEqual(2);

    // Stop reaches the worker over a POST.
    await ask(page, 'tell me a long story');
    const stoppedAnswer = page.getByTestId('answer').nth(1);
    await watch(stoppedAnswer, (view) => view.text.length > 40);
    await page.getByRole('button', { name: 'Stop' }).click();
    const stopped = (await watch(stoppedAnswer, finished)).at(-1)!;
    expect(stopped.status).toBe('stopped');
    expect(stopped.text.startsWith(LONG_ANSWER_START)).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
    // At 30 tokens a second a running answer would grow by several words in this time.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await read(stoppedAnswer)).toEqual(stopped);

    // A reload mid-answer: a new SSE session, the text so far at once, then the rest.
    await ask(page, 'tell me a long story');
    const running = page.getByTestId('answer').nth(2);
    const before = (await watch(running, (view) => view.text.length > 150)).at(-1)!;
    expect(before.status).toBe('streaming');
    await page.reload();
    const afterReload = (await watch(running, (view) => view.text.length > 0)).at(-1)!;
    expect(afterReload.status).toBe('streaming');
    expect(afterReload.text.length).toBeGreaterThanOrEqual(before.text.length);
    const final = (await watch(running, finished)).at(-1)!;
    expect(final.status).toBe('completed');
    expect(final.text.startsWith(afterReload.text)).toBe(true);
    expect(await transport(page)).toBe('sse');
    expect(await page.getByTestId('message').allTextContents()).toEqual(['where is my order 1234?', 'tell me a long story', 'tell me a long story']);
    await page.context().close();
  });

  it('connects over long-polling when SSE streams do not get through either', async () => {
    const page = await openChat(async (context) => {
      await context.route('**/v1/rt/stream', (route) => route.abort('connectionfailed'));
    });
    expect(await transport(page)).toBe('long-poll');

    await ask(page, 'where is my order 1234?');
    const final = (await watch(page.getByTestId('answer').last(), finished)).at(-1)!;
    expect(final).toEqual({ status: 'completed', text: expect.stringContaining('Order 1234') });
    await page.context().close();
  });
});
