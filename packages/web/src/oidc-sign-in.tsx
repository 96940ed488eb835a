import { useEffect, useRef, useState } from 'react';
import { completeOidcSignIn, isOidcCallback, OidcSignInError, startOidcSignIn, storedOidcSession, type OidcConfig, type OidcSession } from './oidc';

/** Props of OidcSignIn. */
export interface OidcSignInProps {
  config: OidcConfig;
  /** Called once with the session: kept from before a reload, or just completed after the provider's redirect. */
  onSignedIn: (session: OidcSession) => void;
  /** What the button names; default: the issuer's host. */
  providerName?: string;
}

type Status = { kind: 'idle' } | { kind: 'busy' } | { kind: 'failed'; message: string };

// The completion of the sign-in this page was loaded for, shared by the mounts while it runs: React's strict
// mode mounts twice, and the code and state can be used only once.
let completion: Promise<OidcSession> | undefined;

/**
 * "Sign in with <provider>" and the completion of the provider's redirect back to this page. Render it where
 * the console has no session yet; it calls `onSignedIn` when there is one.
 */
export function OidcSignIn({ config, onSignedIn, providerName }: OidcSignInProps) {
  const [status, setStatus] = useState<Status>(() => (completion || isOidcCallback(new URL(location.href)) ? { kind: 'busy' } : { kind: 'idle' }));

  // The latest callback, so that a parent passing a new function on each render does not restart the effect.
  const signedInRef = useRef(onSignedIn);
  signedInRef.current = onSignedIn;
  const { issuer, clientId, scopes, redirectUri } = config;

  useEffect(() => {
    let mounted = true;
    const current = { issuer, clientId, scopes, redirectUri };
    if (!completion && isOidcCallback(new URL(location.href))) {
      const completing = completeOidcSignIn(current);
      const settled = () => {
        if (completion === completing) completion = undefined; // later mounts (after a sign-out) start afresh
      };
      completing.then(settled, settled);
      completion = completing;
    }
    const kept = completion ? undefined : storedOidcSession();
    const signedIn = completion ?? (kept ? Promise.resolve(kept) : undefined);
    signedIn?.then(
      (session) => mounted && signedInRef.current(session),
      (error: unknown) => mounted && setStatus({ kind: 'failed', message: messageOf(error) }),
    );
    return () => {
      mounted = false;
    };
  }, [issuer, clientId, scopes, redirectUri]);

  const signIn = () => {
    setStatus({ kind: 'busy' });
    startOidcSignIn(config).catch((error: unknown) => setStatus({ kind: 'failed', message: messageOf(error) }));
  };

  const provider = providerName ?? new URL(config.issuer).host;
  return (
    <div className="oidc-sign-in" data-testid="oidc-sign-in">
      <button type="button" onClick={signIn} disabled={status.kind === 'busy'}>
        {status.kind === 'busy' ? 'Signing in…' : `Sign in with ${provider}`}
      </button>
      {status.kind === 'failed' && (
        <p role="alert" data-testid="oidc-sign-in-error">
          {status.message}
        </p>
      )}
    </div>
  );
}

function messageOf(error: unknown): string {
  return error instanceof OidcSignInError ? error.message : 'the sign-in failed: try again';
}
