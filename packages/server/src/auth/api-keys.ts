import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { effectiveScopes, type ApiScope } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { ApiKeyRecord, Bus, KeyStore } from '../core/ports.js';
import type { Principal } from '../core/types.js';

/** Every key starts with this, so that secret scanners and people recognize it. */
export const API_KEY_PREFIX = 'psk_';
// psk_<16-character id>.<32-character secret>: the id is public (listed, logged); the secret has 192 random bits.
const KEY_PATTERN = /^psk_([a-z0-9]{16})\.([A-Za-z0-9_-]{32})$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// A verified key is trusted this long on a node; a revocation also reaches every node at once over the bus.
const CACHE_MS = 10_000;
const CACHE_MAX = 10_000;

/** A key as listed: everything but its secret. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiScope[];
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
}

/**
 * Tenant API keys: created with scopes and shown once, stored as the SHA-256 of their secret (a slow
 * password hash would cost every request tens of ms; 192 random bits need no stretching), revocable,
 * listed without secrets. A key acts as a `service` principal of its tenant.
 */
export class ApiKeys {
  private readonly verified = new Map<string, { record: ApiKeyRecord; at: number }>();

  constructor(
    private readonly store: KeyStore,
    /** Tells every node of a revocation; null in a CLI process (nodes then forget the key within CACHE_MS). */
    private readonly control: Pick<Bus, 'publishControl' | 'onControl'> | null,
  ) {
    control?.onControl((message) => {
      if (message.type === 'apikey.revoked') this.verified.delete(message.keyId);
    });
  }

  /** Whether a bearer credential is shaped like an API key (rather than a JWT). */
  static looksLikeKey(credential: string): boolean {
    return credential.startsWith(API_KEY_PREFIX);
  }

  /** Creates a key; the returned `key` is the only time its secret is seen. */
  async create(tenant: string, input: { name: string; scopes: ApiScope[] }, createdBy: string): Promise<{ key: string; view: ApiKeyView }> {
    const id = randomId();
    const secret = randomBytes(24).toString('base64url');
    const record: ApiKeyRecord = { id, tenant, name: input.name, scopes: [...new Set(input.scopes)], secretHash: sha256(secret), createdAt: Date.now(), createdBy, revokedAt: null };
    await this.store.createKey(record);
    return { key: `${API_KEY_PREFIX}${id}.${secret}`, view: toView(record) };
  }

  async list(tenant: string): Promise<ApiKeyView[]> {
    return (await this.store.listKeys(tenant)).map(toView);
  }

  /** Revokes the tenant's key on every node (the bus tells the others); `not_found` for another tenant's id. */
  async revoke(tenant: string, id: string): Promise<void> {
    if (!(await this.store.revokeKey(tenant, id, Date.now()))) throw new ParleyError('not_found', `no API key ${id}`);
    this.verified.delete(id);
    await this.control?.publishControl({ type: 'apikey.revoked', tenant, keyId: id }).catch(() => undefined);
  }

  /** The service principal of a valid, unrevoked key; `unauthorized` otherwise (without saying which part was wrong). */
  async verify(credential: string): Promise<Principal> {
    const match = KEY_PATTERN.exec(credential);
    if (!match) throw new ParleyError('unauthorized', 'malformed API key');
    const [, id, secret] = match as unknown as [string, string, string];
    const record = await this.load(id);
    if (!record || record.revokedAt !== null || !sameHash(record.secretHash, sha256(secret))) {
      throw new ParleyError('unauthorized', 'invalid or revoked API key');
    }
    return { kind: 'service', tenant: record.tenant, userId: record.id, roles: [], scopes: effectiveScopes(record.scopes), expiresAt: Number.MAX_SAFE_INTEGER };
  }

  private async load(id: string): Promise<ApiKeyRecord | null> {
    const cached = this.verified.get(id);
    if (cached && performance.now() - cached.at < CACHE_MS) return cached.record;
    const record = await this.store.findKey(id);
    if (record && record.revokedAt === null) {
      if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(id, { record, at: performance.now() });
    }
    return record;
  }
}

function randomId(): string {
  const bytes = randomBytes(16);
  return Array.from(bytes, (byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function toView(record: ApiKeyRecord): ApiKeyView {
  const { id, name, scopes, createdAt, createdBy, revokedAt } = record;
  return { id, name, scopes, createdAt, createdBy, revokedAt };
}
