import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');

/**
 * The customer's side of the support desk on the chat page, in headless Chromium; the agent is a raw
 * protocol client, so that this test covers the page alone (test/browser/support-desk.test.ts drives both
 * pages): the queue, the agent joining and typing, the agent's messages, the customer's typing, the rating
 * prompt, and the assistant answering again after the agent hands back.
 */
describe('the chat page at the support desk', () => {
  let server: TestServer;
  let browser: Browser;
  const agents: RawClient[] = [];

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`${WEB_DIR} has no index.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_WEB_DIR: WEB_DIR, PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '300', PARLEY_SUPPORT_ROUTE_INTERVAL_MS: '200' });
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const agent of agents) agent.close();
    await browser?.close();
    await server?.stop();
  });

  async function agent(user: string, name: string): Promise<RawClient> {
    const response = await fetch(`${server.url}/v1/dev/token?${new URLSearchParams({ user, role: 'agent', name }).toString()}`);
    const { token } = (await response.json()) as { token: string };
    const client = await RawClient.connect(server.wsUrl, token);
    agents.push(client);
    return client;
  }

  /** The chat page of `user`; `drop` (when given) decides which of the server's WebSocket frames the page never gets. */
  async function openChat(user: string, drop?: (frame: string) => boolean): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 820, height: 720 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    if (drop) {
      await page.routeWebSocket(/\/v1\/ws/, (socket) => {
        const upstream = socket.connectToServer();
        upstream.onMessage((message) => {
          if (!(typeof message === 'string' && drop(message))) socket.send(message);
        });
      });
    }
    await page.goto(`${server.url}/?user=${user}`);
    await expect.poll(() => input(page).isEnabled(), { timeout: 20_000 }).toBe(true);
    return page;
  }

  const input = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true });

  async function ask(page: Page, question: string): Promise<void> {
    const answers = await page.getByTestId('answer').count();
    await input(page).fill(question);
    await input(page).press('Enter');
    await expect.poll(() => page.getByTestId('answer').count(), { timeout: 20_000 }).toBe(answers + 1);
    await expect.poll(() => page.getByTestId('answer').last().getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
  }

  it('queues, shows the agent joining, typing and writing, asks for a rating, and hands back to the assistant', async () => {
    const page = await openChat('ada');
    await ask(page, 'hello');
    const conversationId = (await page.evaluate('localStorage.getItem("parley.conversation.ada")')) as string;

    // No agent is online: asking for a person puts the customer in the queue, first in line.
    await page.getByTestId('handoff-button').click();
    await expect.poll(() => page.getByTestId('queue-position').textContent()).toMatch(/^You are number 1 in the queue/);
    expect(await page.getByTestId('handoff-requested').textContent()).toBe('You asked to talk to a person.');
    expect(await page.getByTestId('handoff-button').count()).toBe(0);

    // An agent comes online and routing assigns the conversation to her.
    const dana = await agent('dana', 'Dana');
    await dana.call('agent.status', { status: 'online' });
    await expect.poll(() => page.getByTestId('agent-joined').textContent(), { timeout: 20_000 }).toBe('Agent Dana joined');
    await expect.poll(() => page.getByTestId('queue-position').count()).toBe(0);
    await dana.call('subscribe', { conversationId, since: 0 });

    // Her typing and her message (Markdown, as hers); the customer's typing reaches her.
    await dana.call('typing', { conversationId, active: true });
    await expect.poll(() => page.getByTestId('agent-typing').textContent()).toBe('Agent Dana is typing…');
    await dana.call('message.send', { conversationId, clientMsgId: 'dana-1', content: { type: 'text', text: 'Hello **Ada**, how can I help?' } });
    const fromDana = page.locator('[data-testid="message"][data-from="agent"]');
    await expect.poll(() => fromDana.locator('strong').textContent()).toBe('Ada');
    expect(await fromDana.getAttribute('aria-label')).toBe('Message from Agent Dana');
    await expect.poll(() => page.getByTestId('agent-typing').count()).toBe(0);
    await input(page).pressSequentially('my parcel', { delay: 20 });
    await dana.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'typing' && frame.signal.actor.id === 'ada' && frame.signal.data.active === true);
    await input(page).press('Enter');
    await dana.waitFor((frame) => frame.push === 'event' && frame.event.type === 'message.created' && frame.event.actor.id === 'ada');

    // Resolved: one rating, 4 of 5 with a comment; then the prompt is gone.
    await dana.call('support.resolve', { conversationId });
    await expect.poll(() => page.getByTestId('conversation-resolved').textContent()).toBe('Resolved');
    const prompt = page.getByRole('group', { name: /rate this conversation/i });
    await prompt.getByRole('radio', { name: '4' }).check();
    await prompt.getByRole('textbox').fill('Quick and kind');
    await prompt.getByRole('button', { name: 'Send rating' }).click();
    await expect.poll(() => page.getByTestId('rating-sent').textContent()).toBe('Rated 4 of 5. Thank you!');
    expect(await page.getByTestId('rating-prompt').count()).toBe(0);
    const rated = await dana.waitFor((frame) => frame.push === 'event' && frame.event.type === 'csat.submitted');
    expect(rated.event.data).toMatchObject({ resolution: 1, rating: 4, comment: 'Quick and kind', agentId: 'dana' });

    // Reopened and handed back: the assistant answers again, and the customer can ask for a person again.
    await dana.call('support.reopen', { conversationId });
    await dana.call('support.handBack', { conversationId });
    await expect.poll(() => page.getByTestId('handed-back').textContent()).toBe('The assistant answers again.');
    await expect.poll(() => page.getByTestId('handoff-button').count()).toBe(1);
    await ask(page, 'where is my order 1234?');
    expect(await page.getByTestId('answer').last().getByTestId('answer-text').textContent()).toContain('Order 1234');
    await dana.call('agent.status', { status: 'offline' });
    await page.context().close();
  });

  it("shows the server's refusal of a second rating of the same resolution", async () => {
    // The rating from the customer's other tab never reaches this page, which still asks for one.
    const page = await openChat('bo', (frame) => frame.includes('"csat.submitted"'));
    await ask(page, 'hello');
    const conversationId = (await page.evaluate('localStorage.getItem("parley.conversation.bo")')) as string;
    const sam = await agent('sam', 'Sam');
    await page.getByTestId('handoff-button').click();
    await expect.poll(() => page.getByTestId('queue-position').count()).toBe(1);
    await sam.call('support.claim', { conversationId });
    await expect.poll(() => page.getByTestId('agent-joined').textContent()).toBe('Agent Sam joined');
    await sam.call('support.resolve', { conversationId });
    const prompt = page.getByTestId('rating-prompt');
    await expect.poll(() => prompt.count()).toBe(1);

    const otherTab = await RawClient.connect(server.wsUrl, await devToken('bo'));
    agents.push(otherTab);
    expect(await otherTab.call('support.rate', { conversationId, rating: 5 })).toMatchObject({ seq: expect.any(Number) });
    await prompt.getByRole('radio', { name: '2' }).check();
    await prompt.getByRole('button', { name: 'Send rating' }).click();
    await expect.poll(() => page.getByTestId('rating-error').textContent()).toMatch(/rated/i);
    expect(await prompt.getByRole('button', { name: 'Send rating' }).isEnabled()).toBe(true);
    await page.context().close();
  });

  async function devToken(user: string): Promise<string> {
    const response = await fetch(`${server.url}/v1/dev/token?user=${user}`);
    return ((await response.json()) as { token: string }).token;
  }
});
