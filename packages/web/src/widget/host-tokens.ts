import type { KeyValueStore } from '../identity';
import { asHostMessage, CHANNEL, type HostMessage, type TokenRequestMessage } from './messages';
import { randomHex } from '../identity';

/** A token for the widget and the user it names. */
export interface WidgetIdentity {
  token: string;
  userId: string;
}

/** Getting a token failed: the site's endpoint, the widget-token route, or the host page did not answer. */
export class WidgetTokenError extends Error {}

export interface HostTokensOptions {
  /** The window that embeds the frame, and its checked origin: the only sender accepted, the only receiver. */
  parent: Pick<Window, 'postMessage'>;
  parentOrigin: string;
  widgetKey: string;
  /** Keeps the guest id across visits (the frame's storage, Parley's origin). */
  store: KeyValueStore;
  /** How long the host page has to answer a token request. */
  timeoutMs?: number;
}

const GUEST_ID = /^guest-[0-9a-f]{32}$/;

/**
 * The frame's tokens, asked of widget.js in the host page by postMessage each time the client (re)connects:
 * widget.js answers with a token from the site's endpoint, or tells the frame to mint a guest (or a
 * verified user's) token with the widget key itself, so that such a token never passes through the host page.
 */
export class HostTokens {
  private readonly pending = new Map<string, (message: HostMessage) => void>();

  constructor(private readonly options: HostTokensOptions) {}

  /** Handles a `message` event of the frame's window: ignored unless it is a widget message from the parent's origin. */
  readonly receive = (event: Pick<MessageEvent, 'source' | 'origin' | 'data'>): void => {
    if (event.source !== this.options.parent || event.origin !== this.options.parentOrigin) return;
    const message = asHostMessage(event.data);
    if (message) this.pending.get(message.requestId)?.(message);
  };

  /** Tells the host page that the frame is listening. */
  announce(): void {
    this.options.parent.postMessage({ channel: CHANNEL, type: 'ready' }, this.options.parentOrigin);
  }

  /** A fresh token. */
  async next(): Promise<WidgetIdentity> {
    const answer = await this.ask();
    if (answer.type === 'token') return { token: answer.token, userId: subjectOf(answer.token) };
    if (answer.type === 'token-error') throw new WidgetTokenError(`The site could not sign you in: ${answer.message}`);
    return this.mint(answer.userId, answer.userHash);
  }

  private ask(): Promise<HostMessage> {
    const requestId = randomHex(8);
    const request: TokenRequestMessage = { channel: CHANNEL, type: 'token-request', requestId };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new WidgetTokenError('The page that embeds the chat did not answer.'));
      }, this.options.timeoutMs ?? 15_000);
      this.pending.set(requestId, (message) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(message);
      });
      this.options.parent.postMessage(request, this.options.parentOrigin);
    });
  }

  /** A token from POST /v1/widget/token: for the user the site vouches for, else for the guest this browser keeps. */
  private async mint(userId: string | undefined, userHash: string | undefined): Promise<WidgetIdentity> {
    const guestKey = `parley.widget.guest.${this.options.widgetKey}`;
    const kept = this.options.store.get(guestKey);
    const identity = userId !== undefined ? { userId, userHash } : kept && GUEST_ID.test(kept) ? { guestId: kept } : {};
    const response = await fetch('/v1/widget/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ widgetKey: this.options.widgetKey, embedOrigin: this.options.parentOrigin, ...identity }),
      cache: 'no-store',
    });
    const body = (await response.json().catch(() => ({}))) as { token?: unknown; userId?: unknown; guest?: unknown; error?: { code?: string; message?: string } };
    if (!response.ok || typeof body.token !== 'string' || typeof body.userId !== 'string') {
      throw new WidgetTokenError(`No token for the chat (${body.error?.code ?? response.status}): ${body.error?.message ?? 'the server gave none'}`);
    }
    if (body.guest === true) this.options.store.set(guestKey, body.userId);
    return { token: body.token, userId: body.userId };
  }
}

/** The `sub` of a JWT, read without verifying it (the server verifies; the frame only needs to know who it is). */
export function subjectOf(token: string): string {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    if (typeof sub === 'string' && sub.length > 0) return sub;
  } catch {
    // not a JWT: said below
  }
  throw new WidgetTokenError("The site's token endpoint returned something that is not a Parley token.");
}
