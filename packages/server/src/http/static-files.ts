import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The built web UI's response for `urlPath` under `root`: a file if it exists, else the page whose client-side
 * routes cover the path (`agent.html` under `/agent`, `index.html` elsewhere). Paths are normalized and must stay
 * under `root`. Null when there is nothing to serve.
 */
export async function staticFile(root: string, urlPath: string): Promise<Response | null> {
  let relative: string;
  try {
    relative = normalize(decodeURIComponent(urlPath)).replace(/^(\.\.(\/|\\|$))+/, '');
  } catch {
    return null; // not a valid percent-encoding: no such file
  }
  const candidate = join(root, relative);
  if (candidate !== root && !candidate.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  const file = (await isFile(candidate)) ? candidate : join(root, pageFor(relative));
  if (!(await isFile(file))) return null;
  const immutable = file.includes(`${sep}assets${sep}`);
  return new Response(Readable.toWeb(createReadStream(file)) as ReadableStream, {
    headers: {
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

/** The HTML page that serves a path no file matches: the agent console under `/agent`, the chat page elsewhere. */
function pageFor(relative: string): string {
  return /^[/\\]agent([/\\]|$)/.test(relative) ? 'agent.html' : 'index.html';
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((info) => info.isFile(), () => false);
}
