import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { apiCall as call } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const WEB_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'packages/web/dist');
// A 2x3 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR42mNkYPhfz8DAwMAAAA4AAf+I2GMAAAAASUVORK5CYII=', 'base64');

// Typed structurally: the tests' tsconfig has no DOM lib.
interface ImageLike {
  naturalWidth: number;
  naturalHeight: number;
}

/** The chat page in headless Chromium: an image sent to the assistant, shown in the conversation and described by the demo model. */
describe('chat page attachments', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: '0', PARLEY_DEMO_TOKENS_PER_SECOND: '1000', PARLEY_WEB_DIR: WEB_DIR });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('sends an image the user picks, shows it through its signed link, and the assistant describes its type and size; quick replies answer with a click', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('textbox', { name: 'Message', exact: true }).isEnabled(), { timeout: 15_000 }).toBe(true);
    await page.getByTestId('attach-input').setInputFiles({ name: 'screen.png', mimeType: 'image/png', buffer: PNG });
    const image = page.getByTestId('message-image').last();
    await expect.poll(() => image.evaluate((element: ImageLike) => `${element.naturalWidth}x${element.naturalHeight}`)).toBe('2x3');
    expect(await image.getAttribute('src')).toMatch(/\/v1\/files\/demo\/.+\?expires=\d+&signature=/);
    await expect.poll(() => page.getByTestId('answer').last().getByTestId('answer-text').textContent()).toContain(`I received a PNG image of ${PNG.length} bytes, 2x3 pixels.`);

    // A backend offers buttons in the same conversation; the user's click is a message the assistant answers.
    const user = (await page.getByTestId('user').textContent())!.trim();
    const conversationId = await page.evaluate((key) => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem(key), `parley.conversation.${user}`);
    const admin = ((await (await fetch(`${server.url}/v1/dev/token?user=admin&role=admin`)).json()) as { token: string }).token;
    const key = (await call(server, admin, 'POST', '/keys', { name: 'bot', scopes: ['messages:write'] })).body.key as string;
    const offer = { type: 'parts', parts: [{ type: 'text', text: 'What is it about?' }, { type: 'quick_replies', options: [{ id: 'ship', label: 'Shipping' }, { id: 'ret', label: 'Returns' }] }] };
    expect((await call(server, key, 'POST', `/conversations/${conversationId}/messages`, { content: offer, sender: { kind: 'bot', id: 'helper' } })).status).toBe(201);
    await page.getByRole('group', { name: 'Quick replies' }).getByRole('button', { name: 'Shipping' }).click();
    await expect.poll(() => page.getByText('[chose "Shipping"]').count()).toBe(1);
    await expect.poll(() => page.getByTestId('answer').last().getByTestId('answer-text').textContent()).toContain('Standard shipping takes 2 to 4 business days');
  });
});
