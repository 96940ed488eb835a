import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_DIR = join(ROOT, 'packages/web/dist');
const UPDATE_DOCS = process.env.PARLEY_UPDATE_SCREENSHOTS === '1';
const TENANT = 'demo';
const CONSOLE = { width: 1280, height: 800 };

/** Saves a screenshot under test-results/ (and docs/screenshots/ with PARLEY_UPDATE_SCREENSHOTS=1). */
async function screenshot(page: Page, name: string): Promise<void> {
  const paths = [join(ROOT, 'test-results', `${name}.png`), ...(UPDATE_DOCS ? [join(ROOT, 'docs/screenshots', `${name}.png`)] : [])];
  for (const path of paths) {
    await mkdir(dirname(path), { recursive: true });
    await page.screenshot({ path });
  }
}

/** The support desk in headless Chromium: a customer on the chat page, an agent (and an admin) in the console at /agent. */
describe('support desk', () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'agent.html'))) throw new Error(`${WEB_DIR} has no agent.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    // The generated development secret (no PARLEY_JWT_SECRET) turns on /v1/dev/token, which both pages sign in with.
    server = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '200', PARLEY_WEB_DIR: WEB_DIR });
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  async function newPage(viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    return page;
  }

  async function devToken(user: string, role: 'user' | 'agent' | 'admin', name?: string): Promise<string> {
    const query = new URLSearchParams({ user, tenant: TENANT, role, ...(name ? { name } : {}) });
    const response = await fetch(`${server.url}/v1/dev/token?${query.toString()}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { token: string }).token;
  }

  /** Calls the support desk's REST routes as `token`. */
  async function api(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${server.url}/v1/api/support${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>) };
  }

  /** Signs in at /agent with the development form. */
  async function signIn(page: Page, user: string, name: string, role: 'agent' | 'admin'): Promise<void> {
    await page.goto(`${server.url}/agent`);
    await page.getByLabel('User id').fill(user);
    await page.getByLabel('Display name').fill(name);
    await page.getByRole('radio', { name: role }).check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('agent-user').textContent()).toContain(name);
  }

  it('hands a customer to an agent: queue, assignment, typing both ways, a private note, a canned reply, resolve and a rating', async () => {
    const admin = await devToken('boss', 'admin', 'Boss');
    expect((await api(admin, 'PUT', '/agents/dana', { name: 'Dana', teams: [], skills: [], capacity: 5 })).status).toBe(200);
    expect((await api(admin, 'PUT', '/canned/thanks', { team: null, shortcut: '/thanks', text: 'Thanks for waiting, {{customer.name}}!' })).status).toBe(200);

    // The customer talks to the assistant, then asks for a person; no agent is online yet, so it waits in the queue.
    const customer = await newPage({ width: 820, height: 720 });
    await customer.goto(`${server.url}/?user=ada`);
    const customerInput = customer.getByRole('textbox', { name: 'Message', exact: true });
    await expect.poll(() => customerInput.isEnabled(), { timeout: 20_000 }).toBe(true);
    await customerInput.fill('where is my order 1234?');
    await customerInput.press('Enter');
    await expect.poll(() => customer.getByTestId('answer').last().getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
    await screenshot(customer, 'customer-1-assistant');
    await customer.getByTestId('handoff-button').click();
    await expect.poll(() => customer.getByTestId('handoff-requested').count()).toBe(1);
    await expect.poll(() => customer.getByTestId('queue-position').textContent(), { timeout: 20_000 }).toContain('You are number 1 in the queue');
    await screenshot(customer, 'customer-2-queued');

    // The agent signs in and goes online.
    const agent = await newPage(CONSOLE);
    await agent.goto(`${server.url}/agent`);
    await screenshot(agent, 'agent-sign-in');
    await signIn(agent, 'dana', 'Dana', 'agent');
    await expect.poll(() => agent.getByTestId('status-online').getAttribute('aria-checked')).toBe('true');

    // The conversation reaches the agent: routing gives it to Dana, or it waits in the queue for her claim.
    // The Team view holds it either way (Dana serves the default inbox), so the test does not race routing.
    await expect.poll(async () => Number(await agent.getByTestId('inbox-count-mine').textContent()) + Number(await agent.getByTestId('inbox-count-queue').textContent()), { timeout: 20_000 }).toBeGreaterThan(0);
    await agent.getByTestId('inbox-view-team').click();
    await expect.poll(() => agent.getByTestId('inbox-item').count()).toBe(1);
    await screenshot(agent, 'agent-inbox');
    await agent.getByTestId('inbox-item').first().click();
    await expect.poll(() => agent.getByTestId('timeline').textContent()).toContain('where is my order 1234?');
    // Queued: claim it. Routed to Dana meanwhile: opening it accepted it, and there is nothing to claim.
    if ((await agent.getByTestId('action-claim').count()) > 0) await agent.getByTestId('action-claim').click();
    await expect.poll(() => agent.getByTestId('conversation-state').textContent()).toContain('you');
    await expect.poll(() => customer.getByTestId('agent-joined').last().textContent()).toContain('Dana joined');

    // Typing, agent to customer and back.
    const composer = agent.getByTestId('composer-input');
    await composer.pressSequentially('Hello Ada', { delay: 20 });
    await expect.poll(() => customer.getByTestId('agent-typing').textContent()).toContain('Dana is typing');
    await screenshot(customer, 'customer-3-agent-typing');
    await customerInput.pressSequentially('my parcel is late', { delay: 20 });
    await expect.poll(() => agent.getByTestId('typing-indicator').textContent()).toMatch(/ada is typing/i);
    await screenshot(agent, 'agent-conversation');
    await composer.press('Enter');
    await expect.poll(() => customer.getByTestId('conversation').textContent()).toContain('Hello Ada');
    await screenshot(customer, 'customer-4-agent-reply');
    await customerInput.press('Enter');
    await expect.poll(() => agent.getByTestId('timeline').textContent()).toContain('my parcel is late');

    // A private note: the agent sees it; the customer never does, also not after later messages.
    await agent.getByTestId('composer-note').click();
    await composer.fill('VIP customer: offer free shipping');
    await composer.press('Enter');
    await expect.poll(() => agent.getByTestId('note').last().getAttribute('data-status')).toBe('sent');
    await screenshot(agent, 'agent-note');
    await agent.getByTestId('composer-reply').click();

    // A canned reply, with the customer's name filled in by the server.
    await composer.fill('/thanks');
    await expect.poll(() => agent.getByTestId('canned-option').count()).toBe(1);
    await screenshot(agent, 'agent-canned');
    await composer.press('Enter');
    await expect.poll(() => composer.inputValue()).toMatch(/^Thanks for waiting, .+!$/);
    await composer.press('Enter');
    await expect.poll(() => customer.getByTestId('conversation').textContent()).toMatch(/Thanks for waiting/);
    expect(await customer.locator('body').textContent()).not.toContain('VIP customer');

    // Resolve; the customer rates it 4 of 5 with a comment, and the agent sees the rating.
    await agent.getByTestId('action-resolve').click();
    await expect.poll(() => agent.getByTestId('conversation-state').textContent()).toContain('Resolved');
    const rating = customer.getByTestId('rating-prompt');
    await rating.getByRole('radio', { name: '4', exact: true }).check();
    await rating.getByRole('textbox', { name: 'Comment' }).fill('Quick and kind');
    await screenshot(customer, 'customer-5-rating-prompt');
    await rating.getByRole('button', { name: 'Send rating' }).click();
    await expect.poll(() => customer.getByTestId('rating-sent').textContent()).toContain('Rated 4 of 5');
    await screenshot(customer, 'customer-6-rated');
    await expect.poll(() => agent.getByTestId('timeline').textContent()).toContain('Rated 4 of 5: “Quick and kind”');
    await screenshot(agent, 'agent-resolved');
    expect(await customer.locator('body').textContent()).not.toContain('VIP customer');
  });

  it('lets an admin manage teams with business hours, agents and canned replies in the console', async () => {
    const page = await newPage(CONSOLE);
    await signIn(page, 'olga', 'Olga', 'admin');
    await page.getByTestId('admin-section').click();

    await page.getByTestId('new-team').click();
    const teamForm = page.getByTestId('team-form');
    await teamForm.getByLabel('Id', { exact: true }).fill('billing');
    await teamForm.getByLabel('Name', { exact: true }).fill('Billing');
    await teamForm.getByLabel(/^Skills/).fill('invoices');
    await teamForm.getByTestId('hours-enabled').check();
    await teamForm.getByLabel('Time zone').fill('Europe/Berlin');
    await teamForm.getByLabel('Friday closes').fill('15:00');
    await teamForm.getByRole('button', { name: 'Save team' }).click();
    await expect.poll(() => page.getByTestId('team-row').allTextContents()).toEqual([expect.stringContaining('Fri 09:00–15:00')]);

    await page.getByTestId('admin-tab-agents').click();
    await page.getByTestId('new-agent').click();
    const agentForm = page.getByTestId('agent-form');
    await agentForm.getByLabel('User id').fill('sam');
    await agentForm.getByLabel('Display name').fill('Sam');
    await agentForm.getByRole('checkbox', { name: 'Billing' }).check();
    await agentForm.getByLabel(/^Capacity/).fill('3');
    await agentForm.getByRole('button', { name: 'Save agent' }).click();
    await expect.poll(() => page.getByTestId('agent-row').allTextContents()).toContainEqual(expect.stringContaining('sam'));

    await page.getByTestId('admin-tab-canned').click();
    await page.getByTestId('new-canned').click();
    const cannedForm = page.getByTestId('canned-form');
    await cannedForm.getByLabel('Shortcut', { exact: true }).fill('/refund');
    await cannedForm.getByRole('combobox').selectOption('billing');
    await cannedForm.getByLabel('Text', { exact: true }).fill('Hi {{customer.name}}, your refund is on its way.');
    await cannedForm.getByRole('button', { name: 'Save reply' }).click();
    await expect.poll(() => page.getByTestId('canned-row').allTextContents()).toContainEqual(expect.stringContaining('/refund'));
    await screenshot(page, 'agent-admin');

    // The report counts the rating of the first test (same server): CSAT 4 of 5 from one rating.
    await page.getByTestId('admin-tab-report').click();
    await expect.poll(() => page.getByTestId('report').textContent()).toContain('4.00 of 5 (1)');
    await screenshot(page, 'agent-report');

    // What the console saved is what the server API has.
    const token = await devToken('olga', 'admin');
    const teams = (await api(token, 'GET', '/teams')).json.teams as Array<{ id: string; skills: string[]; businessHours: { timeZone: string; days: Record<string, string[][]> } }>;
    expect(teams).toEqual([expect.objectContaining({ id: 'billing', skills: ['invoices'] })]);
    expect(teams[0]?.businessHours.timeZone).toBe('Europe/Berlin');
    expect(teams[0]?.businessHours.days['5']).toEqual([['09:00', '15:00']]);
    expect(teams[0]?.businessHours.days['0']).toEqual([]);
    const agents = (await api(token, 'GET', '/agents')).json.agents as Array<{ userId: string; teams: string[]; capacity: number }>;
    expect(agents).toContainEqual(expect.objectContaining({ userId: 'sam', teams: ['billing'], capacity: 3 }));
  });

  // Runs last: it adds a team, which the admin test above would list.
  it('tells a customer queued outside business hours when the team opens, and the assistant keeps answering', async () => {
    const admin = await devToken('boss', 'admin', 'Boss');
    // No opening hours at all: closed now and all week.
    expect((await api(admin, 'PUT', '/teams/night', { name: 'Night', businessHours: { timeZone: 'UTC', days: {} } })).status).toBe(200);
    const customer = await newPage({ width: 820, height: 720 });
    await customer.goto(`${server.url}/?user=nell`);
    const input = customer.getByRole('textbox', { name: 'Message', exact: true });
    await expect.poll(() => input.isEnabled(), { timeout: 20_000 }).toBe(true);
    await customer.getByTestId('handoff-button').click();
    await expect.poll(() => customer.getByTestId('handoff-requested').count()).toBe(1);

    // The backend moves it to the night team's queue (from the default queue, or from Dana if routing was first).
    const listed = await fetch(`${server.url}/v1/api/conversations`, { headers: { Authorization: `Bearer ${await devToken('nell', 'user')}` } });
    const id = ((await listed.json()) as { conversations: Array<{ id: string }> }).conversations[0]!.id;
    const transferred = await fetch(`${server.url}/v1/api/conversations/${id}/transfer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ toTeam: 'night' }),
    });
    expect(transferred.status).toBe(200);
    await expect.poll(() => customer.getByTestId('queue-position').textContent(), { timeout: 20_000 }).toMatch(/The team is away until .+\. You are number 1 in the queue; the assistant answers meanwhile\./);

    await input.fill('where is my order 1234?');
    await input.press('Enter');
    await expect.poll(() => customer.getByTestId('answer').last().getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
    expect(await customer.getByTestId('answer').last().textContent()).toContain('Order 1234');
    expect(await customer.getByTestId('queue-position').textContent()).toContain('away until');
    await screenshot(customer, 'customer-7-after-hours');
  });
});
