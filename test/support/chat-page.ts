import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

/** What an answer on the web chat page shows at one moment, read in one go so that status and text agree. */
export interface AnswerView {
  status: string | null;
  text: string;
}

// Typed structurally: the tests' tsconfig has no DOM lib.
export interface ElementLike {
  getAttribute(name: string): string | null;
  querySelector(selector: string): { textContent: string | null } | null;
}

/** Waits until the chat page is connected and ready to send. */
export async function waitForReady(page: Page): Promise<void> {
  await expect.poll(() => page.getByRole('textbox', { name: 'Message', exact: true }).isEnabled(), { timeout: 15_000 }).toBe(true);
}

/** Writes `question` and sends it. */
export async function ask(page: Page, question: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(question);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** The answer's status and text, or undefined while it is not on the page. */
export async function read(answer: Locator): Promise<AnswerView | undefined> {
  if ((await answer.count()) === 0) return undefined;
  return answer.evaluate((element: ElementLike) => ({
    status: element.getAttribute('data-status'),
    text: element.querySelector('[data-testid="answer-text"]')?.textContent ?? '',
  }));
}

/** Polls the answer until `done`; returns every distinct view seen on the way (the last one matched `done`). */
export async function watch(answer: Locator, done: (view: AnswerView) => boolean, timeoutMs = 20_000): Promise<AnswerView[]> {
  const seen: AnswerView[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await read(answer).catch(() => undefined); // the page may be reloading
    if (view && (seen.length === 0 || seen.at(-1)!.text !== view.text || seen.at(-1)!.status !== view.status)) seen.push(view);
    if (view && done(view)) return seen;
    if (Date.now() > deadline) throw new Error(`the answer never got there; seen: ${JSON.stringify(seen.slice(-3))}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether the answer has stopped streaming (completed, stopped or failed). */
export const finished = (view: AnswerView): boolean => view.status !== 'streaming';
