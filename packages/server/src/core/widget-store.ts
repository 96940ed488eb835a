/** A public widget key as stored: which sites may embed the tenant's chat with it. */
export interface WidgetKeyRecord {
  /** The key itself (`pwk_...`): public, so stored as it is. */
  key: string;
  tenant: string;
  name: string;
  /** Exact origins (`https://www.example.com`) of the sites that may embed the widget and mint guest tokens. */
  allowedOrigins: string[];
  createdAt: number;
  /** Who created it: a user id or an API key's id. */
  createdBy: string;
  revokedAt: number | null;
}

/** The tenant's identity-verification secret: claimed user ids must come with their HMAC under it. */
export interface WidgetSecretRecord {
  tenant: string;
  /** Kept as it is (not hashed): the server computes HMACs with it. */
  secret: string;
  createdAt: number;
}

/** Storage of widget keys and the widget secret of each tenant. */
export interface WidgetStore {
  /** Stores a new key; false (nothing stored) when the tenant already has `maxPerTenant` keys. */
  createKey(record: WidgetKeyRecord, maxPerTenant: number): Promise<boolean>;
  /** The key, revoked or not, of any tenant (the token route finds the tenant from it). */
  findKey(key: string): Promise<WidgetKeyRecord | null>;
  /** The tenant's keys, newest first, revoked ones included. */
  listKeys(tenant: string): Promise<WidgetKeyRecord[]>;
  /** Changes the name and/or origins of the tenant's unrevoked key; null when it has no such key. */
  updateKey(tenant: string, key: string, changes: { name?: string; allowedOrigins?: string[] }): Promise<WidgetKeyRecord | null>;
  /** Marks the tenant's key revoked (it stays listed); false when it has no such key. */
  revokeKey(tenant: string, key: string, at: number): Promise<boolean>;
  /** The tenant's widget secret, or null when it verifies no identities. */
  getSecret(tenant: string): Promise<WidgetSecretRecord | null>;
  /** Sets (or replaces) the tenant's secret. */
  setSecret(record: WidgetSecretRecord): Promise<void>;
  /** Removes the tenant's secret; false when it had none. */
  deleteSecret(tenant: string): Promise<boolean>;
}
