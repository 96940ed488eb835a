import type { ClientState, TransportName } from '@parley/client';

/** What a page's connection banner reads. */
export interface ConnectionView {
  connection: ClientState;
  /** A failure the page cannot recover from. */
  fatal: string | undefined;
  /** Whether the page was ever connected: a first connection attempt is not "lost". */
  everConnected: boolean;
  /** The transport the SDK uses (`client.transport`), once it connected. */
  transport?: TransportName | undefined;
}

const FALLBACK_NAMES: Record<Exclude<TransportName, 'websocket'>, string> = { sse: 'Server-Sent Events', 'long-poll': 'long-polling' };

/** The banner over a page (chat or console): fatal errors, a closed connection, or a reconnect in progress. */
export function ConnectionBanner({ view }: { view: ConnectionView }) {
  if (view.fatal) {
    return (
      <div className="banner banner-error" role="alert" data-testid="fatal">
        {view.fatal}
      </div>
    );
  }
  if (view.connection === 'closed') {
    return (
      <div className="banner banner-error" role="alert" data-testid="connection-banner">
        Disconnected. <button type="button" className="link" onClick={() => location.reload()}>Reload</button> to connect again.
      </div>
    );
  }
  if (view.everConnected && (view.connection === 'reconnecting' || view.connection === 'connecting')) {
    return (
      <div className="banner" role="status" data-testid="connection-banner">
        Connection lost. Reconnecting…
      </div>
    );
  }
  if (view.connection === 'connected' && view.transport !== undefined && view.transport !== 'websocket') {
    return (
      <div className="banner banner-info" role="status" data-testid="transport-banner" data-transport={view.transport}>
        Connected over {FALLBACK_NAMES[view.transport]}: this network does not let WebSockets through.
      </div>
    );
  }
  return null;
}
