import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { apiCall } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
const CLI = join(ROOT, 'packages/server/dist/cli.js');

/** The chat page shows an answer's knowledge-base sources as numbered links (demo model, no network). */
describe('cited answers on the web chat page', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    // The generated development secret, as with `npm start`: the page signs in as a guest of tenant demo.
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: '20', PARLEY_DEMO_TOKENS_PER_SECOND: '200', PARLEY_WEB_DIR: WEB_DIR });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('answers a question the documents answer and lists the cited passage as a numbered link', async () => {
    // A key made the way an operator would, through the running server.
    const env = { ...process.env, PARLEY_DATA_DIR: server.dataDir, PARLEY_JWT_SECRET: '', DATABASE_URL: '' };
    const key = (await promisify(execFile)(process.execPath, [CLI, 'apikey', 'create', '--tenant', 'demo', '--scopes', 'knowledge:write'], { env })).stdout.trim();
    const created = await apiCall(server, key, 'POST', '/knowledge/documents', {
      title: 'Kettle care',
      url: 'https://help.example/kettles',
      content: '# Kettle care\n\n## Descaling\nDescale the kettle every four weeks with white vinegar and rinse it twice.',
    });
    await eventually(async () => expect((await apiCall(server, key, 'GET', `/knowledge/documents/${created.body.document.id}`)).body.document.status).toBe('indexed'));

    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('textbox', { name: 'Message', exact: true }).isEnabled(), { timeout: 15_000 }).toBe(true);
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('How often should I descale my kettle?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.getByTestId('answer').last();
    await expect.poll(() => answer.getAttribute('data-status'), { timeout: 15_000 }).toBe('completed');
    expect(await answer.getByTestId('answer-text').textContent()).toContain('every four weeks with white vinegar');
    const source = answer.getByTestId('answer-source');
    expect(await source.count()).toBe(1);
    expect(await source.getAttribute('value')).toBe('1');
    const link = source.getByRole('link', { name: 'Kettle care — Kettle care > Descaling' });
    expect(await link.getAttribute('href')).toBe('https://help.example/kettles');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
  });
});
