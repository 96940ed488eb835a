/** An attachment as stored: a file of one conversation, `pending` until `finalize` checked it, then `ready`. */
export interface AttachmentRecord {
  tenant: string;
  conversationId: string;
  id: string;
  /** The user id (or API key id) that created it. */
  uploadedBy: string;
  /** The file name as the uploader gave it: shown, never used as a path. */
  name: string;
  /** The type the uploader declared; the sniffed one replaces it at finalize. */
  contentType: string;
  /** Declared at creation, measured at finalize. */
  size: number;
  state: 'pending' | 'ready';
  /** The storage key of its bytes. */
  storageKey: string;
  createdAt: number;
}

/** Attachment records, beside the conversations they belong to. */
export interface AttachmentStore {
  create(record: AttachmentRecord): Promise<void>;
  /** The attachment of that tenant and conversation, or null (another tenant's or conversation's is never returned). */
  get(tenant: string, conversationId: string, id: string): Promise<AttachmentRecord | null>;
  /** Marks a pending attachment ready with its measured size and sniffed type; false when it was not pending. */
  markReady(tenant: string, conversationId: string, id: string, checked: { size: number; contentType: string }): Promise<boolean>;
  /** Removes the record; false when there was none. */
  delete(tenant: string, conversationId: string, id: string): Promise<boolean>;
}
