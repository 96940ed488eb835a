import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, S3RVER_CREDENTIALS, type LocalS3 } from '../../../test/support/s3rver.js';
import { DiskFileStorage } from '../src/adapters/disk/file-storage.js';
import { S3FileStorage } from '../src/adapters/s3/file-storage.js';
import type { FileStorage } from '../src/core/file-storage.js';

/** One storage to run the suite against, and how to tear it down. */
interface StorageFactory {
  name: string;
  open(): Promise<{ storage: FileStorage; close(): Promise<void> }>;
}

const FACTORIES: StorageFactory[] = [
  {
    name: 'local disk',
    open: async () => {
      const directory = await mkdtemp(join(tmpdir(), 'parley-files-'));
      return { storage: new DiskFileStorage(directory), close: () => rm(directory, { recursive: true, force: true }) };
    },
  },
  {
    // s3rver, a local S3 API: no real S3 or MinIO is run here.
    name: 's3rver',
    open: async () => {
      const s3: LocalS3 = await startLocalS3();
      const storage = new S3FileStorage({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      return {
        storage,
        close: async () => {
          storage.close();
          await s3.close();
        },
      };
    },
  },
];

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe.each(FACTORIES)('file storage: $name', (factory) => {
  let storage: FileStorage;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ storage, close } = await factory.open());
  });
  afterAll(() => close());

  it('writes, measures, reads the first bytes and the whole object, and deletes it', async () => {
    const key = `acme/c1/${randomUUID()}`;
    const bytes = randomBytes(300_000);
    await storage.put(key, bytes, 'application/octet-stream');
    expect(await storage.size(key)).toBe(bytes.length);
    expect(Buffer.from((await storage.head(key, 16))!)).toEqual(bytes.subarray(0, 16));
    expect(await readAll((await storage.read(key))!)).toEqual(bytes);
    await storage.delete(key);
    expect(await storage.size(key)).toBeNull();
    expect(await storage.head(key, 16)).toBeNull();
    expect(await storage.read(key)).toBeNull();
    await storage.delete(key);
  });

  it('gives a head shorter than asked for a short object', async () => {
    const key = `acme/c1/${randomUUID()}`;
    await storage.put(key, Buffer.from('hi'), 'text/plain');
    expect(Buffer.from((await storage.head(key, 4100))!).toString()).toBe('hi');
  });

  it('takes an upload through its presigned URL, when it has them, byte for byte', async () => {
    const key = `acme/c1/${randomUUID()}`;
    const bytes = randomBytes(70_000);
    const upload = await storage.presignUpload(key, { contentType: 'image/png', size: bytes.length, expiresInSeconds: 60 });
    if (storage.kind === 'disk') {
      expect(upload).toBeNull();
      return;
    }
    const response = await fetch(upload!.url, { method: upload!.method, headers: upload!.headers, body: bytes });
    expect(response.status, await response.text()).toBe(200);
    expect(await readAll((await storage.read(key))!)).toEqual(bytes);
  });
});

describe('local disk storage', () => {
  it('refuses a key that would leave its directory', async () => {
    const storage: FileStorage = new DiskFileStorage(join(tmpdir(), 'parley-never-written'));
    await expect(storage.put('acme/../../etc/x', Buffer.from('x'), 'text/plain')).rejects.toThrow('invalid storage key');
    await expect(storage.size('/etc/passwd')).rejects.toThrow('invalid storage key');
  });
});
