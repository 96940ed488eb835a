import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { startServer, type TestServer } from '../support/server.js';


/** The API reference at /docs/api renders the server's own OpenAPI document, with nothing fetched from elsewhere. */
describe('API reference page', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    server = await startServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('lists every route group and opens a route with its request body', async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url)) foreign.push(request.url());
    });
    await page.goto(`${server.url}/docs/api`);
    await page.getByText('Parley server API').first().waitFor({ timeout: 15_000 });
    for (const tag of ['conversations', 'members', 'messages', 'users', 'tokens', 'keys', 'webhooks']) {
      await page.locator(`h3[data-tag="${tag}"]`).waitFor();
    }
    const post = page.locator('.opblock-post').filter({ hasText: '/v1/api/conversations/{id}/messages' }).first();
    await post.locator('.opblock-summary').click();
    await post.getByText('Idempotency-Key', { exact: false }).first().waitFor();
    expect(foreign).toEqual([]);
    await page.close();
  });
});
