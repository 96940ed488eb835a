import type { ApiScope } from '@parley/protocol';
import type { ApiKeyRecord, KeyStore } from '../../core/ports.js';
import type { SqlDatabase } from './sql.js';

interface KeyRow {
  id: string;
  tenant: string;
  name: string;
  scopes: string[];
  secret_hash: string;
  created_at: string | number;
  created_by: string;
  revoked_at: string | number | null;
}

const KEY_COLUMNS = 'id, tenant, name, scopes, secret_hash, created_at, created_by, revoked_at';

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    scopes: row.scopes as ApiScope[],
    secretHash: row.secret_hash,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/** API keys in PostgreSQL (or PGlite), beside the conversations. */
export class PostgresKeyStore implements KeyStore {
  constructor(private readonly db: SqlDatabase) {}

  async createKey(record: ApiKeyRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO parley_api_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [record.id, record.tenant, record.name, record.scopes, record.secretHash, record.createdAt, record.createdBy, record.revokedAt],
    );
  }

  async findKey(id: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM parley_api_keys WHERE id = $1`, [id]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  async listKeys(tenant: string): Promise<ApiKeyRecord[]> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM parley_api_keys WHERE tenant = $1 ORDER BY created_at DESC, id`, [tenant]);
    return rows.map(toKey);
  }

  async revokeKey(tenant: string, id: string, at: number): Promise<boolean> {
    const { rows } = await this.db.query(
      'UPDATE parley_api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant = $1 AND id = $2 RETURNING id',
      [tenant, id, at],
    );
    return rows.length > 0;
  }
}
