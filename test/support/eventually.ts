/** Retries `check` until it passes or `timeoutMs` runs out (then its last failure is thrown). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
