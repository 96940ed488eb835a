import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { FileStorage, PresignedUpload } from '../../core/file-storage.js';

/**
 * Attachments as files under one directory (the embedded default: `<data dir>/files`). A write goes to a
 * temporary file renamed into place, so a reader never sees half an object. There are no presigned URLs:
 * clients upload through the server.
 */
export class DiskFileStorage implements FileStorage {
  readonly kind = 'disk';
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomUUID()}.partial`;
    try {
      await writeFile(temporary, body);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async presignUpload(): Promise<PresignedUpload | null> {
    return null;
  }

  async size(key: string): Promise<number | null> {
    const info = await stat(this.pathOf(key)).catch(absent);
    return info ? info.size : null;
  }

  async head(key: string, bytes: number): Promise<Uint8Array | null> {
    const file = await open(this.pathOf(key), 'r').catch(absent);
    if (!file) return null;
    try {
      const buffer = new Uint8Array(bytes);
      const { bytesRead } = await file.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async read(key: string): Promise<ReadableStream<Uint8Array> | null> {
    // Opened before the stream is handed out, so a missing file is null rather than a failing stream.
    const file = await open(this.pathOf(key), 'r').catch(absent);
    if (!file) return null;
    return Readable.toWeb(file.createReadStream()) as ReadableStream<Uint8Array>;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** The file of a key; a key that would leave the root (`..`, an absolute part) is a bug, never a path. */
  private pathOf(key: string): string {
    const segments = key.split('/');
    if (segments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\'))) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    const path = resolve(join(this.root, ...segments));
    if (!path.startsWith(this.root + sep)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    return path;
  }
}

/** null for a file that is not there; any other failure is thrown. */
function absent(error: NodeJS.ErrnoException): null {
  if (error.code === 'ENOENT') return null;
  throw error;
}
