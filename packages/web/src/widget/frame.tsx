import { createRoot } from 'react-dom/client';
import { App } from '../App';
import { Chat } from '../chat';
import { browserStore, webSocketUrl } from '../identity';
import { checkAllowed, embeddingOrigin, WidgetSetupError } from './embedding';
import { HostLink, HostSilentError } from './host-link';
import { frameStorageWorks, hostStore } from './host-store';
import { HostTokens, WidgetTokenError } from './host-tokens';
import { applyTheme, parseTheme } from './theme';
import '../styles.css';
import './frame.css';

// The chat page inside the widget's iframe (Parley's origin): the page that embeds it reaches none of it,
// neither its DOM nor its styles nor its WebSocket; its token arrives by postMessage from widget.js.
const params = new URLSearchParams(location.search);
document.documentElement.classList.add('embedded');
applyTheme(document.documentElement, parseTheme(params.get('theme')));
const element = document.getElementById('root');
if (!element) throw new Error('widget-frame.html has no #root element');
const root = createRoot(element);

async function start(): Promise<void> {
  const parentOrigin = embeddingOrigin(params.get('origin'), { isTop: window.parent === window, ancestorOrigins: location.ancestorOrigins, referrer: document.referrer });
  const widgetKey = params.get('key') ?? '';
  const tenant = params.get('tenant') ?? '';
  checkAllowed(parentOrigin, tenant, await widgetConfig(widgetKey));
  const link = new HostLink(window.parent, parentOrigin);
  addEventListener('message', link.receive);
  link.post({ type: 'ready' });
  const store = frameStorageWorks() ? browserStore() : await hostStore(link);
  const tokens = new HostTokens(link, { widgetKey, parentOrigin, store });
  const first = await tokens.next();
  let unused: string | undefined = first.token;
  const token = async (): Promise<string> => {
    // The first connect uses the token that named the user; every later one asks for a fresh token.
    const kept = unused;
    unused = undefined;
    return kept ?? (await tokens.next()).token;
  };
  const chat = new Chat({ user: first.userId, url: webSocketUrl(location), store, token });
  root.render(<App chat={chat} />);
  void chat.start();
  addEventListener('pagehide', () => chat.dispose());
}

async function widgetConfig(widgetKey: string): Promise<{ tenant: string; allowedOrigins: string[] }> {
  const response = await fetch(`/v1/widget/config?key=${encodeURIComponent(widgetKey)}`, { cache: 'no-store' });
  const body = (await response.json().catch(() => ({}))) as { tenant?: string; allowedOrigins?: string[]; error?: { message?: string } };
  if (!response.ok || typeof body.tenant !== 'string' || !Array.isArray(body.allowedOrigins)) {
    throw new WidgetSetupError(`This widget key cannot be used: ${body.error?.message ?? `the server answered ${response.status}`}.`);
  }
  return { tenant: body.tenant, allowedOrigins: body.allowedOrigins };
}

function Problem({ message }: { message: string }) {
  return (
    <p className="widget-problem" role="alert" data-testid="widget-problem">
      {message}
    </p>
  );
}

start().catch((error: unknown) => {
  const known = error instanceof WidgetSetupError || error instanceof WidgetTokenError || error instanceof HostSilentError;
  if (!known) console.error(error);
  root.render(<Problem message={known ? error.message : 'The chat could not start.'} />);
});
