import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The script that follows `<!-- quickstart -->` in the README, exactly as a reader copies it. */
async function quickStartScript(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- quickstart -->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error('README has no quick-start script');
  return match[1];
}

describe('README quick start', () => {
  it('runs verbatim against a server started with the development secret', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-readme-'));
    // Saved in the repository root, as the README says, so that its imports resolve there.
    const scriptPath = join(ROOT, `.quickstart-${process.pid}.mjs`);
    const env = { PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: '' };
    const server = await startServer(env);
    try {
      await writeFile(scriptPath, await quickStartScript());
      const child = spawn(process.execPath, [scriptPath], { cwd: ROOT, env: { ...process.env, ...env, PARLEY_URL: server.wsUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code, stderr).toBe(0);
      const lines = stdout.trim().split('\n').sort();
      expect(lines).toEqual(
        [
          'bob sees   #2 from alice: Hi Bob!',
          'alice sees #2 from alice: Hi Bob!',
          "alice's message is stored as #2",
          'bob sees   #3 from bob: Hi Alice, it works.',
          'alice sees #3 from bob: Hi Alice, it works.',
        ].sort(),
      );
    } finally {
      await rm(scriptPath, { force: true });
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
