import { useState, type FormEvent } from 'react';
import type { KeyValueStore } from '../identity';
import { devSignIn, DevTokensOff, type OidcSignIn, type StaffRole, type StaffSession } from './sign-in';

export interface SignInProps {
  store: KeyValueStore;
  /** The OIDC sign-in, when the server has an issuer configured: then it is the way in, and the development form is not shown. */
  oidc?: OidcSignIn | undefined;
  /** Why the last sign-in did not go through, shown above the way in. */
  failure?: string | undefined;
  onSignedIn(session: StaffSession): void;
}

/** The console's sign-in: the configured OIDC issuer in production, a development-token form otherwise. */
export function SignIn({ store, oidc, failure, onSignedIn }: SignInProps) {
  return (
    <main className="sign-in">
      <h1>Parley agent console</h1>
      {failure && (
        <p className="error" role="alert" data-testid="sign-in-failure">
          {failure}
        </p>
      )}
      {oidc ? <OidcButton oidc={oidc} /> : <DevSignInForm store={store} onSignedIn={onSignedIn} />}
    </main>
  );
}

function OidcButton({ oidc }: { oidc: OidcSignIn }) {
  const [error, setError] = useState<string | undefined>();
  const start = () => oidc.start().catch((cause: unknown) => setError(cause instanceof Error ? cause.message : String(cause)));
  return (
    <div className="sign-in-card">
      <button type="button" className="primary" onClick={() => void start()} data-testid="oidc-sign-in">
        {oidc.label}
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function DevSignInForm({ store, onSignedIn }: { store: KeyValueStore; onSignedIn(session: StaffSession): void }) {
  const [userId, setUserId] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<StaffRole>('agent');
  const [tenant, setTenant] = useState('demo');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await devSignIn({ tenant, userId: userId.trim(), name, role }, store));
    } catch (cause) {
      setError(cause instanceof DevTokensOff ? 'This server issues no development tokens (it runs with a JWT secret, a JWKS or OIDC).' : cause instanceof Error ? cause.message : String(cause));
      setBusy(false);
    }
  };
  return (
    <form className="sign-in-card" onSubmit={(event) => void submit(event)} aria-label="Sign in">
      <p className="muted">Development sign-in: the server signs a token for whoever you say you are.</p>
      <label>
        User id
        <input name="user" value={userId} onChange={(event) => setUserId(event.target.value)} required autoFocus autoComplete="username" placeholder="dana" />
      </label>
      <label>
        Display name
        <input name="name" value={name} onChange={(event) => setName(event.target.value)} placeholder="Dana" />
      </label>
      <fieldset className="roles">
        <legend>Role</legend>
        {(['agent', 'admin'] as const).map((value) => (
          <label key={value}>
            <input type="radio" name="role" value={value} checked={role === value} onChange={() => setRole(value)} /> {value}
          </label>
        ))}
      </fieldset>
      <label>
        Tenant
        <input name="tenant" value={tenant} onChange={(event) => setTenant(event.target.value)} required />
      </label>
      <button type="submit" className="primary" disabled={busy || userId.trim().length === 0}>
        Sign in
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
