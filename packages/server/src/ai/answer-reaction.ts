import { createHash } from 'node:crypto';
import type { ConversationEvent } from '@parley/protocol';
import type { AiJob, JobQueue, Reaction } from '../core/ports.js';
import type { ConversationKey, ConversationRecord } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { AdmittedAnswers } from './admitted-answers.js';
import { failUnanswerable } from './generation.js';
import type { AssistantProfile } from './profiles.js';

/** The answer reaction's name: its cursors are stored under it. */
export const ANSWER_REACTION = 'ai-answers';

/**
 * The id of the job (and generation) answering message `seq`: the same on every node and every delivery,
 * so that a message handed to the reaction twice is answered once. A UUID in form (version 8, from SHA-256).
 */
export function answerJobId(key: ConversationKey, seq: number): string {
  const hex = createHash('sha256').update(`${key.tenant}\u0000${key.conversationId}\u0000${seq}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** What the answer reaction needs from the orchestrator. */
export interface AnswerReactionDependencies {
  profiles: ReadonlyMap<string, AssistantProfile>;
  queue: JobQueue;
  log: ConversationLog;
  admitted: AdmittedAnswers;
  /** Under the `interrupt` policy: stops the answers to the conversation's messages before `beforeSeq`, wherever they run. */
  interrupt(key: ConversationKey, beforeSeq: number): void;
  /** Whether the assistant answers the conversation as it stands (see Orchestrator.answerable). */
  answerable(conversation: ConversationRecord): Promise<{ closedUntil?: number } | null>;
}

/**
 * Submits the answer job of every user message in a conversation with an assistant. The message was
 * admitted before its commit (queue place, double-texting policy, budget); this node's admission hands its
 * reservation over, and without one (the admitting node died after the commit, or another node's reaction
 * got there first) the job is queued all the same. A failed submit rejects, and the reaction retries it.
 */
export class AnswerReaction implements Reaction {
  readonly name = ANSWER_REACTION;

  constructor(private readonly dependencies: AnswerReactionDependencies) {}

  async handle(key: ConversationKey, events: ConversationEvent[]): Promise<void> {
    for (const event of events) {
      if (event.type === 'message.created' && event.actor.kind === 'user') await this.answer(key, event);
    }
  }

  private async answer(key: ConversationKey, message: ConversationEvent): Promise<void> {
    const { admitted, log, profiles, queue } = this.dependencies;
    const held = admitted.take(key, message.seq);
    // A message this node admitted was admitted in a mode the assistant answers, read fresh by the send; any
    // other is read fresh here. A handoff in between is caught where it matters: `ai.started` is refused
    // outside the modes its admission allowed.
    const conversation = held ? null : await log.get(key);
    const answerable = held ? (held.closedUntil !== undefined ? { closedUntil: held.closedUntil } : {}) : conversation ? await this.dependencies.answerable(conversation) : null;
    if (!answerable) return;
    const profileId = held?.profileId ?? conversation?.assistant;
    if (!profileId) return;
    const traceparent = held?.traceparent ?? message.causation?.traceparent;
    const job: AiJob = {
      id: answerJobId(key, message.seq),
      tenant: key.tenant,
      conversationId: key.conversationId,
      triggerSeq: message.seq,
      profileId,
      admittedAt: held?.admittedAt ?? message.ts,
      ...(traceparent ? { traceparent } : {}),
      ...(answerable.closedUntil !== undefined ? { closedUntil: answerable.closedUntil } : {}),
    };
    const profile = profiles.get(profileId);
    if (!profile) {
      if (held) await queue.cancel(held.reservation);
      return failUnanswerable(log, key, message, job, 'unavailable', `assistant ${profileId} is not configured on this server`);
    }
    let queued: boolean;
    try {
      queued = await queue.submit(job, held?.reservation);
    } catch (error) {
      // Kept for the retry: the reservation was not used.
      if (held) admitted.hold(key, message.seq, held);
      throw error;
    }
    // The new job waits behind the running answers of the conversation: under `interrupt` they stop.
    if (queued && profile.doubleTexting === 'interrupt') this.dependencies.interrupt(key, message.seq);
  }
}
