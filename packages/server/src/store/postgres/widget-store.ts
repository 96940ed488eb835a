import type { WidgetKeyRecord, WidgetSecretRecord, WidgetStore } from '../../core/ports.js';
import type { SqlDatabase } from './sql.js';

interface KeyRow {
  key: string;
  tenant: string;
  name: string;
  allowed_origins: string[];
  created_at: string | number;
  created_by: string;
  revoked_at: string | number | null;
}

const KEY_COLUMNS = 'key, tenant, name, allowed_origins, created_at, created_by, revoked_at';

function toKey(row: KeyRow): WidgetKeyRecord {
  return {
    key: row.key,
    tenant: row.tenant,
    name: row.name,
    allowedOrigins: row.allowed_origins,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/** Widget keys and widget secrets in PostgreSQL (or PGlite), beside the conversations. */
export class PostgresWidgetStore implements WidgetStore {
  constructor(private readonly db: SqlDatabase) {}

  async createKey(record: WidgetKeyRecord, maxPerTenant: number): Promise<boolean> {
    // One statement, so that two concurrent creations cannot both pass the count.
    const { rows } = await this.db.query(
      `INSERT INTO parley_widget_keys (${KEY_COLUMNS})
       SELECT $1, $2, $3, $4, $5, $6, $7
       WHERE (SELECT count(*) FROM parley_widget_keys WHERE tenant = $2) < $8
       RETURNING key`,
      [record.key, record.tenant, record.name, record.allowedOrigins, record.createdAt, record.createdBy, record.revokedAt, maxPerTenant],
    );
    return rows.length > 0;
  }

  async findKey(key: string): Promise<WidgetKeyRecord | null> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM parley_widget_keys WHERE key = $1`, [key]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  async listKeys(tenant: string): Promise<WidgetKeyRecord[]> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM parley_widget_keys WHERE tenant = $1 ORDER BY created_at DESC, key`, [tenant]);
    return rows.map(toKey);
  }

  async updateKey(tenant: string, key: string, changes: { name?: string; allowedOrigins?: string[] }): Promise<WidgetKeyRecord | null> {
    const { rows } = await this.db.query<KeyRow>(
      `UPDATE parley_widget_keys SET name = COALESCE($3, name), allowed_origins = COALESCE($4, allowed_origins)
       WHERE tenant = $1 AND key = $2 AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
      [tenant, key, changes.name ?? null, changes.allowedOrigins ?? null],
    );
    return rows[0] ? toKey(rows[0]) : null;
  }

  async revokeKey(tenant: string, key: string, at: number): Promise<boolean> {
    const { rows } = await this.db.query(
      'UPDATE parley_widget_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant = $1 AND key = $2 RETURNING key',
      [tenant, key, at],
    );
    return rows.length > 0;
  }

  async getSecret(tenant: string): Promise<WidgetSecretRecord | null> {
    const { rows } = await this.db.query<{ secret: string; created_at: string | number }>('SELECT secret, created_at FROM parley_widget_secrets WHERE tenant = $1', [tenant]);
    return rows[0] ? { tenant, secret: rows[0].secret, createdAt: Number(rows[0].created_at) } : null;
  }

  async setSecret(record: WidgetSecretRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO parley_widget_secrets (tenant, secret, created_at) VALUES ($1, $2, $3)
       ON CONFLICT (tenant) DO UPDATE SET secret = EXCLUDED.secret, created_at = EXCLUDED.created_at`,
      [record.tenant, record.secret, record.createdAt],
    );
  }

  async deleteSecret(tenant: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_widget_secrets WHERE tenant = $1 RETURNING tenant', [tenant]);
    return rows.length > 0;
  }
}
