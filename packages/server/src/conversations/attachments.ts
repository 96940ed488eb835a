import { randomUUID } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import { isRasterImage, type AttachmentUrlResult, type AttachmentView, type CreateAttachmentBody, type CreateAttachmentResult } from '@parley/protocol';
import type { FileUrls, SignedFile } from '../auth/file-urls.js';
import type { AttachmentRecord, AttachmentStore } from '../core/attachment-store.js';
import { ParleyError } from '../core/errors.js';
import type { FileStorage } from '../core/file-storage.js';
import type { Principal } from '../core/types.js';
import type { ConversationService } from './service.js';

/** What a tenant may upload: the largest file, and the (sniffed) types it accepts. */
export interface AttachmentLimits {
  maxBytes: number;
  types: readonly string[];
}

/** What the attachment use cases work with, wired by the composition root. */
export interface AttachmentServiceDependencies {
  conversations: Pick<ConversationService, 'authorizeAction'>;
  store: AttachmentStore;
  storage: FileStorage;
  urls: FileUrls;
  limitsOf(tenant: string): AttachmentLimits;
  /** How long a presigned upload URL works. */
  uploadTtlSeconds: number;
}

/** Bytes read to sniff a type: what file-type needs for the formats it knows. */
const SNIFF_BYTES = 4100;
/** Text types taken on the uploader's word when the bytes are UTF-8 text (no signature to sniff). */
const TEXT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'text/csv', 'text/markdown']);
const UNKNOWN_TYPE = 'application/octet-stream';

/**
 * Attachments of a conversation: created by someone who may send there, uploaded (to object storage through
 * a presigned URL, or through the server), then finalized: the server measures the bytes and sniffs their
 * type, and deletes them if either is not what was declared or allowed. Only then can a message carry the
 * file, and only those who may read the conversation get a (short-lived, signed) URL to it.
 */
export class AttachmentService {
  constructor(private readonly dependencies: AttachmentServiceDependencies) {}

  async create(principal: Principal, conversationId: string, body: Required<CreateAttachmentBody>): Promise<CreateAttachmentResult> {
    await this.dependencies.conversations.authorizeAction(principal, conversationId, 'send');
    this.checkLimits(principal.tenant, body.size, body.contentType);
    const id = randomUUID();
    const record: AttachmentRecord = {
      tenant: principal.tenant,
      conversationId,
      id,
      uploadedBy: principal.userId,
      name: body.name,
      contentType: body.contentType,
      size: body.size,
      state: 'pending',
      storageKey: `${principal.tenant}/${conversationId}/${id}`,
      createdAt: Date.now(),
    };
    await this.dependencies.store.create(record);
    const ttl = this.dependencies.uploadTtlSeconds;
    const presigned = await this.dependencies.storage.presignUpload(record.storageKey, { contentType: body.contentType, size: body.size, expiresInSeconds: ttl });
    const upload = presigned
      ? { ...presigned, via: 'storage' as const }
      : { method: 'PUT' as const, url: `/v1/api/conversations/${encodeURIComponent(conversationId)}/attachments/${id}/content`, headers: { 'content-type': body.contentType }, via: 'server' as const };
    return { attachment: toView(record), upload, expiresAt: record.createdAt + ttl * 1000 };
  }

  /** Uploads the bytes through the server (storage without presigned URLs, or a client that cannot reach it). */
  async upload(principal: Principal, conversationId: string, attachmentId: string, body: Uint8Array): Promise<AttachmentView> {
    const record = await this.pendingOfUploader(principal, conversationId, attachmentId);
    if (body.byteLength !== record.size) throw new ParleyError('bad_request', `the upload has ${body.byteLength} bytes; ${record.size} were declared`);
    await this.dependencies.storage.put(record.storageKey, body, record.contentType);
    return toView(record);
  }

  /** The attachment as declared, for the upload route to size its read before the bytes arrive. */
  async pendingUpload(principal: Principal, conversationId: string, attachmentId: string): Promise<AttachmentRecord> {
    return this.pendingOfUploader(principal, conversationId, attachmentId);
  }

