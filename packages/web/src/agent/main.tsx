import { createRoot } from 'react-dom/client';
import { browserStore, type KeyValueStore } from '../identity';
import { AgentApp } from './AgentApp';
import { restoreDevSession, type OidcSignIn, type StaffSession } from './sign-in';
import './agent.css';

/**
 * How this page can sign in, and a sign-in that already happened. THE OIDC SEAM: when the server has an OIDC
 * issuer configured, this is where the console completes a sign-in on the way back from the issuer (a
 * StaffSession as `initialSession`) and offers the issuer's button (`oidc`), instead of the development form.
 * Today it offers development tokens only.
 */
async function signInOptions(store: KeyValueStore): Promise<{ initialSession?: StaffSession | undefined; oidc?: OidcSignIn | undefined }> {
  return { initialSession: restoreDevSession(store) };
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
