import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Whether an nginx binary is installed (Debian: `apt-get install -y nginx`). */
export const NGINX_INSTALLED = spawnSync('nginx', ['-v']).status === 0;

/** The code block that follows `<!-- marker -->` in a Markdown file, exactly as a reader copies it. */
export async function markdownBlock(path: string, marker: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const match = new RegExp(`<!-- ${marker} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (!match?.[1]) throw new Error(`${path} has no block after <!-- ${marker} -->`);
  return match[1];
}

export interface Nginx {
  port: number;
  stop(): Promise<void>;
}

/**
 * Runs nginx in the foreground from a temporary directory, on a free loopback port, with `httpBlock` (what
 * goes inside `http { }`, as the docs show it) after `prepare` adapted it to the port and to a self-signed
 * certificate made for the run. Stopped by its PID.
 */
export async function startNginx(httpBlock: string, prepare: (block: string, settings: { port: number; certificate: string; key: string }) => string): Promise<Nginx> {
  const directory = await mkdtemp(join(tmpdir(), 'parley-nginx-'));
  await mkdir(join(directory, 'temp'));
  const certificate = join(directory, 'server.crt');
  const key = join(directory, 'server.key');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', certificate, '-days', '1', '-subj', '/CN=127.0.0.1']);
  const port = await freePort();
  const temp = (name: string) => `${name}_temp_path ${join(directory, 'temp', name)};`;
  const config = [
    'daemon off;',
    'master_process off;',
    `pid ${join(directory, 'nginx.pid')};`,
    `error_log ${join(directory, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '    access_log off;',
    `    ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n    ')}`,
    prepare(httpBlock, { port, certificate, key }),
    '}',
  ].join('\n');
  await writeFile(join(directory, 'nginx.conf'), config);
  const child = spawn('nginx', ['-p', directory, '-e', join(directory, 'error.log'), '-c', join(directory, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk) => (errors += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  for (let attempt = 0; !(await accepts(port)); attempt++) {
    if (child.exitCode !== null || attempt > 200) {
      const log = await readFile(join(directory, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`nginx did not start: ${errors}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
