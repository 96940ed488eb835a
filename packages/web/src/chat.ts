import {
  Generations,
  isTextContent,
  ParleyClient,
  ParleyClientError,
  toolResultError,
  type ClientState,
  type Content,
  type EventData,
  type GenerationState,
  type GenerationStatus,
  type KnownEvent,
  type ParleyEvent,
  type Subscription,
} from '@parley/client';
import { conversationKey, DevTokensOff, fetchDevToken, randomHex, type KeyValueStore } from './identity';
import { fetchWebSettings, type WebSettings } from './web-settings';

/** The assistant profile that answers in the page's conversation. */
export const ASSISTANT = 'assistant';

/** A tool the assistant called while answering. */
export interface ToolNote {
  toolCallId: string;
  toolName: string;
  /** `skipped`: not run (denied, or the answer was stopped while it waited); `failed`: it ran and failed or timed out. */
  state: 'running' | 'done' | 'failed' | 'skipped';
  /** Why it failed or was skipped. */
  error?: string;
}

/** A message someone sent (a user of the conversation or a human agent). */
export interface MessageItem {
  kind: 'message';
  key: string;
  author: string;
  mine: boolean;
  text: string;
  /** `sending` until the server acknowledged it; `failed` when it refused it. */
  status: 'sending' | 'sent' | 'failed';
  error?: string;
}

/** A tool call that waits for a person to approve it. */
export interface ApprovalNote {
  approvalId: string;
  toolName: string;
  input: Record<string, unknown>;
  state: 'pending' | 'approved' | 'denied';
}

/** An AI answer, streaming or finished. */
export interface AnswerItem {
  kind: 'answer';
  key: string;
  generationId: string;
  status: GenerationStatus;
  text: string;
  tools: ToolNote[];
  approvals: ApprovalNote[];
  error?: GenerationState['error'];
}

export type ChatItem = MessageItem | AnswerItem;

/** What the page shows; a new object whenever anything changed. */
export interface ChatView {
  user: string;
  conversationId: string | undefined;
  connection: ClientState;
  /** Whether a connection was up at some point: a later `connecting`/`reconnecting` means it dropped. */
  everConnected: boolean;
  /** True once the conversation's history has been requested and the subscription confirmed. */
  ready: boolean;
  items: ChatItem[];
  /** Whether an answer is streaming (the Stop button). */
  answering: boolean;
  /** A problem with the last action (send, stop), shown under the input. */
  notice: string | undefined;
  /** A problem that stops the page from working. */
  fatal: string | undefined;
  /** Hosts whose Markdown images load (the tenant's PARLEY_IMAGE_HOSTS); empty until known, so no image loads before. */
  imageHosts: readonly string[];
}

interface Entry {
  item: ChatItem;
  /** The seq of the event that placed it; pending messages and answers not yet placed go last. */
  order: number;
}

/** Where items without a seq go: after everything that has one, in arrival order. */
const UNPLACED = 2 ** 40;

export interface ChatOptions {
  user: string;
  url: string;
  store: KeyValueStore;
  /** A development token for the user (tests may replace it). */
  token?: (user: string) => Promise<string>;
  /** The tenant's page settings (tests may replace it). */
  settings?: (tenant: string) => Promise<WebSettings>;
  /** Runs a view rebuild: by default at the next animation frame (tests may run it at once). */
  schedule?: (rebuild: () => void) => void;
}

/**
 * The chat page's state, outside React: the client, the one conversation of this user and browser, its
 * events assembled into messages and answers. React reads it through `subscribe` and `view`.
 */
export class Chat {
  private readonly listeners = new Set<() => void>();
  private readonly entries = new Map<string, Entry>();
  private client: ParleyClient | undefined;
  private subscription: Subscription | undefined;
  private generations: Generations | undefined;
  private unplaced = 0;
  private scheduled = false;
  private current: ChatView;

  constructor(private readonly options: ChatOptions) {
    this.current = {
      user: options.user,
      conversationId: undefined,
      connection: 'idle',
      everConnected: false,
      ready: false,
      items: [],
      answering: false,
      notice: undefined,
      fatal: undefined,
      imageHosts: [],
    };
  }

  /** The current view (stable between changes, as useSyncExternalStore wants). */
  readonly view = (): ChatView => this.current;

  /** Calls `listener` after every change; returns a function that removes it. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Connects, then opens (or creates) the conversation and replays it. */
  async start(): Promise<void> {
    const tokenFor = this.options.token ?? fetchDevToken;
    const client = new ParleyClient({
      url: this.options.url,
      token: async () => {
        try {
          return await tokenFor(this.options.user);
        } catch (error) {
          if (error instanceof DevTokensOff) this.fail('This server issues no development tokens (it runs with PARLEY_JWT_SECRET or a JWKS), so this demo page cannot sign in.');
          throw error;
        }
      },
    });
    this.client = client;
    client.on('state', (state) => this.update({ connection: state, everConnected: this.current.everConnected || state === 'connected' }));
    // Reconnect causes and the like: worth a console line, not a message on the page (the banner shows the state).
    client.on('error', (error) => console.debug('parley:', error.message));
    client.connect().then(
      (session) => void this.loadSettings(session.principal.tenant),
      (error: unknown) => this.fail(`Could not connect: ${describe(error)}`),
    );
    try {
      await this.openConversation(client);
    } catch (error) {
      if (client.state !== 'closed') this.fail(`Could not open the conversation: ${describe(error)}`);
    }
  }

