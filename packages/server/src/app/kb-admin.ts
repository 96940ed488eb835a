import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { DocumentFormat, DocumentInput, DocumentView } from '@parley/protocol';
import { ConfigError, type Config } from '../config/config.js';
import { documentTitle } from '../kb/index.js';
import { adminCredential, serverStarting } from './key-admin.js';

const FORMATS: Record<string, DocumentFormat> = { '.md': 'markdown', '.markdown': 'markdown', '.html': 'html', '.htm': 'html', '.txt': 'text' };

/** A file to load, read and typed by its extension. */
export interface DocumentFile {
  path: string;
  input: DocumentInput;
}

/** The files under `paths` (folders walked, hidden entries skipped) that are Markdown, HTML or text; the others in `skipped`. */
export async function collectDocuments(paths: string[], options: { source: string; tags: string[] }): Promise<{ files: DocumentFile[]; skipped: string[] }> {
  const files: DocumentFile[] = [];
  const skipped: string[] = [];
  const visit = async (path: string): Promise<void> => {
    if ((await stat(path)).isDirectory()) {
      for (const entry of (await readdir(path)).sort()) if (!entry.startsWith('.')) await visit(join(path, entry));
      return;
    }
    const format = FORMATS[extname(path).toLowerCase()];
    if (!format) return void skipped.push(path);
    const content = await readFile(path, 'utf8');
    const title = documentTitle(format, content) ?? basename(path, extname(path));
    files.push({ path, input: { title: title.slice(0, 300), content, format, source: options.source, tags: options.tags } });
  };
  for (const path of paths) await visit(path);
  return { files, skipped };
}

/**
 * Where `parley kb add` sends documents: a running server's API (indexing runs there, on its queue). With
 * the embedded PGlite it is the server holding the data directory; with PostgreSQL, `--server`.
 */
export async function knowledgeServerUrl(config: Config, explicit: string | undefined): Promise<string> {
  if (explicit) return explicit.replace(/\/+$/, '');
  if (config.databaseUrl) throw new ConfigError(['kb add: give --server URL (a running Parley server of this database)']);
  const holder = await serverStarting(config.dataDir);
  if (holder?.kind === 'server' && holder.url) return holder.url;
  throw new ConfigError([`kb add: no Parley server runs on ${config.dataDir}; start one (npm start): documents are indexed by the server`]);
}

/** Adds one document through the server's API, as an admin of the tenant. */
export async function addDocument(config: Config, url: string, tenant: string, input: DocumentInput): Promise<DocumentView> {
  const response = await fetch(`${url}/v1/api/knowledge/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminCredential(config, tenant)}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  const json = (await response.json()) as { document?: DocumentView; error?: { code: string; message: string } };
  if (!response.ok || !json.document) throw new Error(`${response.status} ${json.error?.code ?? ''}: ${json.error?.message ?? ''}`);
  return json.document;
}
