// A stand-in for the agent console at /agent: it mounts the sign-in component, then connects to Parley with
// the ID token as the bearer and shows who the server says the agent is. Built by oidc-sign-in.test.ts.
import { ParleyClient, type ConnectResult } from '@parley/client';
import { useCallback, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { webSocketUrl } from '../../../packages/web/src/identity';
import { fetchSignedInPrincipal, fetchSignInMode, oidcConfig, oidcTokenSource, refreshOidcSession, storedOidcSession, type OidcConfig, type OidcSession, type SignedInPrincipal } from '../../../packages/web/src/oidc';
import { OidcSignIn } from '../../../packages/web/src/oidc-sign-in';

function Page({ config }: { config: OidcConfig }) {
  const [session, setSession] = useState<OidcSession>();
  const [connected, setConnected] = useState<ConnectResult>();
  const [mapped, setMapped] = useState<SignedInPrincipal>();
  const [failure, setFailure] = useState<string>();
  const [renewals, setRenewals] = useState(0);

  const signedIn = useCallback(
    (signedInSession: OidcSession) => {
      setSession(signedInSession);
      fetchSignedInPrincipal(signedInSession.idToken).then(setMapped, (error: unknown) => setFailure(String(error)));
      const client = new ParleyClient({ url: webSocketUrl(location), token: oidcTokenSource(config) });
      client.connect().then(setConnected, (error: unknown) => setFailure(String(error)));
    },
    [config],
  );

  const renew = async () => {
    const current = storedOidcSession();
    if (!current) return setFailure('no session to renew');
    await refreshOidcSession(config, current).then(() => setRenewals((count) => count + 1), (error: unknown) => setFailure(String(error)));
  };

  if (!session) return <OidcSignIn config={config} onSignedIn={signedIn} />;
  return (
    <div>
      <p data-testid="agent-name">{session.name}</p>
      {session.picture && <img data-testid="agent-picture" src={session.picture} alt="" />}
      {mapped && <pre data-testid="mapped">{JSON.stringify(mapped)}</pre>}
      {connected && <pre data-testid="principal">{JSON.stringify(connected.principal)}</pre>}
      {failure && <p data-testid="failure">{failure}</p>}
      <button type="button" onClick={() => void renew()}>
        Renew
      </button>
      <p data-testid="renewals">{renewals}</p>
    </div>
  );
}

const mode = await fetchSignInMode();
const root = createRoot(document.getElementById('root')!);
if (mode.mode === 'oidc') root.render(<Page config={oidcConfig(mode, `${location.origin}/agent`)} />);
else root.render(<p data-testid="failure">sign-in mode {mode.mode}</p>);