  /**
   * Checks the uploaded bytes: the declared size, the tenant's limits, and the type sniffed from the first
   * bytes (which must be the declared one). On a mismatch the bytes and the attachment are deleted.
   */
  async finalize(principal: Principal, conversationId: string, attachmentId: string): Promise<AttachmentView> {
    const record = await this.dependencies.store.get(principal.tenant, conversationId, attachmentId);
    if (record?.state === 'ready' && record.uploadedBy === principal.userId) return toView(record);
    const pending = await this.pendingOfUploader(principal, conversationId, attachmentId);
    const { storage } = this.dependencies;
    const size = await storage.size(pending.storageKey);
    if (size === null) throw new ParleyError('conflict', 'nothing was uploaded for this attachment yet', { details: { reason: 'not_uploaded' } });
    let contentType: string;
    try {
      if (size !== pending.size) throw new ParleyError('bad_request', `the upload has ${size} bytes; ${pending.size} were declared`, { details: { reason: 'size_mismatch' } });
      contentType = await sniff((await storage.head(pending.storageKey, SNIFF_BYTES)) ?? new Uint8Array(0), pending.contentType);
      if (contentType !== pending.contentType) throw new ParleyError('bad_request', `the file's content is ${contentType}, not the declared ${pending.contentType}`, { details: { reason: 'type_mismatch', sniffed: contentType } });
      this.checkLimits(principal.tenant, size, contentType);
    } catch (error) {
      await storage.delete(pending.storageKey);
      await this.dependencies.store.delete(pending.tenant, conversationId, attachmentId);
      throw error;
    }
    await this.dependencies.store.markReady(pending.tenant, conversationId, attachmentId, { size, contentType });
    return toView({ ...pending, size, contentType, state: 'ready' });
  }

  /** A short-lived signed URL to a ready file, for whoever may read the conversation. */
  async url(principal: Principal, conversationId: string, attachmentId: string): Promise<AttachmentUrlResult> {
    await this.dependencies.conversations.authorizeAction(principal, conversationId, 'read');
    const record = await this.dependencies.store.get(principal.tenant, conversationId, attachmentId);
    if (record?.state !== 'ready') throw new ParleyError('not_found', `attachment ${attachmentId} does not exist in this conversation`);
    return { attachment: toView(record), ...this.dependencies.urls.sign({ tenant: record.tenant, conversationId, attachmentId }) };
  }

  /** The file a signed URL names, if the signature holds and it has not expired; null otherwise. */
  async openSigned(file: SignedFile, expires: string | undefined, signature: string | undefined): Promise<{ record: AttachmentRecord; body: ReadableStream<Uint8Array> } | null> {
    if (!this.dependencies.urls.verify(file, expires, signature)) return null;
    const record = await this.dependencies.store.get(file.tenant, file.conversationId, file.attachmentId);
    if (record?.state !== 'ready') return null;
    const body = await this.dependencies.storage.read(record.storageKey);
    return body ? { record, body } : null;
  }

  private async pendingOfUploader(principal: Principal, conversationId: string, attachmentId: string): Promise<AttachmentRecord> {
    await this.dependencies.conversations.authorizeAction(principal, conversationId, 'send');
    const record = await this.dependencies.store.get(principal.tenant, conversationId, attachmentId);
    if (!record) throw new ParleyError('not_found', `attachment ${attachmentId} does not exist in this conversation`);
    if (record.uploadedBy !== principal.userId) throw new ParleyError('forbidden', 'only the uploader finishes an upload');
    if (record.state !== 'pending') throw new ParleyError('conflict', 'the attachment is finalized already', { details: { reason: 'finalized' } });
    return record;
  }

  private checkLimits(tenant: string, size: number, contentType: string): void {
    const limits = this.dependencies.limitsOf(tenant);
    if (size > limits.maxBytes) throw new ParleyError('too_large', `the file has ${size} bytes; at most ${limits.maxBytes} are accepted`, { details: { maxBytes: limits.maxBytes } });
    if (!limits.types.includes(contentType)) throw new ParleyError('bad_request', `files of type ${contentType} are not accepted here`, { details: { reason: 'type_refused', accepted: limits.types } });
  }
}

/** The type of the bytes: by signature, else a declared text type for UTF-8 text, else unknown. */
async function sniff(head: Uint8Array, declared: string): Promise<string> {
  const detected = await fileTypeFromBuffer(head);
  if (detected) return detected.mime;
  return TEXT_TYPES.has(declared) && isText(head) ? declared : UNKNOWN_TYPE;
}

function isText(head: Uint8Array): boolean {
  if (head.includes(0)) return false;
  try {
    // `stream`: a character cut at the end of the head is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

export function toView(record: AttachmentRecord): AttachmentView {
  return {
    id: record.id,
    conversationId: record.conversationId,
    name: record.name,
    contentType: record.contentType,
    size: record.size,
    state: record.state,
    image: record.state === 'ready' && isRasterImage(record.contentType),
    createdAt: record.createdAt,
  };
}
