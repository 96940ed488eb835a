import type { AttachmentRecord, AttachmentStore } from '../../core/attachment-store.js';
import type { SqlDatabase } from './sql.js';

interface AttachmentRow {
  tenant: string;
  conversation: string;
  id: string;
  uploaded_by: string;
  name: string;
  content_type: string;
  size: string | number;
  state: 'pending' | 'ready';
  storage_key: string;
  created_at: string | number;
}

const COLUMNS = 'tenant, conversation, id, uploaded_by, name, content_type, size, state, storage_key, created_at';

function toRecord(row: AttachmentRow): AttachmentRecord {
  return {
    tenant: row.tenant,
    conversationId: row.conversation,
    id: row.id,
    uploadedBy: row.uploaded_by,
    name: row.name,
    contentType: row.content_type,
    size: Number(row.size),
    state: row.state,
    storageKey: row.storage_key,
    createdAt: Number(row.created_at),
  };
}

/** Attachment records in PostgreSQL (or PGlite), keyed by tenant and conversation so that no lookup crosses them. */
export class PostgresAttachmentStore implements AttachmentStore {
  constructor(private readonly db: SqlDatabase) {}

  async create(record: AttachmentRecord): Promise<void> {
    await this.db.query(`INSERT INTO parley_attachments (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [
      record.tenant,
      record.conversationId,
      record.id,
      record.uploadedBy,
      record.name,
      record.contentType,
      record.size,
      record.state,
      record.storageKey,
      record.createdAt,
    ]);
  }

  async get(tenant: string, conversationId: string, id: string): Promise<AttachmentRecord | null> {
    const { rows } = await this.db.query<AttachmentRow>(`SELECT ${COLUMNS} FROM parley_attachments WHERE tenant = $1 AND conversation = $2 AND id = $3`, [tenant, conversationId, id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async markReady(tenant: string, conversationId: string, id: string, checked: { size: number; contentType: string }): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE parley_attachments SET state = 'ready', size = $4, content_type = $5
       WHERE tenant = $1 AND conversation = $2 AND id = $3 AND state = 'pending' RETURNING id`,
      [tenant, conversationId, id, checked.size, checked.contentType],
    );
    return rows.length > 0;
  }

  async delete(tenant: string, conversationId: string, id: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_attachments WHERE tenant = $1 AND conversation = $2 AND id = $3 RETURNING id', [tenant, conversationId, id]);
    return rows.length > 0;
  }
}
