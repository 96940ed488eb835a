import { apiScopeSchema, type ApiScope } from '@parley/protocol';
import { ApiKeys, type ApiKeyView } from '../auth/api-keys.js';
import { signDevelopmentToken } from '../auth/tokens.js';
import { ConfigError, type Config } from '../config/config.js';
import { PostgresKeyStore } from '../store/postgres/key-store.js';
import { openStore, resolveSecret } from './app.js';
import { DataDirHeldError, DataDirLock, type DataDirHolder } from './data-dir-lock.js';

/** What `parley apikey` does, wherever the keys live. */
export interface KeyAdmin {
  create(name: string, scopes: ApiScope[]): Promise<{ key: string; apiKey: ApiKeyView }>;
  list(): Promise<ApiKeyView[]>;
  revoke(id: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The way to the tenant's keys: PostgreSQL directly (many processes may share it); the embedded PGlite
 * through the running server's API (it alone may open the directory), or directly while no server runs.
 */
export async function openKeyAdmin(config: Config, tenant: string): Promise<KeyAdmin> {
  if (config.databaseUrl) return directAdmin(config, tenant, null);
  const holder = await serverStarting(config.dataDir);
  if (holder?.kind === 'server' && holder.url) return serverAdmin(config, tenant, holder.url);
  if (holder) throw new DataDirHeldError(config.dataDir, holder);
  return directAdmin(config, tenant, await DataDirLock.acquire(config.dataDir, 'cli'));
}

/** The directory's holder; a server still starting (not yet listening) is waited for, up to 30 s. */
export async function serverStarting(dataDir: string): Promise<DataDirHolder | null> {
  for (let waited = 0; ; waited += 200) {
    const holder = await DataDirLock.holder(dataDir);
    if (holder?.kind !== 'server' || holder.url || waited >= 30_000) return holder;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function directAdmin(config: Config, tenant: string, lock: DataDirLock | null): Promise<KeyAdmin> {
  const store = await openStore(config).catch(async (error: unknown) => {
    await lock?.release();
    throw error;
  });
  // No bus here: a revocation reaches running nodes when their cache of the key expires (10 s).
  const keys = new ApiKeys(new PostgresKeyStore(store.database), null);
  return {
    create: async (name, scopes) => {
      const { key, view } = await keys.create(tenant, { name, scopes }, 'cli');
      return { key, apiKey: view };
    },
    list: () => keys.list(tenant),
    revoke: (id) => keys.revoke(tenant, id),
    close: async () => {
      await store.close();
      await lock?.release();
    },
  };
}

/** The server's key routes, as an admin of the tenant: a token signed with the server's secret, or PARLEY_ADMIN_KEY. */
async function serverAdmin(config: Config, tenant: string, url: string): Promise<KeyAdmin> {
  const credential = await adminCredential(config, tenant);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${url}/v1/api${path}`, {
      method,
      headers: { authorization: `Bearer ${credential}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (response.status === 204) return undefined as T;
    const json = (await response.json()) as T & { error?: { code: string; message: string } };
    if (!response.ok) throw new ConfigError([`the server at ${url} answered ${response.status} ${json.error?.code ?? ''}: ${json.error?.message ?? ''}`]);
    return json;
  };
  return {
    create: (name, scopes) => call('POST', '/keys', { name, scopes }),
    list: async () => (await call<{ apiKeys: ApiKeyView[] }>('GET', '/keys')).apiKeys,
    revoke: (id) => call('DELETE', `/keys/${encodeURIComponent(id)}`),
    close: async () => undefined,
  };
}

/** How the CLI calls a server's API as an admin of the tenant: PARLEY_ADMIN_KEY, else a short token signed with the server's secret. */
export async function adminCredential(config: Config, tenant: string): Promise<string> {
  if (process.env.PARLEY_ADMIN_KEY) return process.env.PARLEY_ADMIN_KEY;
  const secret = await resolveSecret(config);
  if (!secret) throw new ConfigError(['the server verifies tokens with a JWKS only: set PARLEY_ADMIN_KEY to an API key with the scopes the command needs (keys:write, knowledge:write)']);
  return signDevelopmentToken(secret, { tenant, userId: 'parley-cli', roles: ['admin'], ttlSeconds: 60, ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}), ...(config.jwtAudience ? { audience: config.jwtAudience } : {}) });
}

/** Parses `--scopes a,b` against the catalogue. */
export function parseScopes(text: string | undefined): ApiScope[] {
  if (!text) throw new ConfigError([`--scopes is required: a comma-separated list of ${apiScopeSchema.options.join(', ')}`]);
  return text.split(',').map((scope) => {
    const parsed = apiScopeSchema.safeParse(scope.trim());
    if (!parsed.success) throw new ConfigError([`--scopes: ${JSON.stringify(scope.trim())} is not a scope; scopes are ${apiScopeSchema.options.join(', ')}`]);
    return parsed.data;
  });
}
