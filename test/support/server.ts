import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));

// Servers still running when the test process ends (a test that timed out) end with it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A shared HS256 secret for test servers. */
export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestServer {
  port: number;
  url: string;
  wsUrl: string;
  /** The server's PARLEY_DATA_DIR (its embedded database, when it uses PGlite). */
  dataDir: string;
  process: ChildProcess;
  logs: string[];
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/**
 * Starts a real Parley server process on a free port with an embedded PGlite store in a fresh
 * temporary directory, and waits until it listens. PostgreSQL only when `env` sets DATABASE_URL:
 * the one in the test runner's environment (CI exports it for the store suites) is not inherited.
 */
export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  // A data directory the caller names is the caller's to keep (restart tests); a temporary one is removed.
  const ownsDataDir = env.PARLEY_DATA_DIR === undefined;
  const dataDir = env.PARLEY_DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'parley-test-')));
  await seedPglite(dataDir, env);
  const child = spawn(process.execPath, [CLI, 'start'], {
    env: { ...process.env, DATABASE_URL: '', PORT: '0', HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), 30_000);
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      const entry = safeJson(line);
      if (entry?.msg === 'listening') {
        clearTimeout(timer);
        resolve(entry.port as number);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  const cleanup = async () => {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    dataDir,
    process: child,
    logs,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      await cleanup();
      return code;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      await cleanup();
    },
  };
}

/** Copies the migrated PGlite template (see global-setup.ts) into a data directory that has no database yet. */
async function seedPglite(dataDir: string, env: Record<string, string>): Promise<void> {
  const template = process.env.PARLEY_TEST_PGLITE_TEMPLATE;
  if (!template || env.DATABASE_URL) return;
  const target = join(dataDir, 'pglite');
  if (await stat(target).then(() => true, () => false)) return;
  await cp(template, target, { recursive: true });
}

function safeJson(line: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}