  /** Closes the connection for good. */
  dispose(): void {
    this.generations?.close();
    this.client?.close();
  }

  /** Sends a message; it shows at once and is marked sent once the server stored it. */
  async send(text: string): Promise<void> {
    const client = this.client;
    const conversationId = this.current.conversationId;
    const trimmed = text.trim();
    if (!client || !conversationId || trimmed.length === 0) return;
    const clientMsgId = newClientMsgId();
    const key = messageKey(this.options.user, clientMsgId);
    this.put(key, { kind: 'message', key, author: this.options.user, mine: true, text: trimmed, status: 'sending' }, UNPLACED + this.unplaced++);
    this.update({ notice: undefined });
    try {
      const ack = await client.send(conversationId, trimmed, { clientMsgId });
      this.patch(key, { status: 'sent' }, ack.seq);
    } catch (error) {
      this.patch(key, { status: 'failed', error: describe(error) });
      this.update({ notice: `Not sent: ${describe(error)}` });
    }
  }

  /** Stops the answer being streamed. */
  async stop(): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId) return;
    try {
      await this.client.stopGeneration(conversationId);
    } catch (error) {
      this.update({ notice: `Could not stop the answer: ${describe(error)}` });
    }
  }

  /** Approves or denies a tool call the assistant waits on. */
  async decide(approvalId: string, approved: boolean): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId) return;
    try {
      await this.client.approveTool(conversationId, approvalId, approved);
    } catch (error) {
      this.update({ notice: `Could not record the decision: ${describe(error)}` });
    }
  }

  /** The tenant's page settings; without them no image loads (each shows as a link), which is the safe side. */
  private async loadSettings(tenant: string): Promise<void> {
    try {
      const settings = await (this.options.settings ?? fetchWebSettings)(tenant);
      this.update({ imageHosts: settings.imageHosts });
    } catch (error) {
      console.debug('parley: no page settings:', describe(error));
    }
  }

  // ---- the conversation ----------------------------------------------------------------------------

  /** Follows the kept conversation; creates a new one when there is none, or the kept one is gone or not ours. */
  private async openConversation(client: ParleyClient): Promise<void> {
    const key = conversationKey(this.options.user);
    for (let attempt = 0; ; attempt++) {
      try {
        const kept = this.options.store.get(key);
        if (kept && (await this.follow(client, kept))) return;
        const { conversation } = await client.open({ assistant: ASSISTANT });
        this.options.store.set(key, conversation.id);
        if (await this.follow(client, conversation.id)) return;
        throw new ParleyClientError('not_found', 'the new conversation cannot be found');
      } catch (error) {
        // `open` waits for the connection at most requestTimeoutMs: keep trying while the server is away.
        if (!(error instanceof ParleyClientError && error.retryable) || client.state === 'closed' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** Subscribes from the start; false when the conversation does not exist or is not this user's. */
  private async follow(client: ParleyClient, conversationId: string): Promise<boolean> {
    const subscription = client.subscribe(conversationId, { since: 0 });
    const generations = new Generations(subscription, (error) => console.error(error));
    const detach = [
      subscription.on('event', (event) => this.onEvent(event)),
      generations.on('update', (state) => this.onGeneration(state)),
      subscription.on('end', (error) => {
        if (error && this.subscription === subscription) this.fail(`The conversation ended: ${describe(error)}`);
      }),
    ];
    try {
      await subscription.ready;
    } catch (error) {
      for (const undo of detach) undo();
      generations.close();
      if (error instanceof ParleyClientError && (error.code === 'not_found' || error.code === 'forbidden')) return false;
      throw error;
    }
    this.subscription = subscription;
    this.generations = generations;
    this.update({ conversationId, ready: true });
    return true;
  }

  private onEvent(event: ParleyEvent): void {
    switch (event.type) {
      case 'message.created':
        return this.onMessage(event);
      case 'ai.started':
        this.answer(event.data.generationId, event.seq);
        return;
      case 'ai.tool_call': {
        const answer = this.answer(event.data.generationId, undefined);
        const note: ToolNote = { toolCallId: event.data.toolCallId, toolName: event.data.toolName, state: 'running' };
        this.patch(answer.key, { tools: [...answer.tools, note] });
        return;
      }
      case 'ai.tool_result': {
        const answer = this.answer(event.data.generationId, undefined);
        const outcome = toolOutcome(event.data);
        this.patch(answer.key, { tools: answer.tools.map((tool) => (tool.toolCallId === event.data.toolCallId ? { ...tool, ...outcome } : tool)) });
        return;
      }
      case 'ai.approval_requested': {
        const answer = this.answer(event.data.generationId, undefined);
        const note: ApprovalNote = { approvalId: event.data.approvalId, toolName: event.data.toolName, input: event.data.input, state: 'pending' };
        this.patch(answer.key, { approvals: [...answer.approvals, note] });
        return;
      }
      case 'ai.approval_resolved': {
        const answer = this.answer(event.data.generationId, undefined);
        const state: ApprovalNote['state'] = event.data.approved ? 'approved' : 'denied';
        this.patch(answer.key, { approvals: answer.approvals.map((note) => (note.approvalId === event.data.approvalId ? { ...note, state } : note)) });
        return;
      }
      default:
        // The final ai.* events reach onGeneration through Generations; receipts, membership and types newer
        // than this page are not shown.
        return;
    }
  }

  private onMessage(event: KnownEvent<'message.created'>): void {
    const clientMsgId = event.causation?.clientMsgId;
    const key = clientMsgId ? messageKey(event.actor.id, clientMsgId) : `event:${event.id}`;
    const existing = this.entries.get(key)?.item;
    const mine = event.actor.kind === 'user' && event.actor.id === this.options.user;
    const text = contentText(event.data.content);
    if (existing?.kind === 'message') this.patch(key, { status: 'sent', text }, event.seq);
    else this.put(key, { kind: 'message', key, author: event.actor.id, mine, text, status: 'sent' }, event.seq);
  }

  private onGeneration(state: GenerationState): void {
    const answer = this.answer(state.generationId, undefined);
    this.patch(answer.key, { status: state.status, text: state.text, ...(state.error ? { error: state.error } : {}) });
  }

  /** The answer item of a generation, created (unplaced unless `seq` is given) when missing. */
  private answer(generationId: string, seq: number | undefined): AnswerItem {
    const key = `answer:${generationId}`;
    const entry = this.entries.get(key);
    if (entry?.item.kind === 'answer') {
      if (seq !== undefined) entry.order = seq;
      return entry.item;
    }
    const item: AnswerItem = { kind: 'answer', key, generationId, status: 'streaming', text: '', tools: [], approvals: [] };
    this.put(key, item, seq ?? UNPLACED + this.unplaced++);
    return item;
  }

  // ---- state ---------------------------------------------------------------------------------------

  private put(key: string, item: ChatItem, order: number): void {
    this.entries.set(key, { item, order });
    this.changed();
  }

  private patch<Item extends ChatItem>(key: string, changes: Partial<Item>, seq?: number): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.item = { ...entry.item, ...changes } as ChatItem;
    if (seq !== undefined) entry.order = seq;
    this.changed();
  }

  private fail(message: string): void {
    if (this.current.fatal === undefined) this.update({ fatal: message });
    this.client?.close();
  }

  private update(changes: Partial<ChatView>): void {
    this.current = { ...this.current, ...changes };
    this.changed();
  }

  /**
   * Rebuilds the view once per animation frame, however many events and deltas arrived since (a replay
   * delivers many at once, a fast answer several deltas a frame): the page renders per batch, not per token.
   */
  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    (this.options.schedule ?? nextFrame)(() => {
      this.scheduled = false;
      const items = [...this.entries.values()].sort((a, b) => a.order - b.order).map((entry) => entry.item);
      const answering = items.some((item) => item.kind === 'answer' && item.status === 'streaming');
      this.current = { ...this.current, items, answering };
      for (const listener of [...this.listeners]) listener();
    });
  }
}

/**
 * At the next animation frame, or within 100 ms when frames are paused (a hidden tab or iframe), so
 * that what happened while hidden is there when the page shows again.
 */
function nextFrame(run: () => void): void {
  if (typeof requestAnimationFrame !== 'function') {
    queueMicrotask(run);
    return;
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    run();
  };
  const frame = requestAnimationFrame(once);
  const timer = setTimeout(once, 100);
}

function messageKey(author: string, clientMsgId: string): string {
  return `message:${author}:${clientMsgId}`;
}

function contentText(content: Content): string {
  return isTextContent(content) ? content.text : `[${content.type}]`;
}

/** How a tool call ended: its failure is inside the result's output (`{error, message}`), not beside it. */
function toolOutcome(result: EventData<'ai.tool_result'>): Pick<ToolNote, 'state' | 'error'> {
  const failure = toolResultError(result);
  if (!failure) return { state: 'done' };
  const skipped = failure.error === 'denied' || failure.error === 'stopped';
  return { state: skipped ? 'skipped' : 'failed', error: failure.message ?? failure.error };
}

/** A message id that fits `clientMsgId` (letters, digits, `-`). */
function newClientMsgId(): string {
  return `web-${Date.now().toString(36)}-${randomHex(8)}`;
}

function describe(error: unknown): string {
  if (error instanceof ParleyClientError) return error.message || error.code;
  return error instanceof Error ? error.message : String(error);
}
