import { mkdir } from 'node:fs/promises';
import pg from 'pg';
import { ParleyError } from '../../core/errors.js';
import { PostgresStore, type StoreOptions } from './store.js';
import { pgDatabase, pgliteDatabase } from './sql.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Options to open the store: a PostgreSQL URL, or a PGlite data directory (`memory://` for an in-memory one). */
export type StoreLocation =
  | { kind: 'postgres'; url: string; schema?: string; poolSize: number; /** Longest wait for a connection, new or pooled (default 10 s). */ connectTimeoutMs?: number }
  | { kind: 'pglite'; dataDir: string };

/**
 * Opens the store at `location`. Does not migrate. A PostgreSQL store is opened with one connection made
 * and checked, so that a server that is down, absent or not PostgreSQL at all fails here, within
 * `connectTimeoutMs`, as a ParleyError `unavailable` whose message says what happened.
 */
export async function openPostgresStore(location: StoreLocation, options?: StoreOptions): Promise<PostgresStore> {
  if (location.kind === 'postgres') {
    const connectTimeoutMs = location.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const pool = new pg.Pool({
      connectionString: location.url,
      max: location.poolSize,
      // Without it pg waits forever for a server that accepts TCP and never answers.
      connectionTimeoutMillis: connectTimeoutMs,
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
    });
    // An idle client that loses its server must not crash the process; the next query reports the error.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new ParleyError('unavailable', describeConnectFailure(error, connectTimeoutMs), { cause: error });
    }
    return new PostgresStore(pgDatabase(pool), options);
  }
  const { PGlite } = await import('@electric-sql/pglite');
  if (!location.dataDir.startsWith('memory://')) await mkdir(location.dataDir, { recursive: true });
  const db = await PGlite.create(location.dataDir);
  return new PostgresStore(pgliteDatabase(db), options);
}

/** Why a first connection failed, in one line: the network's reason, PostgreSQL's own message, or a silent peer. */
function describeConnectFailure(error: unknown, timeoutMs: number): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'ECONNREFUSED') return 'connection refused (is PostgreSQL running on that host and port?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (/connection timeout|timeout exceeded/i.test(message ?? '')) return `no answer within ${timeoutMs} ms (is it a PostgreSQL server? PARLEY_DATABASE_CONNECT_TIMEOUT_MS sets the wait)`;
  if (/Connection terminated unexpectedly/i.test(message ?? '')) return 'the server closed the connection (is it a PostgreSQL server?)';
  // PostgreSQL's own refusals (3D000: no such database, 28xxx: authentication) say it best.
  return message ?? String(error);
}
