import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
// A 1x1 transparent PNG.
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

// Typed structurally: the tests' tsconfig has no DOM lib.
interface ElementLike {
  textContent: string | null;
  querySelectorAll(selector: string): { length: number };
}

interface ImageLike {
  complete: boolean;
  naturalWidth: number;
  getAttribute(name: string): string | null;
}

/** An HTTP server that records every request it gets and answers with an image. */
interface ImageHost {
  origin: string;
  requests: string[];
  close(): Promise<void>;
}

async function imageHost(address: string): Promise<ImageHost> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    response.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'no-store' }).end(PIXEL);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return {
    origin: `http://${address}:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One streamed answer of the local model: each `push` goes out as one chunk at once, `end` finishes it. */
interface ScriptedAnswer {
  push(text: string): void;
  end(): void;
}

/**
 * A local OpenAI-compatible model (chat completions, streamed): it echoes the question ("You said: ..."),
 * word by word, unless the test scripted the next answer, which then streams exactly as the test pushes it.
 */
class LocalModel {
  private scripted: Array<(response: ServerResponse, model: string) => void> = [];
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => void this.answer(request, response));
  }

  static async start(): Promise<LocalModel> {
    const model = new LocalModel();
    await new Promise<void>((resolve) => model.server.listen(0, '127.0.0.1', resolve));
    return model;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** The next answer streams what the returned handle pushes. */
  script(): ScriptedAnswer {
    const queued: string[] = [];
    let live: { response: ServerResponse; model: string } | undefined;
    let ended = false;
    const write = (text: string) => live && writeChunk(live.response, live.model, { content: text });
    const finish = () => live && (writeChunk(live.response, live.model, {}, 'stop'), live.response.end('data: [DONE]\n\n'));
    this.scripted.push((response, model) => {
      live = { response, model };
      for (const text of queued) write(text);
      if (ended) finish();
    });
    return {
      push: (text) => (live ? write(text) : queued.push(text)),
      end: () => {
        ended = true;
        finish();
      },
    };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of request) raw += String(chunk);
    const body = JSON.parse(raw) as { model: string; messages: Array<{ role: string; content?: unknown }> };
    response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    writeChunk(response, body.model, { role: 'assistant', content: '' });
    const scripted = this.scripted.shift();
    if (scripted) return scripted(response, body.model);
    const question = String(body.messages.at(-1)?.content ?? '');
    for (const word of `You said: ${question}`.match(/\S+\s*/g) ?? []) {
      writeChunk(response, body.model, { content: word });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    writeChunk(response, body.model, {}, 'stop');
    response.end('data: [DONE]\n\n');
  }
}

function writeChunk(response: ServerResponse, model: string, delta: unknown, finishReason: string | null = null): void {
  const usage = finishReason ? { usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } } : {};
  const chunk = { id: 'chatcmpl-local', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...usage };
  response.write(`data: ${JSON.stringify(chunk)}\n\n`);
}

/**
 * Markdown in the chat page, in headless Chromium against a real server whose model is a local
 * OpenAI-compatible server that echoes the question ("You said: ..."): so what a user writes comes back as
 * the assistant's streamed answer, and both are rendered.
 */
describe('Markdown in the web chat page', () => {
  let model: LocalModel;
  let leak: ImageHost;
  let allowed: ImageHost;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    model = await LocalModel.start();
    // The attacker's host: a different loopback address, so no allow-list entry for 127.0.0.1 can cover it.
    leak = await imageHost('127.0.0.2');
    allowed = await imageHost('127.0.0.1');
    server = await startServer({
      PARLEY_JWT_SECRET: '',
      PARLEY_WEB_DIR: WEB_DIR,
      PARLEY_LLM_BASE_URL: model.baseUrl,
      PARLEY_LLM_API_KEY: 'sk-test',
      PARLEY_LLM_MODEL: 'echo',
      PARLEY_IMAGE_HOSTS: JSON.stringify({ demo: [new URL(allowed.origin).host] }),
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await model?.close();
    await leak?.close();
    await allowed?.close();
  });

  /**
   * A fresh browser profile on the chat page, ready to send; `requests` collects every URL the page asks for,
   * `dialogs` every alert, `deltas` counts the answer deltas it received.
   */
  async function openChat(): Promise<{ page: Page; requests: string[]; dialogs: string[]; deltas: () => number }> {
    const context = await browser.newContext({ viewport: { width: 820, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    let deltas = 0;
    page.on('websocket', (socket) => socket.on('framereceived', (frame) => (deltas += String(frame.payload).includes('"ai.delta"') ? 1 : 0)));
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('textbox', { name: 'Message', exact: true }).isEnabled(), { timeout: 15_000 }).toBe(true);
    return { page, requests, dialogs, deltas: () => deltas };
  }

  async function ask(page: Page, text: string): Promise<void> {
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
  }

  async function answered(page: Page): Promise<void> {
    await expect.poll(() => page.getByTestId('answer').last().getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
  }

  it('serves the tenant image hosts to the pages, and only those', async () => {
    const settings = async (query: string) => {
      const response = await fetch(`${server.url}/v1/web/settings${query}`);
      return { status: response.status, body: (await response.json()) as unknown };
    };
    expect(await settings('?tenant=demo')).toEqual({ status: 200, body: { imageHosts: [new URL(allowed.origin).host] } });
    expect(await settings('?tenant=other')).toEqual({ status: 200, body: { imageHosts: [] } });
    expect(await settings('?tenant=not%20an%20id')).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await settings('')).toMatchObject({ status: 400 });
  });

  it('shows hostile Markdown and HTML inert, in a message and in a streamed answer: nothing runs, nothing leaks', async () => {
    const { page, requests, dialogs } = await openChat();
    const leakUrl = `${leak.origin}/leak?q=secret`;
    const hostile = [
      'Hostile content follows.',
      '<img src=x onerror="window.__pwned = 1; alert(1)">',
      '<script>window.__pwned = 2; alert(2)</script>',
      '[click me](javascript:window.__pwned=3)',
      '<a href="javascript:window.__pwned=4">raw link</a>',
      '<iframe src="javascript:window.__pwned=5"></iframe>',
      '<svg onload="window.__pwned=6"></svg>',
      '[data link](data:text/html,<script>alert(7)</script>)',
      `![leak](${leakUrl})`,
      `![allowed](${allowed.origin}/ok.png)`,
      '[a real link](https://example.com/page)',
    ].join('\n\n');
    await ask(page, hostile);
    await answered(page);
    const conversation = page.getByTestId('conversation');
    const message = page.getByTestId('message').last();
    const answer = page.getByTestId('answer').last();

    // The allowed image loaded in the message and in the answer (so any other image would have loaded by now too).
    const images = conversation.locator('img');
    await expect.poll(() => images.evaluateAll((elements: ImageLike[]) => elements.map((image) => image.complete && image.naturalWidth > 0))).toEqual([true, true]);
    expect(await images.evaluateAll((elements: ImageLike[]) => elements.map((image) => image.getAttribute('src')))).toEqual([`${allowed.origin}/ok.png`, `${allowed.origin}/ok.png`]);
    expect(allowed.requests.length).toBeGreaterThanOrEqual(1);

    // The image to another host is a link: nothing fetched it, neither the page nor anything else.
    expect(leak.requests).toEqual([]);
    expect(requests.filter((url) => url.startsWith(leak.origin) || url.startsWith(`${server.url}/x`))).toEqual([]);
    for (const container of [message, answer]) {
      const link = container.getByRole('link', { name: 'image: leak' });
      expect(await link.getAttribute('href')).toBe(leakUrl);
      expect(await link.getAttribute('target')).toBe('_blank');
    }

    // Raw HTML is text, shown as written; no element came from it.
    for (const container of [message.getByTestId('message-text'), answer.getByTestId('answer-text')]) {
      const text = await container.textContent();
      expect(text).toContain('<img src=x onerror="window.__pwned = 1; alert(1)">');
      expect(text).toContain('<script>window.__pwned = 2; alert(2)</script>');
      expect(text).toContain('<svg onload="window.__pwned=6"></svg>');
    }
    expect(await conversation.locator('script, iframe, svg, object, embed, [onerror], [onload], [style]:not(.md-highlighted span)').count()).toBe(0);

    // No link goes anywhere but the web; the script links are plain text, and clicking them does nothing.
    const hrefs = await conversation.locator('a').evaluateAll((links: ImageLike[]) => links.map((link) => link.getAttribute('href') ?? ''));
    expect(hrefs.filter((href) => !/^https?:\/\//.test(href))).toEqual([]);
    await answer.getByText('click me').click();
    await answer.getByText('data link').click();

    // Web links open in a new tab without access to this page.
    const realLinks = conversation.getByRole('link', { name: 'a real link' });
    expect(await realLinks.count()).toBe(2);
    for (const link of await realLinks.all()) {
      expect(await link.getAttribute('href')).toBe('https://example.com/page');
      expect(await link.getAttribute('target')).toBe('_blank');
      expect((await link.getAttribute('rel'))?.split(' ').sort()).toEqual(['noopener', 'noreferrer']);
    }

    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(leak.requests).toEqual([]);
    await page.context().close();
  });

  it('renders lists, tables and highlighted code; while streaming, unfinished emphasis, tables and fences never show as raw text', async () => {
    const { page, deltas } = await openChat();
    // Every DOM state of the answer's prose (code blocks aside), recorded at each mutation: a table shown
    // first as a paragraph of pipes, or a fence or emphasis marks shown as text, would appear here.
    await page.evaluate(`(() => {
      window.__states = [];
      const conversation = document.querySelector('[data-testid="conversation"]');
      new MutationObserver(() => {
        const answer = [...conversation.querySelectorAll('[data-testid="answer-text"]')].at(-1);
        if (answer) window.__states.push([...answer.querySelectorAll(':not(pre) > :is(p, li, th, td, h1, h2, h3)')].map((element) => element.textContent).join(' '));
      }).observe(conversation, { subtree: true, childList: true, characterData: true });
    })()`);

    const stream = model.script();
    await ask(page, 'show me some Markdown');
    const answer = page.getByTestId('answer').last().getByTestId('answer-text');
    await expect.poll(() => page.getByTestId('answer').count()).toBe(1);
    const shape = () =>
      answer.evaluate((element: ElementLike) => ({
        text: (element.textContent ?? '').replace(/\s+/g, ' ').trim(),
        strong: element.querySelectorAll('strong').length,
        tables: element.querySelectorAll('table').length,
        rows: element.querySelectorAll('tr').length,
        code: element.querySelectorAll('pre code').length,
      }));
    /** Streams `text` as one delta and waits until the page has received and rendered it. */
    const step = async (text: string) => {
      const before = deltas();
      stream.push(text);
      await expect.poll(deltas).toBeGreaterThan(before);
      await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
      return shape();
    };

    expect(await step('Here is **every')).toMatchObject({ text: 'Here is every', strong: 1 });
    expect(await step('thing**:\n\n- one\n- two with `inline')).toMatchObject({ text: 'Here is everything: one two with inline' });
    expect(await step(' code`\n- three\n\n| Plan | Pri')).toMatchObject({ text: 'Here is everything: one two with inline code three', tables: 0 });
    expect(await step('ce |\n|------|---')).toMatchObject({ tables: 0 });
    expect(await step('---:|\n')).toMatchObject({ tables: 1, rows: 1 });
    expect(await step('| Basic | 5 |\n| Pro')).toMatchObject({ tables: 1, rows: 2 });
    expect(await step(' | 20 |\n\n```typescript\nconst greeting')).toMatchObject({ tables: 1, rows: 3, code: 1 });
    await step(': string = "hello";\nfunction greet(name: string) {\n  return `${greeting}, ${name}`;\n}\n```\n\nThe end.');
    stream.end();
    await answered(page);

    expect(await answer.locator('strong').textContent()).toBe('everything');
    expect(await answer.locator('ul > li').allTextContents()).toEqual(['one', 'two with inline code', 'three']);
    expect(await answer.locator('th').allTextContents()).toEqual(['Plan', 'Price']);
    expect(await answer.locator('td').allTextContents()).toEqual(['Basic', '5', 'Pro', '20']);
    // Highlighted: the code's tokens are coloured spans (Shiki loads with the first code block).
    const code = answer.locator('pre code');
    await expect.poll(() => code.getAttribute('class')).toContain('md-highlighted');
    expect(await code.textContent()).toBe('const greeting: string = "hello";\nfunction greet(name: string) {\n  return `${greeting}, ${name}`;\n}');
    expect(await code.locator('span[style*="color"]').count()).toBeGreaterThan(5);

    // No state on the way showed Markdown syntax as text.
    const states = (await page.evaluate('window.__states')) as string[];
    expect(states.length).toBeGreaterThanOrEqual(8); // at least one rendered state per streamed step
    expect(states.filter((text) => /\*\*|\||```|`/.test(text))).toEqual([]);
    await page.context().close();
  });
});
