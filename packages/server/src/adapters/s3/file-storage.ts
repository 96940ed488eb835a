import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FileStorage, PresignedUpload } from '../../core/file-storage.js';

/** Where the S3-compatible storage is and how to sign in to it. */
export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (MinIO, Ceph, R2...); unset: AWS's own for the region. */
  endpoint?: string;
  /** `bucket` in the path rather than the host name, as most self-hosted S3 servers need. */
  forcePathStyle: boolean;
  /** Unset: the AWS SDK's default chain (instance role, shared config...). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Attachments in an S3-compatible bucket through the AWS SDK v3. Clients upload straight to the bucket with
 * a presigned PUT whose signature covers the content type and length; the server reads the object back only
 * to check it (size, first bytes) and to serve it.
 */
export class S3FileStorage implements FileStorage {
  readonly kind = 's3';
  private readonly client: S3Client;

  constructor(private readonly options: S3StorageOptions) {
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Newer SDKs checksum every body with aws-chunked encoding, which S3-compatible servers often mishandle,
      // and would put a checksum in presigned URLs that the browser's upload cannot match.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.byteLength }));
  }

  async presignUpload(key: string, options: { contentType: string; size: number; expiresInSeconds: number }): Promise<PresignedUpload> {
    const command = new PutObjectCommand({ Bucket: this.options.bucket, Key: key, ContentType: options.contentType, ContentLength: options.size });
    const url = await getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds, signableHeaders: new Set(['content-type', 'content-length']) });
    return { method: 'PUT', url, headers: { 'content-type': options.contentType } };
  }

  async size(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async head(key: string, bytes: number): Promise<Uint8Array | null> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }));
      const body = await object.Body!.transformToByteArray();
      // A server that ignores Range sends the whole object: keep only what was asked for.
      return body.subarray(0, bytes);
    } catch (error) {
      if (isMissing(error)) return null;
      // An empty object has no byte 0: its "head" is empty.
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 416) return new Uint8Array(0);
      throw error;
    }
  }

  async read(key: string): Promise<ReadableStream<Uint8Array> | null> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return object.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }));
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404);
}
