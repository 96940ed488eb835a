import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'packages/server/dist/cli.js');

/** The code block that follows `<!-- marker -->` in the README, exactly as a reader copies it. */
async function readmeBlock(marker: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- ${marker} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README has no block after <!-- ${marker} -->`);
  return match[1];
}

/** Runs a script saved in the repository root (so that its imports resolve there); its exit code, output and errors. */
async function runScript(name: string, source: string, env: Record<string, string>): Promise<{ code: unknown; stdout: string; stderr: string }> {
  const scriptPath = join(ROOT, `.${name}-${process.pid}.mjs`);
  await writeFile(scriptPath, source);
  try {
    const child = spawn(process.execPath, [scriptPath], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    return { code, stdout, stderr };
  } finally {
    await rm(scriptPath, { force: true });
  }
}

describe('README quick start', () => {
  it('runs verbatim against a server started with the development secret', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-readme-'));
    const env = { PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: '' };
    const server = await startServer(env);
    try {
      const { code, stdout, stderr } = await runScript('quickstart', await readmeBlock('quickstart'), { ...env, PARLEY_URL: server.wsUrl });
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
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('README server API example', () => {
  it('runs verbatim with a key from `parley apikey create` and prints what the README shows', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-readme-api-'));
    const env = { PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: '' };
    const server = await startServer(env);
    try {
      // As the README does it: the CLI reaches the running server (it holds the embedded database) and prints the key once.
      const created = await promisify(execFile)(process.execPath, [CLI, 'apikey', 'create', '--tenant', 'acme', '--scopes', 'conversations:write,messages:write'], { env: { ...process.env, ...env, DATABASE_URL: '' } });
      expect(created.stderr).toContain('It is shown only now');
      const apiKey = created.stdout.trim();
      expect(apiKey).toMatch(/^psk_[a-z0-9]{16}\.[A-Za-z0-9_-]{32}$/);

      const { code, stdout, stderr } = await runScript('backend', await readmeBlock('server-api'), { PARLEY_API_KEY: apiKey, PARLEY_HTTP_URL: server.url });
      expect(code, stderr).toBe(0);
      expect(stdout).toBe(await readmeBlock('server-api-output'));
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
