import { useEffect, useState } from 'react';
import { webSocketUrl, type KeyValueStore } from '../identity';
import { Console } from './Console';
import { Desk } from './desk';
import { SignIn } from './SignIn';
import type { OidcSignIn, StaffSession } from './sign-in';

export interface AgentAppProps {
  store: KeyValueStore;
  /** A sign-in that already happened (kept from an earlier visit, or completed on the way back from the OIDC issuer). */
  initialSession?: StaffSession | undefined;
  /** The OIDC sign-in, when configured (see `signInOptions` in main.tsx). */
  oidc?: OidcSignIn | undefined;
  /** Why the sign-in that brought the page here did not go through (e.g. refused by the server); shown on the sign-in page. */
  failure?: string | undefined;
}

/** The agent console: sign-in, then the desk (inbox, conversation, admin). */
export function AgentApp({ store, initialSession, oidc, failure }: AgentAppProps) {
  const [session, setSession] = useState<StaffSession | undefined>(initialSession);
  const [desk, setDesk] = useState<Desk | undefined>();
  useEffect(() => {
    if (!session) return;
    const created = new Desk({ session, url: webSocketUrl(location), store });
    setDesk(created);
    void created.start();
    const dispose = () => created.dispose();
    addEventListener('pagehide', dispose);
    return () => {
      removeEventListener('pagehide', dispose);
      created.dispose();
    };
  }, [session, store]);
  if (!session) return <SignIn store={store} oidc={oidc} failure={failure} onSignedIn={setSession} />;
  if (!desk || desk.session !== session) return null;
  const signOut = async () => {
    await desk.signOut();
    session.signOut();
    setDesk(undefined);
    setSession(undefined);
  };
  return <Console desk={desk} onSignOut={() => void signOut()} />;
}
