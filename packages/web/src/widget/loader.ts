import { asFrameMessage, CHANNEL, isKeptEntry, MAX_KEPT_ENTRIES, type HostMessage } from './messages';
import { formatTheme, parseTheme, type Theme } from './theme';

/**
 * widget.js: one `<script src="https://parley.example/widget.js" data-tenant data-widget-key ...>` puts the
 * customer chat on a site. The chat runs in an iframe of Parley's origin (the site's CSS and scripts cannot
 * reach into it); this script only draws the launcher and answers the frame's token requests, by postMessage
 * to Parley's origin only, accepting messages from that frame only.
 */

const IDENTIFIER = /^[A-Za-z0-9_.:@-]{1,128}$/;
const WIDGET_KEY = /^pwk_[A-Za-z0-9]{24}$/;

interface WidgetSettings {
  parleyOrigin: string;
  tenant: string;
  widgetKey: string;
  theme: Theme;
  /** The site's endpoint that returns `{ token }` for its signed-in user; absent: guests (or data-user-id). */
  tokenEndpoint?: string;
  userId?: string;
  userHash?: string;
  open: boolean;
}

function settingsOf(script: HTMLScriptElement): WidgetSettings {
  const data = script.dataset;
  const problems: string[] = [];
  if (!data.tenant || !IDENTIFIER.test(data.tenant)) problems.push('data-tenant must be the tenant id');
  if (!data.widgetKey || !WIDGET_KEY.test(data.widgetKey)) problems.push('data-widget-key must be a widget key (pwk_...)');
  if ((data.userId === undefined) !== (data.userHash === undefined)) problems.push('data-user-id and data-user-hash go together');
  if (problems.length > 0) throw new Error(problems.join('; '));
  return {
    parleyOrigin: new URL(script.src, location.href).origin,
    tenant: data.tenant!,
    widgetKey: data.widgetKey!,
    theme: parseTheme(data.theme),
    ...(data.tokenEndpoint ? { tokenEndpoint: new URL(data.tokenEndpoint, location.href).href } : {}),
    ...(data.userId !== undefined && data.userHash !== undefined ? { userId: data.userId, userHash: data.userHash } : {}),
    open: data.open === 'true',
  };
}

const STYLE = `
:host { all: initial; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483646; width: 56px; height: 56px; border: none; border-radius: 50%;
  background: var(--accent, #3659e3); color: var(--accent-text, #fff); box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer;
  display: flex; align-items: center; justify-content: center; padding: 0; }
.launcher:focus-visible { outline: 3px solid var(--accent, #3659e3); outline-offset: 3px; }
.launcher svg { width: 26px; height: 26px; fill: currentColor; }
.panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483647; width: 380px; height: min(620px, calc(100vh - 108px));
  border-radius: 14px; overflow: hidden; box-shadow: 0 8px 30px rgba(0,0,0,.3); background: #fff; }
.panel[hidden] { display: none; }
@media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; height: 100vh; border-radius: 0; } }
`;
const CHAT_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
const CLOSE_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>';

// The frame is a light-DOM child of the host element, slotted into the panel: styled inline and !important
// against the site's stylesheets, and in the document tree like any iframe (window.frames lists it).
const FRAME_STYLE = 'width:100% !important;height:100% !important;border:0 !important;margin:0 !important;padding:0 !important;display:block !important;visibility:visible !important;opacity:1 !important';

/** The launcher and the panel in a shadow root of one host element; the frame (from the first opening on) slotted into the panel. */
class Widget {
  private readonly host: HTMLDivElement;
  private readonly launcher: HTMLButtonElement;
  private readonly panel: HTMLDivElement;
  private frame: HTMLIFrameElement | undefined;

  constructor(private readonly settings: WidgetSettings) {
    const host = (this.host = document.createElement('div'));
    host.setAttribute('data-parley-widget', '');
    const shadow = host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.launcher = document.createElement('button');
    this.launcher.type = 'button';
    this.launcher.className = 'launcher';
    if (settings.theme.accent) this.launcher.style.setProperty('--accent', settings.theme.accent);
    if (settings.theme['accent-text']) this.launcher.style.setProperty('--accent-text', settings.theme['accent-text']);
    this.launcher.addEventListener('click', () => this.toggle());
    this.panel = document.createElement('div');
    this.panel.className = 'panel';
    this.panel.hidden = true;
    this.panel.append(document.createElement('slot'));
    shadow.append(style, this.panel, this.launcher);
    this.render();
    document.body.append(host);
    addEventListener('message', (event) => this.receive(event));
    if (settings.open) this.toggle();
  }

