import { randomBytes, randomInt } from 'node:crypto';
import { MAX_WIDGET_KEYS_PER_TENANT, WIDGET_KEY_PREFIX, type WidgetKeyView, type WidgetSecretResult, type WidgetSecretState } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { WidgetAdmin, WidgetKeyRecord, WidgetStore } from '../core/ports.js';

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_LENGTH = 24;
/** Widget secrets start with this, so that secret scanners and people recognize one. */
export const WIDGET_SECRET_PREFIX = 'pws_';

/**
 * Widget keys and the widget secret of a tenant (the routes authorize: admins, or a key with the widgets
 * scopes). A widget key is public (it sits in the site's HTML): what it grants is bounded by its allowed origins
 * and the guest-token rate limits, not by secrecy.
 */
export class WidgetKeys implements WidgetAdmin {
  constructor(private readonly store: WidgetStore) {}

  async createKey(tenant: string, createdBy: string, input: { name: string; allowedOrigins: string[] }): Promise<WidgetKeyView> {
    const record: WidgetKeyRecord = { key: newKey(), tenant, name: input.name, allowedOrigins: unique(input.allowedOrigins), createdAt: Date.now(), createdBy, revokedAt: null };
    if (!(await this.store.createKey(record, MAX_WIDGET_KEYS_PER_TENANT))) {
      throw new ParleyError('conflict', `a tenant has at most ${MAX_WIDGET_KEYS_PER_TENANT} widget keys (revoked ones count)`);
    }
    return toView(record);
  }

  async listKeys(tenant: string): Promise<WidgetKeyView[]> {
    return (await this.store.listKeys(tenant)).map(toView);
  }

  async getKey(tenant: string, key: string): Promise<WidgetKeyView> {
    const record = await this.store.findKey(key);
    if (!record || record.tenant !== tenant) throw notFound(key);
    return toView(record);
  }

  async updateKey(tenant: string, key: string, changes: { name?: string | undefined; allowedOrigins?: string[] | undefined }): Promise<WidgetKeyView> {
    const updated = await this.store.updateKey(tenant, key, {
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.allowedOrigins !== undefined ? { allowedOrigins: unique(changes.allowedOrigins) } : {}),
    });
    if (updated) return toView(updated);
    const existing = await this.store.findKey(key);
    if (existing && existing.tenant === tenant) throw new ParleyError('conflict', `widget key ${key} is revoked`);
    throw notFound(key);
  }

  /** Revokes the key: the token route refuses it at once (it reads the store every time). */
  async revokeKey(tenant: string, key: string): Promise<void> {
    if (!(await this.store.revokeKey(tenant, key, Date.now()))) throw notFound(key);
  }

  async secretState(tenant: string): Promise<WidgetSecretState> {
    const record = await this.store.getSecret(tenant);
    return { configured: record !== null, createdAt: record?.createdAt ?? null };
  }

  /** Sets a new secret (replacing any); this answer is the only time it is shown. */
  async rotateSecret(tenant: string): Promise<WidgetSecretResult> {
    const record = { tenant, secret: `${WIDGET_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`, createdAt: Date.now() };
    await this.store.setSecret(record);
    return { secret: record.secret, createdAt: record.createdAt };
  }

  /** Turns identity verification off: the widget then mints guest tokens only. */
  async deleteSecret(tenant: string): Promise<void> {
    if (!(await this.store.deleteSecret(tenant))) throw new ParleyError('not_found', 'this tenant has no widget secret');
  }
}

function newKey(): string {
  return WIDGET_KEY_PREFIX + Array.from({ length: KEY_LENGTH }, () => KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]).join('');
}

function unique(origins: string[]): string[] {
  return [...new Set(origins)];
}

function notFound(key: string): ParleyError {
  return new ParleyError('not_found', `no widget key ${key}`);
}

function toView(record: WidgetKeyRecord): WidgetKeyView {
  const { key, name, allowedOrigins, createdAt, createdBy, revokedAt } = record;
  return { key, name, allowedOrigins, createdAt, createdBy, revokedAt };
}
