import { parseArgs } from 'node:util';
import { identifierSchema, roleSchema, type Role } from '@parley/protocol';
import { DependencyError, openStore, resolveSecret, SERVER_VERSION, startNode } from './app/app.js';
import { signDevelopmentToken } from './auth/tokens.js';
import { DataDirHeldError, DataDirLock } from './app/data-dir-lock.js';
import { ParleyError } from './core/errors.js';
import { openKeyAdmin, parseScopes } from './app/key-admin.js';
import { addDocument, collectDocuments, knowledgeServerUrl } from './app/kb-admin.js';
import { ALIASES, ConfigError, configFlags, configWarnings, loadConfig, SETTINGS, type Config, type SettingName } from './config/config.js';
import { createLogger } from './observability/logger.js';

const USAGE = `parley ${SERVER_VERSION}

Usage:
  parley start [--role all|gateway|worker] [--port N] [--host H] [--data-dir D] [--database-url URL] [--log-level L]
  parley migrate [--database-url URL] [--data-dir D]
  parley token --tenant T --user U [--roles user,agent,admin] [--ttl SECONDS]
  parley apikey create --tenant T --scopes S1,S2 [--name N]   prints a new API key (shown once)
  parley apikey list --tenant T
  parley apikey revoke --tenant T --id KEY_ID
  parley kb add --tenant T [--source S] [--tags a,b] [--server URL] FILE_OR_FOLDER...
                     adds Markdown (.md), HTML (.html) and text (.txt) files to the tenant's knowledge base
  parley config      list every setting (environment variable, flag, default)
  parley version     print the version (also --version, -v)

With the embedded database (no DATABASE_URL), apikey goes through the running server, or opens the data
directory itself while no server runs. kb add always goes through a running server (it indexes the
documents): the one on the data directory, or --server URL with PostgreSQL.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'migrate':
      return migrate(rest);
    case 'token':
      return token(rest);
    case 'apikey':
      return apikey(rest);
    case 'kb':
      return knowledgeBase(rest);
    case 'config':
      return listSettings();
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`parley ${SERVER_VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

function parseConfig(args: string[], extra: Record<string, { type: 'string' }> = {}): { config: Config; values: Record<string, string | undefined> } {
  const { values } = parseArgs({ args, options: { ...configFlags(), ...extra }, strict: true, allowPositionals: false });
  for (const warning of configWarnings(process.env)) process.stderr.write(`parley: warning: ${warning}\n`);
  return { config: loadConfig(process.env, values as Record<string, string | undefined>), values: values as Record<string, string | undefined> };
}

async function start(args: string[]): Promise<number> {
  const { config } = parseConfig(args);
  const logger = createLogger(config.logLevel, config.otel === 'on');
  const node = await startNode(config, logger);
  logger.info({ port: node.port, node: node.nodeId, host: config.host, role: config.role, store: config.databaseUrl ? 'postgres' : 'pglite', bus: config.redisUrl ? 'redis' : 'memory', version: SERVER_VERSION }, 'listening');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await node.stop();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return -1; // keep running
}

async function migrate(args: string[]): Promise<number> {
  const { config } = parseConfig(args);
  const lock = config.databaseUrl ? null : await DataDirLock.acquire(config.dataDir, 'cli');
  try {
    const store = await openStore(config);
    await store.close();
  } finally {
    await lock?.release();
  }
  process.stdout.write('migrations applied\n');
  return 0;
}

async function token(args: string[]): Promise<number> {
  const extra = { tenant: { type: 'string' }, user: { type: 'string' }, roles: { type: 'string' }, ttl: { type: 'string' } } as const;
  const { config, values } = parseConfig(args, extra);
  if (!values.tenant || !values.user) throw new ConfigError(['--tenant and --user are required']);
  const roles = (values.roles ?? 'user').split(',').map((role) => roleSchema.safeParse(role.trim()));
  const invalid = roles.find((role) => !role.success);
  if (invalid) throw new ConfigError([`--roles: each role must be one of ${roleSchema.options.join(', ')}`]);
  const ttlSeconds = Number(values.ttl ?? 3600);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new ConfigError(['--ttl must be a positive whole number of seconds']);
  const secret = await resolveSecret(config);
  if (!secret) throw new ConfigError(['development tokens are HS256: set PARLEY_JWT_SECRET (a JWKS cannot sign)']);
  const jwt = await signDevelopmentToken(secret, {
    tenant: values.tenant,
    userId: values.user,
    roles: roles.map((role) => role.data as Role),
    ttlSeconds,
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
  });
  process.stdout.write(`${jwt}\n`);
  return 0;
}

async function apikey(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const extra = { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' } } as const;
  const { config, values } = parseConfig(rest, extra);
  const tenant = identifierSchema.safeParse(values.tenant);
  if (!tenant.success) throw new ConfigError(['--tenant is required (an identifier)']);
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new ConfigError(['apikey: use create, list or revoke']);
  const scopes = action === 'create' ? parseScopes(values.scopes) : [];
  if (action === 'revoke' && !values.id) throw new ConfigError(['apikey revoke: --id is required']);
  const admin = await openKeyAdmin(config, tenant.data);
  try {
    if (action === 'create') {
      const { key, apiKey } = await admin.create(values.name ?? 'cli', scopes);
      process.stderr.write(`API key ${apiKey.id} of tenant ${tenant.data}, scopes ${apiKey.scopes.join(',')}. It is shown only now: store it.\n`);
      process.stdout.write(`${key}\n`);
    } else if (action === 'list') {
      for (const key of await admin.list()) {
        const state = key.revokedAt === null ? 'active' : `revoked ${new Date(key.revokedAt).toISOString()}`;
        process.stdout.write(`${key.id}  ${key.name}  ${key.scopes.join(',')}  created ${new Date(key.createdAt).toISOString()}  ${state}\n`);
      }
    } else {
      await admin.revoke(values.id!);
      process.stdout.write(`revoked ${values.id}\n`);
    }
  } finally {
    await admin.close();
  }
  return 0;
}

async function knowledgeBase(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'add') throw new ConfigError(['kb: use add']);
  const options = { ...configFlags(), tenant: { type: 'string' }, source: { type: 'string' }, tags: { type: 'string' }, server: { type: 'string' } } as const;
  const { values, positionals } = parseArgs({ args: rest, options, strict: true, allowPositionals: true });
  const config = loadConfig(process.env, values as Record<string, string | undefined>);
  const tenant = identifierSchema.safeParse(values.tenant);
  if (!tenant.success) throw new ConfigError(['--tenant is required (an identifier)']);
  if (positionals.length === 0) throw new ConfigError(['kb add: name the files or folders to add']);
  const url = await knowledgeServerUrl(config, values.server);
  const tags = (values.tags ?? '').split(',').map((tag) => tag.trim()).filter(Boolean);
  const { files, skipped } = await collectDocuments(positionals, { source: values.source ?? 'files', tags });
  for (const path of skipped) process.stderr.write(`skipped ${path}: not .md, .markdown, .html, .htm or .txt\n`);
  let added = 0;
  let failed = 0;
  for (const file of files) {
    try {
      const document = await addDocument(config, url, tenant.data, file.input);
      process.stdout.write(`${document.id}  ${file.path}  "${document.title}"\n`);
      added++;
    } catch (error) {
      process.stderr.write(`failed ${file.path}: ${(error as Error).message}\n`);
      failed++;
    }
  }
  process.stdout.write(`added ${added} documents to the knowledge base of ${tenant.data}${failed ? `; ${failed} failed` : ''}; they are indexed in the background\n`);
  return failed > 0 ? 1 : 0;
}

function listSettings(): number {
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, (typeof SETTINGS)[SettingName]]>) {
    const alias = ALIASES[name] ? ` (or ${ALIASES[name]})` : '';
    const flag = setting.flag ? ` (--${setting.flag})` : '';
    process.stdout.write(`${setting.env}${alias}${flag} = ${setting.default ?? '(unset)'}\n    ${setting.help}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof DataDirHeldError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`parley: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof DependencyError) {
      process.stderr.write(`parley: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (error instanceof ParleyError) {
      process.stderr.write(`parley: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      const { address, port } = error as { address?: string; port?: number };
      process.stderr.write(`parley: cannot listen on ${address}:${port} (${code}); choose another PORT or --port\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`parley: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
