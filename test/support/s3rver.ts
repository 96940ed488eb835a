import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// s3rver ships no types; this file is the one place that touches it.
// @ts-expect-error -- no declaration file
import S3rver from 's3rver';

/** s3rver's fixed credentials: it checks signatures with them. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

/**
 * Starts s3rver (a local server speaking the S3 API; not AWS S3 nor MinIO) on a free port, with one empty
 * bucket in a temporary directory, removed on close.
 */
export async function startLocalS3(bucket = 'parley-test'): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'parley-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const address = (await server.run()) as { address: string; port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
