import { createTestSchema, DATABASE_URL } from '../../../test/support/postgres.js';
import { openPostgresStore } from '../src/store/postgres/open.js';
import type { PostgresStore, StoreOptions } from '../src/store/postgres/store.js';

/** Opens a store of one kind for a conformance suite; `schema` names the PostgreSQL schema, when there is one. */
export interface StoreFactory {
  name: string;
  open(options?: StoreOptions): Promise<{ store: PostgresStore; schema?: string; cleanup(): Promise<void> }>;
}

/** The implementations every store suite runs against unchanged: embedded PGlite, and the real PostgreSQL (a schema of its own, dropped after). */
export const STORE_FACTORIES: StoreFactory[] = [
  {
    name: 'PGlite',
    open: async (options) => {
      const store = await openPostgresStore({ kind: 'pglite', dataDir: 'memory://' }, options);
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'PostgreSQL',
    open: async (options) => {
      const { schema, drop } = await createTestSchema();
      const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 10 }, options);
      return {
        store,
        schema,
        cleanup: async () => {
          await store.close();
          await drop();
        },
      };
    },
  },
];
