import { createRoot } from 'react-dom/client';
import { browserStore, type KeyValueStore } from '../identity';
import { completeOidcSignIn, fetchSignInMode, isOidcCallback, oidcConfig, storedOidcSession, type SignInMode } from '../oidc';
import { AgentApp } from './AgentApp';
import { oidcSignIn, oidcStaffSession, restoreDevSession, type OidcSignIn, type StaffSession } from './sign-in';
import './agent.css';

interface SignInOptions {
  initialSession?: StaffSession | undefined;
  oidc?: OidcSignIn | undefined;
  failure?: string | undefined;
}

/**
 * How this page can sign in, and a sign-in that already happened. With an OIDC issuer configured on the server,
 * the issuer's button is the way in: on the way back from the issuer the sign-in is completed here (the code
 * is exchanged once, before anything renders), and after a reload the tab's kept session is taken up again.
 * Without one, the development form, and the development sign-in kept from an earlier visit.
 */
async function signInOptions(store: KeyValueStore): Promise<SignInOptions> {
  let mode: SignInMode;
  try {
    mode = await fetchSignInMode();
  } catch (error) {
    return { failure: `Could not ask the server how to sign in (${messageOf(error)}): reload the page to try again.` };
  }
  if (mode.mode !== 'oidc') return { initialSession: restoreDevSession(store) };
  const config = oidcConfig(mode, `${location.origin}/agent`);
  const oidc = oidcSignIn(config);
  try {
    const url = new URL(location.href);
    if (isOidcCallback(url)) await completeOidcSignIn(config, url);
    else if (!storedOidcSession()) return { oidc };
    return { oidc, initialSession: await oidcStaffSession(config) };
  } catch (error) {
    return { oidc, failure: messageOf(error) };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const store = browserStore();
const root = document.getElementById('root');
if (!root) throw new Error('agent.html has no #root element');
const options = await signInOptions(store);
createRoot(root).render(<AgentApp store={store} {...options} />);
// Restored from the back/forward cache after pagehide closed the client: start over.
addEventListener('pageshow', (event) => {
  if (event.persisted) location.reload();
});
