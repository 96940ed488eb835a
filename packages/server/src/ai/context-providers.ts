import type { ConversationKey } from '../core/types.js';
import type { OutboundHttp } from '../net/outbound-http.js';
import { callWebhook, type WebhookTarget } from './webhook.js';

/** A tenant backend endpoint that adds app context (the user's profile, orders, ...) to each generation. */
export interface ContextProvider extends WebhookTarget {
  name: string;
}

/** What one provider contributed, for the context and for debugging. */
export interface ProvidedContext {
  name: string;
  ok: boolean;
  ms: number;
  /** The text added to the system prompt, or why nothing was. */
  text: string;
}

const MAX_PROVIDED_CHARACTERS = 4000;

/**
 * Asks every provider at once; each answers `{"context": <string or JSON>}` within its timeout. A slow or
 * failing provider is skipped (and reported), never waited for beyond its timeout. Calls go through `outbound`.
 */
export async function gatherContext(outbound: OutboundHttp, providers: ContextProvider[], key: ConversationKey, userId: string, question: string, signal: AbortSignal): Promise<ProvidedContext[]> {
  return Promise.all(
    providers.map(async (provider) => {
      const started = performance.now();
      try {
        const answer = (await callWebhook(outbound, provider, { tenant: key.tenant, conversationId: key.conversationId, userId, question }, signal)) as { context?: unknown };
        const value = answer?.context;
        const text = (typeof value === 'string' ? value : JSON.stringify(value ?? null)).slice(0, MAX_PROVIDED_CHARACTERS);
        return { name: provider.name, ok: true, ms: Math.round(performance.now() - started), text };
      } catch (error) {
        return { name: provider.name, ok: false, ms: Math.round(performance.now() - started), text: (error as Error).message };
      }
    }),
  );
}
