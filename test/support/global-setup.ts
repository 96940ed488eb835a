import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));

/**
 * Creating a PGlite cluster (initdb in WebAssembly) takes seconds; copying a migrated one takes a
 * fraction of that. This builds one template per test run with `parley migrate`; test servers copy it.
 */
export async function setup(): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-template-'));
  const result = spawnSync(process.execPath, [CLI, 'migrate'], { env: { ...process.env, PARLEY_DATA_DIR: dataDir, DATABASE_URL: '' }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`parley migrate failed: ${result.stderr}`);
  process.env.PARLEY_TEST_PGLITE_TEMPLATE = join(dataDir, 'pglite');
  return () => rm(dataDir, { recursive: true, force: true });
}
