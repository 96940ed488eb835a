import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The HS256 secret used when none is configured, kept in the data directory so that `parley token`
 * and `parley start` agree. For development only; production sets PARLEY_JWT_SECRET or a JWKS.
 */
export async function loadOrCreateDevSecret(dataDir: string): Promise<Uint8Array> {
  const path = join(dataDir, 'dev-jwt-secret');
  try {
    return new TextEncoder().encode((await readFile(path, 'utf8')).trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  // `wx` fails if another process created it first; then use theirs.
  await writeFile(path, secret, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return new TextEncoder().encode((await readFile(path, 'utf8')).trim());
}