  toggle(): void {
    if (!this.frame) this.host.append((this.frame = this.createFrame()));
    this.panel.hidden = !this.panel.hidden;
    this.render();
  }

  private render(): void {
    const open = !this.panel.hidden;
    this.launcher.innerHTML = open ? CLOSE_ICON : CHAT_ICON;
    this.launcher.setAttribute('aria-label', open ? 'Close chat' : 'Open chat');
    this.launcher.setAttribute('aria-expanded', String(open));
  }

  private createFrame(): HTMLIFrameElement {
    const { parleyOrigin, widgetKey, tenant, theme } = this.settings;
    const url = new URL('/widget/frame', parleyOrigin);
    url.search = new URLSearchParams({ key: widgetKey, tenant, origin: location.origin, theme: formatTheme(theme) }).toString();
    const frame = document.createElement('iframe');
    frame.src = url.href;
    frame.title = 'Chat';
    frame.style.cssText = FRAME_STYLE;
    // No top navigation, no downloads; popups (links the chat opens in a new tab) leave the sandbox.
    frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox');
    frame.setAttribute('allow', 'clipboard-write');
    return frame;
  }

  /** Only the frame, from Parley's origin, is heard. */
  private receive(event: MessageEvent): void {
    if (!this.frame || event.source !== this.frame.contentWindow || event.origin !== this.settings.parleyOrigin) return;
    const message = asFrameMessage(event.data);
    if (message?.type === 'token-request') void this.answer(message.requestId);
    if (message?.type === 'storage-request') this.post({ channel: CHANNEL, type: 'storage', requestId: message.requestId, entries: this.kept() });
    if (message?.type === 'storage-set') this.keep(message.key, message.value);
  }

  /** What this page keeps for the frame, whose own storage the browser denies (third-party storage blocked). */
  private kept(): Record<string, string> {
    try {
      const parsed = JSON.parse(localStorage.getItem(this.storageKey()) ?? '{}') as Record<string, unknown>;
      return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => isKeptEntry(entry[0], entry[1])));
    } catch {
      return {};
    }
  }

  private keep(key: string, value: string | null): void {
    const entries = this.kept();
    if (value === null) delete entries[key];
    else if (key in entries || Object.keys(entries).length < MAX_KEPT_ENTRIES) entries[key] = value;
    try {
      localStorage.setItem(this.storageKey(), JSON.stringify(entries));
    } catch {
      // storage full or disabled: the frame's entries last as long as this page
    }
  }

  private storageKey(): string {
    return `parley.widget.${this.settings.widgetKey}`;
  }

  private async answer(requestId: string): Promise<void> {
    const { tokenEndpoint, userId, userHash } = this.settings;
    if (!tokenEndpoint) return this.post({ channel: CHANNEL, type: 'guest', requestId, ...(userId !== undefined && userHash !== undefined ? { userId, userHash } : {}) });
    try {
      this.post({ channel: CHANNEL, type: 'token', requestId, token: await fetchSiteToken(tokenEndpoint) });
    } catch (error) {
      this.post({ channel: CHANNEL, type: 'token-error', requestId, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private post(message: HostMessage): void {
    this.frame?.contentWindow?.postMessage(message, this.settings.parleyOrigin);
  }
}

/** The site's own endpoint: POST with the site's cookies, answering `{ token }` (minted with the server API). */
async function fetchSiteToken(endpoint: string): Promise<string> {
  const response = await fetch(endpoint, { method: 'POST', credentials: 'include', cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`the token endpoint answered ${response.status}`);
  const body = (await response.json().catch(() => ({}))) as { token?: unknown };
  if (typeof body.token !== 'string' || body.token.length === 0) throw new Error('the token endpoint returned no token');
  return body.token;
}

function install(): void {
  const script = document.currentScript;
  if (!(script instanceof HTMLScriptElement)) {
    console.error('Parley widget: load widget.js with a plain <script src> tag (not a module, not injected by another script)');
    return;
  }
  let settings: WidgetSettings;
  try {
    settings = settingsOf(script);
  } catch (error) {
    console.error(`Parley widget: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  const start = () => new Widget(settings);
  if (document.body) start();
  else addEventListener('DOMContentLoaded', start, { once: true });
}

install();
