import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_URL } from '../support/postgres.js';
import { TEST_SECRET } from '../support/server.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `parley args...` with `env` over a clean Parley environment; killed (and the test failed) after `limitMs`. */
function runCli(args: string[], env: Record<string, string>, limitMs = 15_000): Promise<CliRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PARLEY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`parley ${args.join(' ')} still running after ${limitMs} ms; stderr: ${stderr}`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}

/** A TCP server that accepts connections and never says a word (a wrong port: not PostgreSQL, or a black hole). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (connections are refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One line on stderr, naming DATABASE_URL, and no stack trace. */
function expectOneClearLine(run: CliRun, reason: RegExp): void {
  expect(run.code, run.stderr).not.toBe(0);
  expect(run.code).not.toBeNull();
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^parley: cannot connect to the PostgreSQL at DATABASE_URL \(postgres:\/\/.*\): /);
  expect(lines[0]).toMatch(reason);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('parley start with a DATABASE_URL it cannot use', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeAll(async () => {
    silent = await silentServer();
  });
  afterAll(() => silent.close());

  it('fails within PARLEY_DATABASE_CONNECT_TIMEOUT_MS when the port accepts TCP but does not speak PostgreSQL', async () => {
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${silent.port}/test`, PARLEY_DATABASE_CONNECT_TIMEOUT_MS: '500' });
    expectOneClearLine(run, /no answer within 500 ms/);
    // The process itself takes about a second to load; far less than the time a hang would take.
    expect(run.elapsedMs).toBeLessThan(8000);
  });

  it('says in one line that the connection is refused', async () => {
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    expectOneClearLine(run, /connection refused/);
  });

  it('says in one line that the database does not exist, without the password', async () => {
    const url = new URL(DATABASE_URL);
    url.password = 'not-shown';
    url.pathname = '/parley_no_such_database';
    const run = await runCli(['start', '--port', '0'], { DATABASE_URL: url.toString() });
    expectOneClearLine(run, /database "parley_no_such_database" does not exist/);
    expect(run.stderr).not.toContain('not-shown');
  });

  it('parley migrate fails the same way', async () => {
    const run = await runCli(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    expectOneClearLine(run, /connection refused/);
  });
});

describe('settings given under the wrong name', () => {
  it('PARLEY_PORT=abc stops the server with exit code 2 and a message naming PARLEY_PORT', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-reliability-'));
    const run = await runCli(['start'], { PARLEY_PORT: 'abc', HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir }).finally(() => rm(dataDir, { recursive: true, force: true }));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PARLEY_PORT="abc"/);
  });

  it('warns about an unknown PARLEY_* variable, naming the closest known one', async () => {
    const run = await runCli(['token', '--tenant', 'acme', '--user', 'alice'], { PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_JWT_SECRTE: 'x' });
    expect(run.code).toBe(0);
    expect(run.stderr.trim()).toBe('parley: warning: unknown setting PARLEY_JWT_SECRTE is ignored (did you mean PARLEY_JWT_SECRET? `parley config` lists every setting)');
  });

  it('parley config lists PARLEY_PORT beside PORT', async () => {
    const run = await runCli(['config'], {});
    expect(run.stdout).toMatch(/^PORT \(or PARLEY_PORT\) \(--port\) = 8080$/m);
    expect(run.stdout).toMatch(/^HOST \(or PARLEY_HOST\) \(--host\) = 0\.0\.0\.0$/m);
  });
});

describe('parley --version', () => {
  it('prints the version for --version, -v and version', async () => {
    const { version } = (await import(`${ROOT}packages/server/package.json`, { with: { type: 'json' } })).default as { version: string };
    const flags = ['--version', '-v', 'version'];
    const runs = await Promise.all(flags.map((flag) => runCli([flag], {})));
    expect(runs.map((run) => ({ code: run.code, stdout: run.stdout }))).toEqual(flags.map(() => ({ code: 0, stdout: `parley ${version}\n` })));
  });
});
