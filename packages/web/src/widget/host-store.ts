import type { KeyValueStore } from '../identity';
import type { HostLink } from './host-link';

/** Whether this frame may use its own localStorage (browsers that block third-party storage deny it). */
export function frameStorageWorks(): boolean {
  try {
    const probe = 'parley.probe';
    globalThis.localStorage.setItem(probe, '1');
    globalThis.localStorage.removeItem(probe);
    return true;
  } catch {
    return false;
  }
}

/**
 * A store kept by the host page (widget.js, in the site's own storage), for browsers that deny the frame its
 * storage: read once at start, written through by message. It holds the guest id and the conversation id,
 * so a guest continues their conversation on the site's next page.
 */
export async function hostStore(link: HostLink): Promise<KeyValueStore> {
  const answer = await link.request({ type: 'storage-request' });
  const entries = new Map(answer.type === 'storage' ? Object.entries(answer.entries) : []);
  return {
    get: (key) => entries.get(key) ?? null,
    set: (key, value) => {
      entries.set(key, value);
      link.post({ type: 'storage-set', key, value });
    },
    remove: (key) => {
      entries.delete(key);
      link.post({ type: 'storage-set', key, value: null });
    },
  };
}
