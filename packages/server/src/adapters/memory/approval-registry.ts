import type { ApprovalRegistry } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** Approvals of a single process: entry -> 'pending' | 'approved' | 'denied', dropped after their time. */
export class MemoryApprovalRegistry implements ApprovalRegistry {
  private readonly entries = new Map<string, { state: 'pending' | 'approved' | 'denied'; expiresAt: number }>();

  async open(key: ConversationKey, approvalId: string, ttlMs: number): Promise<void> {
    this.sweep();
    this.entries.set(entryKey(key, approvalId), { state: 'pending', expiresAt: Date.now() + ttlMs });
  }

  async decide(key: ConversationKey, approvalId: string, approved: boolean): Promise<'first' | 'approved' | 'denied' | 'unknown'> {
    const entry = this.entries.get(entryKey(key, approvalId));
    if (!entry || entry.expiresAt < Date.now()) return 'unknown';
    if (entry.state !== 'pending') return entry.state;
    entry.state = approved ? 'approved' : 'denied';
    return 'first';
  }

  async reopen(key: ConversationKey, approvalId: string): Promise<void> {
    const entry = this.entries.get(entryKey(key, approvalId));
    if (entry) entry.state = 'pending';
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.entries) if (entry.expiresAt < now) this.entries.delete(id);
  }
}

function entryKey(key: ConversationKey, approvalId: string): string {
  return `${conversationKeyString(key)}#${approvalId}`;
}
