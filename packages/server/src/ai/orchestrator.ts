import type { Actor, GenerationText, OperationResult } from '@parley/protocol';
import type { GenerationContext } from './context.js';
import { ParleyError } from '../core/errors.js';
import type { HandoffSettings } from '../core/handoff-settings.js';
import type { Admission, AiJob, Assistants, Bus, JobQueue, QueueClosedUntil, Reaction, UsageBudgets } from '../core/ports.js';
import { conversationKeyString, type ConversationKey, type ConversationRecord } from '../core/types.js';
import { activeTraceparent, contextOf, inSpan, recordSpan, SpanKind } from '../observability/tracing.js';
import { AdmittedAnswers } from './admitted-answers.js';
import { AnswerReaction } from './answer-reaction.js';
import { HandoffSummaries } from './handoff-summary.js';
import { SentimentClassifiers } from './sentiment-classifier.js';
import { generationOfApproval } from './approvals.js';
import { failUnanswerable, Generation, type GenerationDependencies, type StopReason } from './generation.js';
import type { AssistantProfile } from './profiles.js';

const NO_ADMISSION: Admission = { committed: () => undefined, release: () => undefined };
// How long a committed message's reservation waits for this node's answer reaction before it is given back.
const RESERVATION_HOLD_MS = 10_000;

/**
 * Admits user messages in assistant conversations against the queue, the budget and the profile's
 * double-texting policy before they are committed; its answer reaction (`reaction`) then queues one job
 * per committed message. On worker nodes it runs the queued jobs, one Generation each (one at a time per
 * conversation, which the queue sees to), and keeps the running generations for stop, approvals and snapshots.
 */
export class Orchestrator implements Assistants {
  private readonly profiles: ReadonlyMap<string, AssistantProfile>;
  private readonly running = new Map<string, Generation>();
  private readonly admitted: AdmittedAnswers;
  /** Submits the job of each committed user message (see AnswerReaction); the composition root runs it. */
  readonly reaction: Reaction;
  /** Writes the summary agents read at a handoff. */
  readonly summaries: HandoffSummaries;
  /** Reads customers' sentiment with the profile's model, for profiles that ask for it. */
  readonly sentiment: SentimentClassifiers;
  private closing = false;
  /** Asks the support desk to hand a conversation to people (the model called `handoff_to_human`); set by the composition root. */
  onHandoff: ((key: ConversationKey, profileId: string, detail: string) => Promise<void>) | null = null;
  /** When a queued conversation's team opens, if it is closed now; set by the composition root (the support desk knows). */
  queueClosedUntil: QueueClosedUntil | null = null;

  constructor(
    profiles: AssistantProfile[],
    private readonly queue: JobQueue,
    private readonly budgets: UsageBudgets,
    private readonly dependencies: GenerationDependencies,
    private readonly onError: (error: unknown, generationId: string) => void,
    private readonly control: Pick<Bus, 'publishControl' | 'onControl'>,
  ) {
    this.profiles = new Map(profiles.map((profile) => [profile.id, profile]));
    this.summaries = new HandoffSummaries(dependencies.log, this.profiles, dependencies.createModel);
    this.sentiment = new SentimentClassifiers(this.profiles, dependencies.createModel);
    this.admitted = new AdmittedAnswers(RESERVATION_HOLD_MS, (reservation) => this.queue.cancel(reservation).catch((error: unknown) => this.onError(error, 'cancel')));
    this.reaction = new AnswerReaction({
      profiles: this.profiles,
      queue,
      log: dependencies.log,
      admitted: this.admitted,
      interrupt: (key, beforeSeq) => this.interrupt(key, beforeSeq).catch((error: unknown) => this.onError(error, 'interrupt')),
      answerable: (conversation) => this.answerable(conversation),
    });
    control.onControl((message) => {
      if (message.type === 'ai.stop') return this.stopLocal({ tenant: message.tenant, conversationId: message.conversationId }, message);
      if (message.type !== 'ai.approve') return;
      const key = { tenant: message.tenant, conversationId: message.conversationId };
      // A decision taken on another node, for a generation that runs here.
      if (!this.running.has(generationOfApproval(message.approvalId))) return;
      this.recordApproval(key, message.approvalId, message.approved, message.by).catch(async (error: unknown) => {
        await this.dependencies.approvalRegistry.reopen(key, message.approvalId).catch(() => undefined);
        this.onError(error, message.approvalId);
      });
    });
  }

  hasProfile(profileId: string): boolean {
    return this.profiles.has(profileId);
  }

  handoffSettings(profileId: string): HandoffSettings | null {
    return this.profiles.get(profileId)?.handoff ?? null;
  }

