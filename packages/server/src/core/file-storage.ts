/** Where an upload goes when the client sends the bytes itself. */
export interface PresignedUpload {
  method: 'PUT';
  url: string;
  /** Headers the client must send with the bytes (they are part of the signature). */
  headers: Record<string, string>;
}

/**
 * Where attachment bytes live: local disk (the embedded default) or S3-compatible object storage. Keys are
 * built by the server from identifiers (`tenant/conversation/attachment`); an object is written whole, by
 * `put` or by the client through a presigned URL, and read only after the server finalized it. Nothing here
 * knows who may read what: the attachment service authorizes before it touches storage.
 */
export interface FileStorage {
  /** What the configuration calls it (`disk`, `s3`), for logs and errors. */
  readonly kind: string;
  /** Writes the object whole, replacing any earlier one. */
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** A URL the client uploads exactly `size` bytes to until `expiresInSeconds`; null when this storage has none (upload through the server). */
  presignUpload(key: string, options: { contentType: string; size: number; expiresInSeconds: number }): Promise<PresignedUpload | null>;
  /** The object's size in bytes, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** Up to the first `bytes` bytes (fewer for a shorter object), or null when there is none. */
  head(key: string, bytes: number): Promise<Uint8Array | null>;
  /** The whole object as a stream, or null when there is none. */
  read(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /** Removes the object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
}
