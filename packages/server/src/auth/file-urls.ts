import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a signed file URL names. */
export interface SignedFile {
  tenant: string;
  conversationId: string;
  attachmentId: string;
}

/**
 * Short-lived per-file URLs: `/v1/files/<tenant>/<conversation>/<attachment>?expires=<ms>&signature=<hmac>`.
 * Whoever holds one may read that file until it expires, without a credential (an `<img>` cannot send one);
 * it is handed only to those who may read the conversation. Every node must sign with the same key.
 */
export class FileUrls {
  constructor(
    private readonly key: Uint8Array,
    private readonly ttlMs: number,
  ) {}

  /** The URL (relative to the server) and when it stops working. */
  sign(file: SignedFile, now = Date.now()): { url: string; expiresAt: number } {
    const expiresAt = now + this.ttlMs;
    const path = pathOf(file);
    return { url: `${path}?expires=${expiresAt}&signature=${this.signature(path, expiresAt)}`, expiresAt };
  }

  /** Whether `signature` is this server's for the file until `expires`, and that time is still ahead. */
  verify(file: SignedFile, expires: string | undefined, signature: string | undefined, now = Date.now()): boolean {
    if (!expires || !signature || !/^\d{1,15}$/.test(expires) || Number(expires) < now) return false;
    const expected = Buffer.from(this.signature(pathOf(file), Number(expires)));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private signature(path: string, expiresAt: number): string {
    return createHmac('sha256', this.key).update(`${path}\n${expiresAt}`).digest('base64url');
  }
}

function pathOf(file: SignedFile): string {
  return `/v1/files/${encodeURIComponent(file.tenant)}/${encodeURIComponent(file.conversationId)}/${encodeURIComponent(file.attachmentId)}`;
}
