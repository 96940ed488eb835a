/** Who this browser is and which conversation it keeps: both live in localStorage. */

const USER_KEY = 'parley.user';
const IDENTIFIER = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** Storage that may be unavailable (private mode, disabled cookies): then nothing is kept across reloads. */
export interface KeyValueStore {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export function browserStore(): KeyValueStore {
  const memory = new Map<string, string>();
  const local = (): Storage | undefined => {
    try {
      return globalThis.localStorage;
    } catch {
      return undefined;
    }
  };
  return {
    get: (key) => {
      try {
        return local()?.getItem(key) ?? memory.get(key) ?? null;
      } catch {
        return memory.get(key) ?? null;
      }
    },
    set: (key, value) => {
      memory.set(key, value);
      try {
        local()?.setItem(key, value);
      } catch {
        // quota or disabled storage: the in-memory copy lasts until the page unloads
      }
    },
    remove: (key) => {
      memory.delete(key);
      try {
        local()?.removeItem(key);
      } catch {
        // see set()
      }
    },
  };
}

/** The user: `?user=` when given (and valid), else the guest id kept by this browser, else a new `guest-xxxx`. */
export function resolveUser(search: string, store: KeyValueStore): string {
  const requested = new URLSearchParams(search).get('user');
  if (requested && IDENTIFIER.test(requested)) return requested;
  const kept = store.get(USER_KEY);
  if (kept && IDENTIFIER.test(kept)) return kept;
  const guest = `guest-${randomHex(4)}`;
  store.set(USER_KEY, guest);
  return guest;
}

/** The localStorage key of a user's conversation (one per user and browser). */
export function conversationKey(user: string): string {
  return `parley.conversation.${user}`;
}

/** Random lowercase hex; `crypto.getRandomValues` exists in every browser context, secure or not. */
export function randomHex(bytes: number): string {
  const values = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
}

/** Thrown when the server issues no development tokens (it runs with a real JWT secret or JWKS). */
export class DevTokensOff extends Error {}

/** A development token for `user` from the server that served this page. */
export async function fetchDevToken(user: string): Promise<string> {
  const response = await fetch(`/v1/dev/token?user=${encodeURIComponent(user)}`, { cache: 'no-store' });
  if (response.status === 404) throw new DevTokensOff('this server issues no development tokens');
  if (!response.ok) throw new Error(`the token endpoint answered ${response.status}`);
  const body = (await response.json()) as { token?: unknown };
  if (typeof body.token !== 'string' || body.token.length === 0) throw new Error('the token endpoint returned no token');
  return body.token;
}

/** The WebSocket endpoint of the server that served this page. */
export function webSocketUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
}
