import type { KeyValueStore } from '../identity';
import type { HostLink } from './host-link';

/** A token for the widget and the user it names. */
export interface WidgetIdentity {
  token: string;
  userId: string;
}

/** Getting a token failed: the site's endpoint, or the widget-token route. */
export class WidgetTokenError extends Error {}

const GUEST_ID = /^guest-[0-9a-f]{32}$/;

/**
 * The frame's tokens, asked of widget.js in the host page each time the client (re)connects: widget.js
 * answers with a token from the site's endpoint, or tells the frame to mint a guest (or a verified user's)
 * token with the widget key itself, so that such a token never passes through the host page.
 */
export class HostTokens {
  constructor(
    private readonly link: HostLink,
    private readonly options: { widgetKey: string; parentOrigin: string; store: KeyValueStore },
  ) {}

  /** A fresh token. */
  async next(): Promise<WidgetIdentity> {
    const answer = await this.link.request({ type: 'token-request' });
    if (answer.type === 'token') return { token: answer.token, userId: subjectOf(answer.token) };
    if (answer.type === 'token-error') throw new WidgetTokenError(`The site could not sign you in: ${answer.message}`);
    if (answer.type === 'guest') return this.mint(answer.userId, answer.userHash);
    throw new WidgetTokenError('The page that embeds the chat answered something else than a token.');
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
    if (body.guest === true && body.userId !== kept) this.options.store.set(guestKey, body.userId);
    return { token: body.token, userId: body.userId };
  }
}

/** The `sub` of a JWT, read without verifying it (the server verifies; the frame only needs to know who it is). */
export function subjectOf(token: string): string {
  try {
    const payload = token.split('.')[1] ?? '';
    const sub = (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown }).sub;
    if (typeof sub === 'string' && sub.length > 0) return sub;
  } catch {
    // not a JWT: said below
  }
  throw new WidgetTokenError("The site's token endpoint returned something that is not a Parley token.");
}