  async admit(conversation: ConversationRecord, sender: Actor): Promise<Admission> {
    // Only the assistant's conversations get answers; while people own one, its messages are theirs.
    if (!conversation.assistant || sender.kind !== 'user') return NO_ADMISSION;
    const answerable = await this.answerable(conversation);
    if (!answerable) return NO_ADMISSION;
    const profile = this.profiles.get(conversation.assistant);
    if (!profile) throw new ParleyError('unavailable', `assistant ${conversation.assistant} is not configured on this server`);
    const key = { tenant: conversation.tenant, conversationId: conversation.id };
    // Reserved from admission (not commit), so that two messages sent at once cannot both pass `reject`.
    const reservation = await this.queue.reserve(key, { exclusive: profile.doubleTexting === 'reject' });
    let refund: () => Promise<void>;
    try {
      refund = await this.budgets.charge(conversation.tenant, sender.id);
    } catch (error) {
      await this.queue.cancel(reservation).catch(() => undefined);
      throw error;
    }
    const admittedAt = Date.now();
    return {
      // The answer reaction, woken by the commit, takes the reservation and submits the job.
      committed: (event) => {
        const traceparent = activeTraceparent();
        this.admitted.hold(key, event.seq, { reservation, profileId: profile.id, admittedAt, ...(traceparent ? { traceparent } : {}), ...answerable });
      },
      release: () => {
        this.queue.cancel(reservation).catch((error: unknown) => this.onError(error, 'cancel'));
        refund().catch((error: unknown) => this.onError(error, 'refund'));
      },
    };
  }

  /**
   * Whether the assistant answers the conversation as it stands: in its own mode (or outside the support
   * desk), and while it waits in the queue of a team outside its business hours (`closedUntil`: when the team
   * opens). Null otherwise: people own it, or will as soon as an agent is free.
   */
  private async answerable(conversation: ConversationRecord): Promise<{ closedUntil?: number } | null> {
    if (!conversation.support || conversation.support.mode === 'assistant') return {};
    if (conversation.support.mode !== 'queued' || !this.queueClosedUntil) return null;
    const closedUntil = await this.queueClosedUntil(conversation);
    return closedUntil === null ? null : { closedUntil };
  }

  /** Stops the conversation's running generations wherever they run: here directly, elsewhere through the bus. */
  async stop(key: ConversationKey, generationId?: string, reason: 'user' | 'handoff' = 'user'): Promise<string[]> {
    const running = await this.snapshots(key);
    const ids = running.map((text) => text.generationId).filter((id) => !generationId || id === generationId);
    this.stopLocal(key, { ...(generationId ? { generationId } : {}), reason });
    if (ids.some((id) => !this.running.has(id))) {
      await this.control.publishControl({ type: 'ai.stop', tenant: key.tenant, conversationId: key.conversationId, ...(generationId ? { generationId } : {}), reason });
    }
    return ids;
  }

  /** Under `interrupt`: stops the answers to the conversation's earlier messages, wherever they run (not the one to `beforeSeq`, which may start meanwhile). */
  private async interrupt(key: ConversationKey, beforeSeq: number): Promise<void> {
    this.stopLocal(key, { beforeSeq, reason: 'interrupt' });
    await this.control.publishControl({ type: 'ai.stop', tenant: key.tenant, conversationId: key.conversationId, beforeSeq, reason: 'interrupt' });
  }

  private stopLocal(key: ConversationKey, which: { generationId?: string; beforeSeq?: number; reason?: StopReason }): void {
    for (const generation of this.generationsOf(conversationKeyString(key))) {
      if (which.generationId && generation.id !== which.generationId) continue;
      if (which.beforeSeq !== undefined && generation.trigger.seq >= which.beforeSeq) continue;
      generation.stop(which.reason);
    }
  }

  /**
   * The first decision, taken through any node, wins in the shared registry; the node that runs the
   * generation records it (`ai.approval_resolved`) and releases the tool call, here or after a control message.
   */
  async resolveApproval(key: ConversationKey, approvalId: string, approved: boolean, by: Actor): Promise<{ approved: boolean; duplicate: boolean }> {
    const { approvalRegistry } = this.dependencies;
    const outcome = await approvalRegistry.decide(key, approvalId, approved);
    if (outcome === 'unknown') throw new ParleyError('not_found', `no tool call waits for approval ${approvalId}`);
    if (outcome !== 'first') return { approved: outcome === 'approved', duplicate: true };
    if (!this.running.has(generationOfApproval(approvalId))) {
      await this.control.publishControl({ type: 'ai.approve', tenant: key.tenant, conversationId: key.conversationId, approvalId, approved, by });
      return { approved, duplicate: false };
    }
    try {
      return await this.recordApproval(key, approvalId, approved, by);
    } catch (error) {
      await approvalRegistry.reopen(key, approvalId).catch(() => undefined);
      throw error;
    }
  }

  private recordApproval(key: ConversationKey, approvalId: string, approved: boolean, by: Actor): Promise<{ approved: boolean; duplicate: boolean }> {
    const generationId = generationOfApproval(approvalId);
    const record = async () => {
      await this.dependencies.log.append({
        key,
        type: 'ai.approval_resolved',
        actor: by,
        data: { generationId, approvalId, approved },
        causation: { generationId, clientMsgId: `${approvalId}:resolved` },
      });
    };
    return this.dependencies.approvals.resolve(key, approvalId, approved, record);
  }

