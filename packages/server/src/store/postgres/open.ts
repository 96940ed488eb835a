import { mkdir } from 'node:fs/promises';
import pg from 'pg';
import { PostgresStore, type StoreOptions } from './store.js';
import { pgDatabase, pgliteDatabase } from './sql.js';

/** Options to open the store: a PostgreSQL URL, or a PGlite data directory (`memory://` for an in-memory one). */
export type StoreLocation = { kind: 'postgres'; url: string; schema?: string; poolSize: number } | { kind: 'pglite'; dataDir: string };

/** Opens the store at `location`. Does not migrate. */
export async function openPostgresStore(location: StoreLocation, options?: StoreOptions): Promise<PostgresStore> {
  if (location.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: location.url,
      max: location.poolSize,
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
    });
    // An idle client that loses its server must not crash the process; the next query reports the error.
    pool.on('error', () => undefined);
    return new PostgresStore(pgDatabase(pool), options);
  }
  const { PGlite } = await import('@electric-sql/pglite');
  if (!location.dataDir.startsWith('memory://')) await mkdir(location.dataDir, { recursive: true });
  const db = await PGlite.create(location.dataDir);
  return new PostgresStore(pgliteDatabase(db), options);
}
