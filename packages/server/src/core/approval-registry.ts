import type { ConversationKey } from './types.js';

/**
 * Tool calls waiting for approval, shared by every node: the first decision wins wherever it is sent, and
 * later ones learn it. The node running the generation opens the entry; decisions may come through any node.
 */
export interface ApprovalRegistry {
  /** Marks `approvalId` as waiting for a decision, for at most `ttlMs`. */
  open(key: ConversationKey, approvalId: string, ttlMs: number): Promise<void>;
  /** `first` when this decision is the first, the earlier decision otherwise, `unknown` when nothing waits under that id. */
  decide(key: ConversationKey, approvalId: string, approved: boolean): Promise<'first' | 'approved' | 'denied' | 'unknown'>;
  /** Makes a first decision undone (it could not be recorded), so that it can be sent again. */
  reopen(key: ConversationKey, approvalId: string): Promise<void>;
}