  async snapshots(key: ConversationKey): Promise<GenerationText[]> {
    // Generations of this node are read directly (always current); those of other nodes from the shared texts.
    const local = this.generationsOf(conversationKeyString(key)).map((generation) => generation.snapshot());
    const shared = await this.dependencies.texts.list(key);
    const localIds = new Set(local.map((text) => text.generationId));
    return [...local, ...shared.filter((text) => !localIds.has(text.generationId))];
  }

  /** Makes this node a worker: it runs queued jobs from now on. */
  work(): void {
    this.queue.work((job, context) => this.runJob(job, context));
  }

  /**
   * Shutdown: takes no further job and stops every running generation (each still ends with its terminal
   * event). Jobs still waiting stay in a shared queue for other workers; an in-process queue loses them.
   */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.admitted.clear();
    const idle = this.queue.stopWorking();
    for (const generation of this.running.values()) generation.stop('shutdown');
    await idle;
  }

  async inspectContext(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null> {
    const running = this.running.get(generationId);
    if (running?.builtContext && conversationKeyString(running.key) === conversationKeyString(key)) return contextView(generationId, running.builtContext);
    return this.dependencies.contexts.get(key, generationId);
  }

  /** Runs a job as the `parley.ai.generation` span, in the trace of the message it answers, after its `parley.ai.queue` wait. */
  private runJob(job: AiJob, context: { reclaimed: boolean; lost: AbortSignal }): Promise<void> {
    const parent = contextOf(job.traceparent);
    const attributes = { 'parley.tenant': job.tenant, 'parley.conversation.id': job.conversationId, 'parley.ai.generation_id': job.id, 'parley.ai.profile': job.profileId, 'parley.ai.reclaimed': context.reclaimed };
    recordSpan('parley.ai.queue', job.admittedAt, { parent, attributes });
    return inSpan('parley.ai.generation', { kind: SpanKind.CONSUMER, parent, attributes }, () => this.runGeneration(job, context));
  }

  private async runGeneration(job: AiJob, { reclaimed, lost }: { reclaimed: boolean; lost: AbortSignal }): Promise<void> {
    const key = { tenant: job.tenant, conversationId: job.conversationId };
    if (!reclaimed) this.dependencies.observer.queued?.(Math.max(0, Date.now() - job.admittedAt) / 1000);
    const [trigger] = await this.dependencies.log.readAfter(key, job.triggerSeq - 1, 1);
    if (trigger?.seq !== job.triggerSeq) throw new Error(`AI job ${job.id}: message ${job.triggerSeq} of ${conversationKeyString(key)} not found`);
    // Taken over while the trigger was read: the new holder answers; starting here would end its answer.
    if (lost.aborted) return;
    const profile = this.profiles.get(job.profileId);
    if (!profile) return failUnanswerable(this.dependencies.log, key, trigger, job, 'unavailable', `assistant ${job.profileId} is not configured on the worker`);
    const generation = new Generation(key, profile, trigger, this.dependencies, job.id, job.closedUntil);
    this.running.set(generation.id, generation);
    // Another worker took the job over (this one was presumed dead): it ends the answer, this one stops.
    const stop = () => generation.stop();
    lost.addEventListener('abort', stop, { once: true });
    if (this.closing) generation.stop();
    try {
      await generation.run();
      await this.budgets.addTokens(key.tenant, trigger.actor.id, generation.outputTokens);
    } catch (error) {
      this.onError(error, generation.id);
    } finally {
      lost.removeEventListener('abort', stop);
      this.running.delete(generation.id);
      this.keepContext(generation);
    }
    // After the answer's terminal event, and once it no longer counts as running: the handoff waits for neither.
    const handoff = generation.handoffRequested;
    if (handoff !== null && this.onHandoff) await this.onHandoff(key, job.profileId, handoff).catch((error: unknown) => this.onError(error, generation.id));
  }

  private keepContext(generation: Generation): void {
    const context = generation.builtContext;
    if (!context) return;
    this.dependencies.contexts.put(generation.key, generation.id, contextView(generation.id, context)).catch((error: unknown) => this.onError(error, generation.id));
  }

  private generationsOf(name: string): Generation[] {
    return [...this.running.values()].filter((generation) => conversationKeyString(generation.key) === name);
  }
}

/** A generation's context as `ai.context` returns it. */
function contextView(generationId: string, context: GenerationContext): OperationResult<'ai.context'> {
  const { system, messages, estimatedTokens, historyEvents, providers, passages } = context;
  return {
    generationId, system, messages: messages.map(({ role, content }) => ({ role, content })), estimatedTokens, historyEvents, providers,
    ...(passages.length > 0 ? { knowledge: passages } : {}),
  };
}
