import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Frame, FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { apiCall } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TENANT = 'acme';
const SITE_USER = 'shopper-7';
// Enough for every page this file opens; the last test spends the rest.
const TOKENS_PER_ADDRESS = 30;

/** What the host page's own script recorded (see fixtures/widget-host.html). */
interface Seen {
  sockets: string[];
  fetches: Array<{ url: string; body: string }>;
  messages: Array<{ origin: string; data: string }>;
}

// Typed structurally: the tests' tsconfig has no DOM lib.
interface BrowserGlobals {
  getComputedStyle(element: unknown): { display: string; color: string; fontFamily: string; backgroundColor: string };
}

/** A small HTTP server for one origin: answers each path with `route`. */
async function serveOrigin(host: string, route: (request: IncomingMessage, response: ServerResponse) => Promise<void>): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}` };
}

function html(response: ServerResponse, body: string): void {
  response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(body);
}

/**
 * The widget on a customer's site in headless Chromium: the site (127.0.0.2) embeds widget.js from the Parley
 * server (127.0.0.1); a third origin (127.0.0.3) plays an ad frame inside the site and a site the key does not allow.
 */
describe('embeddable widget', () => {
  let server: TestServer;
  let browser: Browser;
  let site: { server: Server; origin: string };
  let other: { server: Server; origin: string };
  let admin: string;
  let widgetKey: string;
  let widgetSecret: string;
  /** While set, the site's token endpoint waits for it before it answers. */
  let tokenGate: Promise<void> | undefined;
  let tokenEndpointCalls = 0;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'widget.js')) || !existsSync(join(WEB_DIR, 'widget-frame.html'))) throw new Error(`${WEB_DIR} has no widget build: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    server = await startServer({
      PARLEY_WEB_DIR: WEB_DIR,
      PARLEY_DEMO_TTFT_MS: '100',
      PARLEY_DEMO_TOKENS_PER_SECOND: '30',
      PARLEY_WIDGET_TOKENS_PER_ADDRESS_PER_MINUTE: String(TOKENS_PER_ADDRESS),
    });
    admin = await token('site-admin', { tenant: TENANT, roles: ['admin'] });
    const template = await readFile(join(FIXTURES, 'widget-host.html'), 'utf8');
    const otherFrame = await readFile(join(FIXTURES, 'other-origin-frame.html'), 'utf8');
    const page = (attributes: string, extra = '') => template.replace('__PARLEY__', server.url).replace('__WIDGET_ATTRIBUTES__', attributes).replace('__EXTRA__', extra);
    const widgetAttributes = () => `data-tenant="${TENANT}" data-widget-key="${widgetKey}" data-theme="accent:#0f766e; accent-text:#ffffff" data-open="true"`;
    other = await serveOrigin('127.0.0.3', async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (path === '/ad.html') return html(response, otherFrame);
      if (path === '/site.html') return html(response, page(widgetAttributes()));
      response.writeHead(404).end();
    });
    site = await serveOrigin('127.0.0.2', async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      if (url.pathname === '/guest.html') return html(response, page(widgetAttributes()));
      if (url.pathname === '/verified.html') {
        const userId = url.searchParams.get('user') ?? '';
        return html(response, page(`${widgetAttributes()} data-user-id="${userId}" data-user-hash="${url.searchParams.get('hash') ?? ''}"`));
      }
      if (url.pathname === '/signed-in.html') return html(response, page(`${widgetAttributes()} data-token-endpoint="/parley-token"`, `<iframe title="Ad" src="${other.origin}/ad.html"></iframe>`));
      if (url.pathname === '/parley-token' && request.method === 'POST') {
        // The site's backend: it knows its signed-in user and mints a Parley token with the server API.
        tokenEndpointCalls++;
        await tokenGate;
        const minted = await apiCall(server, admin, 'POST', '/tokens', { userId: SITE_USER });
        response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: minted.body.token }));
        return;
      }
      response.writeHead(404).end();
    });
    const created = await apiCall(server, admin, 'POST', '/widget-keys', { name: 'shop', allowedOrigins: [site.origin] });
    expect(created.status).toBe(201);
    widgetKey = created.body.widgetKey.key;
    const secret = await apiCall(server, admin, 'POST', '/widget-secret');
    expect(secret.status).toBe(200);
    widgetSecret = secret.body.secret;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    for (const origin of [site, other]) if (origin) await new Promise((resolve) => origin.server.close(resolve));
    await server?.stop();
  });

  async function openSite(url: string): Promise<{ page: Page; chat: FrameLocator }> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(url);
    return { page, chat: page.frameLocator('iframe[title="Chat"]') };
  }

  async function waitForReady(chat: FrameLocator): Promise<void> {
    await expect.poll(() => chat.getByRole('textbox', { name: 'Message', exact: true }).isEnabled().catch(() => false), { timeout: 15_000 }).toBe(true);
  }

  async function ask(chat: FrameLocator, question: string): Promise<void> {
    await chat.getByRole('textbox', { name: 'Message', exact: true }).fill(question);
    await chat.getByRole('button', { name: 'Send' }).click();
  }

  /** The answer's status and text at each change until it finished. */
  async function watchAnswer(chat: FrameLocator): Promise<Array<{ status: string | null; text: string }>> {
    const answer = chat.getByTestId('answer').last();
    const seen: Array<{ status: string | null; text: string }> = [];
    const deadline = Date.now() + 20_000;
    for (;;) {
      const view = (await answer.count()) > 0 ? { status: await answer.getAttribute('data-status'), text: (await answer.getByTestId('answer-text').textContent()) ?? '' } : undefined;
      if (view && (seen.length === 0 || seen.at(-1)!.text !== view.text || seen.at(-1)!.status !== view.status)) seen.push(view);
      if (view && view.status !== 'streaming') return seen;
      if (Date.now() > deadline) throw new Error(`the answer never finished; seen: ${JSON.stringify(seen.slice(-3))}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Calls the guest-token route from `page` (its origin is the request's Origin); the status, Retry-After and body. */
  function mintFrom(page: Page, body: Record<string, unknown>) {
    return page.evaluate(
      async ({ url, body }) => {
        const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        return { status: response.status, retryAfter: response.headers.get('Retry-After'), body: (await response.json()) as { error?: { code: string }; userId?: string } };
      },
      { url: `${server.url}/v1/widget/token`, body },
    );
  }

  it('runs the chat in an iframe of Parley: the site sees no token and no WebSocket, its CSS does not reach in, answers stream, the guest is kept', async () => {
    const { page, chat } = await openSite(`${site.origin}/guest.html`);
    await waitForReady(chat);
    const user = await chat.getByTestId('user').textContent();
    expect(user).toMatch(/^guest-[0-9a-f]{32}$/);
    await ask(chat, 'where is my order 1234?');
    const seen = await watchAnswer(chat);
    const final = seen.at(-1)!;
    expect(final).toEqual({ status: 'completed', text: expect.stringContaining('Order 1234') });
    const partials = seen.filter((view) => view.status === 'streaming' && view.text.length > 0 && view.text !== final.text);
    expect(new Set(partials.map((view) => view.text)).size).toBeGreaterThanOrEqual(2);

    // The site's stylesheet hides bubbles and paints everything red on yellow: inside the frame nothing of it applies.
    const bubble = chat.getByTestId('message').first().locator('.bubble');
    const style = await bubble.evaluate((element) => {
      const computed = (globalThis as unknown as BrowserGlobals).getComputedStyle(element);
      return { display: computed.display, color: computed.color, fontFamily: computed.fontFamily };
    });
    expect(style.display).not.toBe('none');
    expect(style.color).not.toBe('rgb(255, 0, 0)');
    expect(style.fontFamily).not.toContain('Comic');
    // The theme's accent reached the frame's header.
    expect(await chat.locator('.header').evaluate((element) => (globalThis as unknown as BrowserGlobals).getComputedStyle(element).backgroundColor)).toBe('rgb(15, 118, 110)');

    // The site's wrapped WebSocket and fetch saw nothing, and no message it received carries a token.
    const recorded = (await page.evaluate('window.seen')) as Seen;
    expect(recorded.sockets).toEqual([]);
    expect(recorded.fetches).toEqual([]);
    expect(recorded.messages.length).toBeGreaterThan(0); // the frame's ready and token requests
    for (const message of recorded.messages) {
      expect(message.origin).toBe(server.url);
      expect(message.data).not.toMatch(/eyJ|token"/);
    }

    // The launcher closes and opens the panel.
    await page.getByRole('button', { name: 'Close chat' }).click();
    await expect.poll(() => page.locator('iframe[title="Chat"]').isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Open chat' }).click();
    await expect.poll(() => page.locator('iframe[title="Chat"]').isVisible()).toBe(true);

    // A reload (a new page of the site) continues as the same guest, in the same conversation.
    await page.reload();
    await waitForReady(chat);
    expect(await chat.getByTestId('user').textContent()).toBe(user);
    await expect.poll(() => chat.getByTestId('message').first().textContent()).toContain('where is my order 1234?');

    // The support desk works inside the frame too: no agent is online, so the guest waits in the queue.
    await chat.getByTestId('handoff-button').click();
    await expect.poll(() => chat.getByTestId('queue-position').textContent(), { timeout: 15_000 }).toMatch(/number 1 in the queue/i);
    await page.context().close();
  });

  it("takes the site's token from its endpoint, and ignores a token that another origin's frame posts to it", async () => {
    let release!: () => void;
    tokenGate = new Promise((resolve) => (release = resolve));
    const callsBefore = tokenEndpointCalls;
    const { page, chat } = await openSite(`${site.origin}/signed-in.html`);
    // The frame asked the site for a token; the site's endpoint is holding its answer.
    await expect.poll(() => tokenEndpointCalls).toBe(callsBefore + 1);
    const recorded = (await page.evaluate('window.seen')) as Seen;
    const request = recorded.messages.map((message) => JSON.parse(message.data) as { type?: string; requestId?: string }).find((data) => data.type === 'token-request');
    expect(request?.requestId).toBeTruthy();
    // The ad frame (127.0.0.3) knows the request id and answers first, with a valid token of another user.
    const ad = page.frames().find((frame: Frame) => frame.url().startsWith(other.origin));
    expect(ad).toBeDefined();
    const mallory = await token('mallory', { tenant: TENANT });
    const reached = await ad!.evaluate(
      ({ requestId, mallory }) => (globalThis as unknown as { postToSiblings(message: unknown): number }).postToSiblings({ channel: 'parley-widget', type: 'token', requestId, token: mallory }),
      { requestId: request!.requestId!, mallory },
    );
    expect(reached).toBe(2); // the ad frame itself and the widget's frame
    release();
    tokenGate = undefined;
    await waitForReady(chat);
    expect(await chat.getByTestId('user').textContent()).toBe(SITE_USER);
    await ask(chat, 'hello');
    expect((await watchAnswer(chat)).at(-1)!.status).toBe('completed');
    // The conversation is the site user's, as the server sees it.
    const conversations = await apiCall(server, await token(SITE_USER, { tenant: TENANT }), 'GET', '/conversations');
    expect(conversations.status).toBe(200);
    expect(conversations.body.conversations.length).toBe(1);
    expect(((await page.evaluate('window.seen')) as Seen).sockets).toEqual([]);
    await page.context().close();
  });

  it('signs in a user the site vouches for with the HMAC of the id, and refuses a wrong one', async () => {
    const userId = 'customer-42';
    const hash = createHmac('sha256', widgetSecret).update(userId).digest('hex');
    const good = await openSite(`${site.origin}/verified.html?user=${userId}&hash=${hash}`);
    await waitForReady(good.chat);
    expect(await good.chat.getByTestId('user').textContent()).toBe(userId);
    await good.page.context().close();

    const wrong = createHmac('sha256', 'not-the-secret').update(userId).digest('hex');
    const bad = await openSite(`${site.origin}/verified.html?user=${userId}&hash=${wrong}`);
    await expect.poll(() => bad.chat.getByTestId('widget-problem').textContent()).toContain('forbidden');
    // The route says the same to the site's page directly.
    const direct = await mintFrom(bad.page, { widgetKey, userId, userHash: wrong });
    expect(direct.status).toBe(403);
    expect(direct.body.error?.code).toBe('forbidden');
    await bad.page.context().close();
  });

  it('does not run on a site its key does not allow: the frame is refused and so is the token route', async () => {
    const { page } = await openSite(`${other.origin}/site.html`);
    // frame-ancestors: Chromium replaces the frame's page with its error page.
    await expect.poll(() => page.frames().some((frame: Frame) => frame.url().startsWith('chrome-error://'))).toBe(true);
    expect(page.frames().some((frame: Frame) => frame.url().startsWith(`${server.url}/widget/frame`))).toBe(false);
    const refused = await mintFrom(page, { widgetKey });
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('forbidden');
    // Claiming the allowed site as the embedding origin does not help: the browser's Origin header wins.
    const claimed = await mintFrom(page, { widgetKey, embedOrigin: site.origin });
    expect(claimed.status).toBe(403);
    await page.context().close();
  });

  it('rate-limits guest tokens per address, with Retry-After readable by the page', async () => {
    const { page } = await openSite(`${site.origin}/guest.html`);
    let limited: Awaited<ReturnType<typeof mintFrom>> | undefined;
    for (let attempt = 0; attempt <= TOKENS_PER_ADDRESS && !limited; attempt++) {
      const answer = await mintFrom(page, { widgetKey });
      if (answer.status === 429) limited = answer;
      else expect(answer.status).toBe(201);
    }
    expect(limited?.body.error?.code).toBe('rate_limited');
    expect(Number(limited?.retryAfter)).toBeGreaterThanOrEqual(1);
    await page.context().close();
  });
});
