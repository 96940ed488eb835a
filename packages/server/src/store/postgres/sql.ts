import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';

/**
 * The database's clock in epoch milliseconds, for times that several nodes compare (leases, activity
 * stamps): one clock for all of them, however the nodes' clocks drift.
 */
// date_part (double precision) rather than extract (numeric since PostgreSQL 14): a fraction of the cost,
// exact to the microsecond for centuries.
export const DATABASE_NOW_MS = "(date_part('epoch', clock_timestamp()) * 1000)::bigint";

/** What the store needs from a PostgreSQL connection: the same SQL runs on `pg` and on PGlite. */
export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface SqlDatabase extends SqlExecutor {
  /** Runs `work` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A `pg` pool as a SqlDatabase. */
export function pgDatabase(pool: pg.Pool): SqlDatabase {
  const executor = (client: pg.Pool | pg.PoolClient): SqlExecutor => ({
    query: async <Row>(text: string, params?: unknown[]) => (await client.query(text, params)) as unknown as { rows: Row[] },
    exec: async (script) => {
      await client.query(script);
    },
  });
  return {
    ...executor(pool),
    transaction: async (work) => {
      const client = await pool.connect();
      // pg-pool stops listening while a client is checked out; a connection lost meanwhile would be an
      // unhandled 'error' event (a crash). The failing query reports it instead.
      const onError = () => undefined;
      client.on('error', onError);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work(executor(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // If even ROLLBACK fails the connection is gone: release(error) discards it instead of pooling it.
        const rolledBack = await client.query('ROLLBACK').then(() => true, () => false);
        if (!rolledBack) broken = error as Error;
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** An embedded PGlite instance as a SqlDatabase. PGlite runs one query at a time; transactions queue. */
export function pgliteDatabase(db: PGlite): SqlDatabase {
  return {
    query: async (text, params) => db.query(text, params),
    exec: async (script) => {
      await db.exec(script);
    },
    transaction: (work) =>
      db.transaction((tx) =>
        work({
          query: (text, params) => tx.query(text, params),
          exec: async (script) => {
            await tx.exec(script);
          },
        }),
      ),
    close: () => db.close(),
  };
}
