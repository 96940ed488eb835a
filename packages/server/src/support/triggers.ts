import Sentiment from 'sentiment';
import { parseEvent, writtenText, type ConversationEvent } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import { matchingRule } from '../core/handoff-settings.js';
import type { Assistants, Reaction } from '../core/ports.js';
import { sentimentLabel, type SentimentClassifier, type SentimentReading } from '../core/sentiment.js';
import type { ConversationKey } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { SupportService } from './service.js';

/** The triggers reaction's name: its cursors are stored under it. */
export const TRIGGERS_REACTION = 'support-triggers';
// Recent events read to count the failed answers in a row.
const RECENT_EVENTS = 50;
const analyzer = new Sentiment();

/** How a message reads lexically: the `sentiment` (AFINN) comparative score, per word, roughly -5 to 5. */
export function analyzeSentiment(text: string): SentimentReading {
  const score = analyzer.analyze(text).comparative;
  return { score, label: sentimentLabel(score), analyzer: 'afinn' };
}

/** How the triggers read sentiment with a model, where a profile asks for it. */
export interface ModelSentiment {
  classify: SentimentClassifier;
  /** The model failed: the message was read lexically instead. */
  failed(error: unknown, profileId: string): void;
}

/**
 * Hands a conversation to people when its assistant profile says so: a content rule matches a customer's
 * message, the message reads too negative, or answers failed several times in a row. Each customer message's
 * sentiment is recorded for agents (`support.sentiment`, staff only), read lexically or, where the profile
 * says so, by its model (`modelSentiment`, lexically when the model fails). Hands off only while the assistant
 * has the conversation: queued or with an agent, nothing re-triggers (no handoff loops).
 */
export class TriggersReaction implements Reaction {
  readonly name = TRIGGERS_REACTION;

  constructor(
    private readonly log: ConversationLog,
    private readonly assistants: Assistants,
    private readonly support: SupportService,
    private readonly modelSentiment: ModelSentiment | null = null,
  ) {}

  async handle(key: ConversationKey, events: ConversationEvent[]): Promise<void> {
    for (const event of events) {
      if (event.type === 'message.created' && event.actor.kind === 'user') await this.customerWrote(key, event);
      else if (event.type === 'ai.failed') await this.answerFailed(key, event);
    }
  }

  private async customerWrote(key: ConversationKey, event: ConversationEvent): Promise<void> {
    const parsed = parseEvent(event);
    if (!parsed.ok || parsed.event.type !== 'message.created') return;
    // A message of parts counts by its text parts (a screenshot alone says nothing to read).
    const text = writtenText(parsed.event.data.content);
    if (text === '') return;
    const conversation = await this.log.get(key);
    const settings = conversation?.assistant ? this.assistants.handoffSettings(conversation.assistant) : null;
    if (!conversation?.support || !settings) return;
    const sentiment = await this.read(conversation.assistant!, settings.sentimentAnalyzer, text);
    // Recorded once per message (idempotent on a redelivery), whatever the mode.
    await this.log.appendStaff(key, {
      type: 'support.sentiment',
      actor: { kind: 'system', id: 'sentiment' },
      data: { messageSeq: event.seq, score: sentiment.score, label: sentiment.label, analyzer: sentiment.analyzer },
      causation: { clientMsgId: `sentiment:${event.seq}`, replyTo: event.seq },
    });
    // The label the inbox shows changes rarely: no write when it stays the same.
    if (conversation.support.sentiment !== sentiment.label) await this.log.transition(key, [], () => ({ patch: { sentiment: sentiment.label }, events: [] }));
    if (conversation.support.mode !== 'assistant') return;
    const rule = matchingRule(settings, text);
    if (rule !== null) return this.handOff(key, 'rule', rule);
    if (settings.sentimentBelow !== null && sentiment.score < settings.sentimentBelow) return this.handOff(key, 'sentiment', `score ${sentiment.score.toFixed(2)} (${sentiment.analyzer})`);
  }

  /** The message's sentiment as the profile's analyzer reads it; lexically when its model fails. */
  private async read(profileId: string, analyzerKind: 'lexical' | 'model', text: string): Promise<SentimentReading> {
    if (analyzerKind === 'lexical' || !this.modelSentiment) return analyzeSentiment(text);
    try {
      return await this.modelSentiment.classify(profileId, text);
    } catch (error) {
      this.modelSentiment.failed(error, profileId);
      return analyzeSentiment(text);
    }
  }

  private async answerFailed(key: ConversationKey, event: ConversationEvent): Promise<void> {
    const conversation = await this.log.get(key);
    const settings = conversation?.assistant ? this.assistants.handoffSettings(conversation.assistant) : null;
    if (!conversation?.support || conversation.support.mode !== 'assistant' || settings?.afterFailures == null) return;
    const recent = await this.log.history(key, { before: event.seq + 1, limit: RECENT_EVENTS });
    let failures = 0;
    for (const earlier of [...recent.events].reverse()) {
      if (earlier.type === 'ai.completed') break;
      if (earlier.type === 'ai.failed') failures++;
    }
    if (failures >= settings.afterFailures) await this.handOff(key, 'failures', `${failures} answers in a row failed`);
  }

  private async handOff(key: ConversationKey, reason: 'rule' | 'sentiment' | 'failures', detail: string): Promise<void> {
    try {
      await this.support.requestHandoff(key, { actor: { kind: 'system', id: 'handoff' }, reason, origin: 'system', detail });
    } catch (error) {
      // Handed off already (by someone else, or an earlier delivery of this event): nothing to do.
      if (!(error instanceof ParleyError && error.code === 'conflict')) throw error;
    }
  }
}
