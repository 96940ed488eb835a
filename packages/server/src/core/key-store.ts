import type { ApiScope } from '@parley/protocol';

/** A tenant API key as stored: never its secret, only the secret's SHA-256. */
export interface ApiKeyRecord {
  id: string;
  tenant: string;
  name: string;
  scopes: ApiScope[];
  /** Hex SHA-256 of the secret part of the key. */
  secretHash: string;
  createdAt: number;
  /** Who created it: a user id, another key's id, or `cli`. */
  createdBy: string;
  revokedAt: number | null;
}

/** Storage of tenant API keys. */
export interface KeyStore {
  /** Stores a new key; ids are unique across tenants. */
  createKey(record: ApiKeyRecord): Promise<void>;
  /** The key with this id, revoked or not, in any tenant (the caller checks the tenant). */
  findKey(id: string): Promise<ApiKeyRecord | null>;
  /** The tenant's keys, newest first, revoked ones included. */
  listKeys(tenant: string): Promise<ApiKeyRecord[]>;
  /** Marks the tenant's key revoked; false when it has no such key. A revoked key stays listed. */
  revokeKey(tenant: string, id: string, at: number): Promise<boolean>;
}
