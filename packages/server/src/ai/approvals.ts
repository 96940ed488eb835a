import { ParleyError } from '../core/errors.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';

interface Pending {
  conversation: string;
  decide: (approved: boolean) => void;
}

/** The id of the approval of one tool call: it names the generation, so any node can find where it runs. */
export function approvalIdOf(generationId: string, toolCallId: string): string {
  return `${generationId}:${toolCallId}`;
}

/** The generation an approval id belongs to. */
export function generationOfApproval(approvalId: string): string {
  return approvalId.slice(0, approvalId.indexOf(':'));
}

// Decisions remembered to answer re-sent approvals; older ones are forgotten first.
const REMEMBERED_DECISIONS = 10_000;

/**
 * Tool calls waiting for a person's approval. The first decision resolves the wait and is remembered;
 * later ones get that decision back (`duplicate`), so a tool approved twice still runs once.
 */
export class Approvals {
  private readonly pending = new Map<string, Pending>();
  private readonly decided = new Map<string, { conversation: string; approved: boolean }>();
  /** Decisions being recorded: concurrent duplicates wait for them. */
  private readonly recording = new Map<string, { conversation: string; approved: Promise<boolean> }>();

  /** Waits for the decision on `approvalId`; false (denied) when `timeoutMs` passes or `signal` aborts. */
  wait(key: ConversationKey, approvalId: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (approved: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(approvalId);
        resolve(approved);
      };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(approvalId, { conversation: conversationKeyString(key), decide: finish });
    });
  }

  /**
   * Records a decision; `record` makes it durable before the waiting tool call is released. Concurrent and
   * later decisions get the first one back; if recording fails, nothing is decided and it may be sent again.
   */
  async resolve(key: ConversationKey, approvalId: string, approved: boolean, record: () => Promise<void>): Promise<{ approved: boolean; duplicate: boolean }> {
    const conversation = conversationKeyString(key);
    const earlier = this.decided.get(approvalId) ?? this.recording.get(approvalId);
    if (earlier?.conversation === conversation) return { approved: await earlier.approved, duplicate: true };
    const pending = this.pending.get(approvalId);
    if (!pending || pending.conversation !== conversation) throw new ParleyError('not_found', `no tool call waits for approval ${approvalId}`);
    const recorded = record().then(() => approved);
    this.recording.set(approvalId, { conversation, approved: recorded });
    try {
      await recorded;
    } finally {
      this.recording.delete(approvalId);
    }
    this.remember(approvalId, { conversation, approved });
    // The wait may have ended meanwhile (Stop, timeout): then the decision is recorded but changes nothing.
    this.pending.get(approvalId)?.decide(approved);
    return { approved, duplicate: false };
  }

  private remember(approvalId: string, decision: { conversation: string; approved: boolean }): void {
    this.decided.set(approvalId, decision);
    if (this.decided.size > REMEMBERED_DECISIONS) this.decided.delete(this.decided.keys().next().value!);
  }
}
