import { asHostMessage, CHANNEL, type HostMessage, type StorageSetMessage } from './messages';
import { randomHex } from '../identity';

/** Asking the host page for something failed: it did not answer in time. */
export class HostSilentError extends Error {}

/** What the frame tells the host without waiting for an answer. */
type Notice = { type: 'ready' } | Omit<StorageSetMessage, 'channel'>;
/** What the frame asks the host. */
type Question = { type: 'token-request' | 'storage-request' };

/**
 * The frame's side of the postMessage channel to widget.js: posts only to the checked parent origin, hears
 * only the parent window from that origin, and pairs answers with requests by id.
 */
export class HostLink {
  private readonly pending = new Map<string, (message: HostMessage) => void>();

  constructor(
    private readonly parent: Pick<Window, 'postMessage'>,
    private readonly parentOrigin: string,
    private readonly timeoutMs = 15_000,
  ) {}

  /** Handles a `message` event of the frame's window: ignored unless it is a widget message of the parent, from its origin. */
  readonly receive = (event: Pick<MessageEvent, 'source' | 'origin' | 'data'>): void => {
    if (event.source !== this.parent || event.origin !== this.parentOrigin) return;
    const message = asHostMessage(event.data);
    if (message && 'requestId' in message) this.pending.get(message.requestId)?.(message);
  };

  post(message: Notice | (Question & { requestId: string })): void {
    this.parent.postMessage({ ...message, channel: CHANNEL }, this.parentOrigin);
  }

  /** Posts a request and waits for its answer. */
  request(question: Question): Promise<HostMessage> {
    const requestId = randomHex(8);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new HostSilentError('The page that embeds the chat did not answer.'));
      }, this.timeoutMs);
      this.pending.set(requestId, (message) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(message);
      });
      this.post({ ...question, requestId });
    });
  }
}
