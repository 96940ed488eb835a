import {
  contentText,
  Generations,
  isPartsContent,
  ParleyClient,
  ParleyClientError,
  toolResultError,
  type ClientState,
  type EventData,
  type GenerationState,
  type GenerationStatus,
  type AnswerSource,
  type KnownEvent,
  type Part,
  type ParleyEvent,
  type ParleySignal,
  type Subscription,
  type SupportState,
  type TransportName,
} from '@parley/client';
import { attachmentPart, ParleyServerClient } from '@parley/client/server';
import { applySupportEvent } from './agent/support-state';
import { conversationKey, DevTokensOff, fetchDevToken, randomHex, type KeyValueStore } from './identity';
import { ASSISTANT_ANSWERS, agentLabel, isSupportEvent, supportNote, type QueuePosition, type SupportNote } from './support-view';
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
  /** Sent by a support agent (then `author` is their name). */
  fromAgent: boolean;
  text: string;
  /** A rich message's parts (files, images, quick replies, forms); `text` then reads them as text. */
  parts?: Part[];
  /** Its seq once stored: what a quick-reply choice or a form submission answers. */
  seq?: number;
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
  /** The knowledge-base passages the answer cites as [n]. */
  sources?: AnswerSource[];
}

/** A line about the support desk in the conversation: a hand-over, an agent joining, a resolution. */
export interface SupportNoteItem extends SupportNote {
  kind: 'support';
  key: string;
}

export type ChatItem = MessageItem | AnswerItem | SupportNoteItem;

/** The rating form's state: sending, or the server's refusal. */
export interface RatingState {
  sending: boolean;
  error: string | undefined;
}

/** What the page shows; a new object whenever anything changed. */
export interface ChatView {
  user: string;
  conversationId: string | undefined;
  connection: ClientState;
  /** Whether a connection was up at some point: a later `connecting`/`reconnecting` means it dropped. */
  everConnected: boolean;
  /** The transport the SDK connected over (shown when it is a fallback). */
  transport: TransportName | undefined;
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
  /** Where the conversation stands at the support desk: who answers, who the agent is, whether it was rated. */
  support: SupportState;
  /** The customer's place in the queue, while queued and once the server said it. */
  queue: QueuePosition | undefined;
  /** "Agent Dana" while an agent is typing. */
  agentTyping: string | undefined;
  /** The "talk to a person" request is on its way. */
  handingOff: boolean;
  rating: RatingState;
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

/** An agent typing without saying so again for this long has stopped (their `typing: false` may be lost). */
const AGENT_TYPING_TIMEOUT_MS = 8000;
/** While the customer types, `typing: true` goes out again this often, and `false` after this long idle. */
const TYPING_REFRESH_MS = 3000;
const TYPING_IDLE_MS = 4000;

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
  /** Agents' names by id, from their assignments: their messages and typing show the name. */
  private readonly agentNames = new Map<string, string | null>();
  private agentTypingTimer: ReturnType<typeof setTimeout> | undefined;
  private typingSentAt: number | undefined;
  private typingIdleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: ChatOptions) {
    this.current = {
      user: options.user,
      conversationId: undefined,
      connection: 'idle',
      everConnected: false,
      transport: undefined,
      ready: false,
      items: [],
      answering: false,
      notice: undefined,
      fatal: undefined,
      imageHosts: [],
      support: ASSISTANT_ANSWERS,
      queue: undefined,
      agentTyping: undefined,
      handingOff: false,
      rating: { sending: false, error: undefined },
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
    client.on('transport', (transport) => this.update({ transport }));
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
    clearTimeout(this.agentTypingTimer);
    clearTimeout(this.typingIdleTimer);
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
    this.put(key, { kind: 'message', key, author: this.options.user, mine: true, fromAgent: false, text: trimmed, status: 'sending' }, UNPLACED + this.unplaced++);
    this.update({ notice: undefined });
    this.stopTyping();
    try {
      const ack = await client.send(conversationId, trimmed, { clientMsgId });
      this.patch(key, { status: 'sent' }, ack.seq);
    } catch (error) {
      this.patch(key, { status: 'failed', error: describe(error) });
      this.update({ notice: `Not sent: ${describe(error)}` });
    }
  }

  /** Uploads a file to the conversation (the server checks its size and type), then sends it as a message. */
  async sendFile(file: File): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId) return;
    const clientMsgId = newClientMsgId();
    const key = messageKey(this.options.user, clientMsgId);
    this.put(key, { kind: 'message', key, author: this.options.user, mine: true, fromAgent: false, text: `Uploading ${file.name}…`, status: 'sending' }, UNPLACED + this.unplaced++);
    this.update({ notice: undefined });
    try {
      const attachment = await (await this.api()).uploadAttachment(conversationId, { name: file.name, contentType: file.type || 'application/octet-stream', data: file });
      const ack = await this.client.send(conversationId, { type: 'parts', parts: [attachmentPart(attachment)] }, { clientMsgId });
      this.patch(key, { status: 'sent' }, ack.seq);
    } catch (error) {
      this.patch(key, { status: 'failed', error: describe(error) });
      this.update({ notice: `Not sent: ${describe(error)}` });
    }
  }

  /** A short-lived link to an attachment of the conversation. */
  async fileUrl(attachmentId: string): Promise<string> {
    const conversationId = this.current.conversationId;
    if (!conversationId) throw new Error('no conversation yet');
    return (await (await this.api()).attachmentUrl(conversationId, attachmentId)).url;
  }

  /** Answers a quick reply of the message at `seq`, or submits one of its forms. */
  async answerOffer(part: Extract<Part, { type: 'choice' | 'form_response' }>): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId) return;
    try {
      await this.client.send(conversationId, { type: 'parts', parts: [part] }, { clientMsgId: newClientMsgId() });
    } catch (error) {
      this.update({ notice: `Not sent: ${describe(error)}` });
    }
  }

  /** The server API as this user (uploads and links go over HTTP, beside the WebSocket). */
  private async api(): Promise<ParleyServerClient> {
    const token = await (this.options.token ?? fetchDevToken)(this.options.user);
    const url = new URL(this.options.url);
    return new ParleyServerClient({ url: `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`, apiKey: token });
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

  // ---- the support desk ----------------------------------------------------------------------------

  /** Asks for a person ("Talk to a person"); the queue and the agent show as the server's events arrive. */
  async handoff(): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId || this.current.handingOff) return;
    this.update({ handingOff: true, notice: undefined });
    try {
      await this.client.handoff(conversationId);
    } catch (error) {
      this.update({ notice: `Could not reach a person: ${describe(error)}` });
    } finally {
      this.update({ handingOff: false });
    }
  }

  /** Rates the latest resolution (1 to 5, and a comment); the server's refusal (a second rating: `conflict`) shows in the form. */
  async rate(rating: number, comment: string): Promise<void> {
    const conversationId = this.current.conversationId;
    if (!this.client || !conversationId || this.current.rating.sending) return;
    this.update({ rating: { sending: true, error: undefined } });
    try {
      const trimmed = comment.trim();
      await this.client.rate(conversationId, rating, trimmed.length > 0 ? trimmed : undefined);
      this.update({ rating: { sending: false, error: undefined } });
    } catch (error) {
      this.update({ rating: { sending: false, error: describe(error) } });
    }
  }

  /** The customer is typing: tells the agent (or the queue), at most every few seconds, and stops after a pause. */
  typing(): void {
    const conversationId = this.current.conversationId;
    const mode = this.current.support.mode;
    if (!this.client || !conversationId || (mode !== 'queued' && mode !== 'agent')) return;
    const now = Date.now();
    if (this.typingSentAt === undefined || now - this.typingSentAt >= TYPING_REFRESH_MS) {
      this.typingSentAt = now;
      this.client.typing(conversationId, true).catch((error: unknown) => console.debug('parley: typing:', describe(error)));
    }
    clearTimeout(this.typingIdleTimer);
    this.typingIdleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingIdleTimer);
    const conversationId = this.current.conversationId;
    if (this.typingSentAt === undefined || !this.client || !conversationId) return;
    this.typingSentAt = undefined;
    this.client.typing(conversationId, false).catch((error: unknown) => console.debug('parley: typing:', describe(error)));
  }

  private onSupportEvent(event: ParleyEvent): void {
    if (!isSupportEvent(event)) return;
    const before = this.current.support;
    const support = applySupportEvent(before, event);
    if (event.type === 'conversation.assigned') this.agentNames.set(event.data.agentId, event.data.agentName);
    const note = supportNote(event, before, this.options.user);
    if (note) this.put(`support:${event.id}`, { kind: 'support', key: `support:${event.id}`, ...note }, event.seq);
    const leftQueue = support.mode !== 'queued';
    const agentLeft = support.mode !== 'agent';
    this.update({ support, ...(leftQueue ? { queue: undefined } : {}), ...(agentLeft ? { agentTyping: undefined } : {}), ...(event.type === 'conversation.resolved' ? { rating: { sending: false, error: undefined } } : {}) });
  }

  private onSignal(signal: ParleySignal): void {
    if (signal.type === 'queue.position') {
      if (this.current.support.mode === 'queued') this.update({ queue: signal.data });
      return;
    }
    if (signal.type === 'typing' && signal.actor.kind === 'agent') this.agentTyped(signal.actor.id, signal.data.active);
  }

  private agentTyped(agentId: string, active: boolean): void {
    clearTimeout(this.agentTypingTimer);
    if (!active) {
      this.update({ agentTyping: undefined });
      return;
    }
    this.update({ agentTyping: agentLabel(this.agentNames.get(agentId) ?? this.current.support.assigneeName) });
    this.agentTypingTimer = setTimeout(() => this.update({ agentTyping: undefined }), AGENT_TYPING_TIMEOUT_MS);
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
      subscription.on('signal', (signal) => this.onSignal(signal)),
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
        return this.onSupportEvent(event);
    }
  }

  private onMessage(event: KnownEvent<'message.created'>): void {
    const clientMsgId = event.causation?.clientMsgId;
    const key = clientMsgId ? messageKey(event.actor.id, clientMsgId) : `event:${event.id}`;
    const existing = this.entries.get(key)?.item;
    const mine = event.actor.kind === 'user' && event.actor.id === this.options.user;
    const fromAgent = event.actor.kind === 'agent';
    const author = fromAgent ? agentLabel(this.agentNames.get(event.actor.id)) : event.actor.id;
    const content = event.data.content;
    const text = contentText(content);
    const rich = isPartsContent(content) ? { parts: content.parts } : {};
    if (fromAgent && this.current.agentTyping) this.agentTyped(event.actor.id, false);
    if (existing?.kind === 'message') this.patch(key, { status: 'sent', text, seq: event.seq, ...rich }, event.seq);
    else this.put(key, { kind: 'message', key, author, mine, fromAgent, text, seq: event.seq, status: 'sent', ...rich }, event.seq);
  }

  private onGeneration(state: GenerationState): void {
    const answer = this.answer(state.generationId, undefined);
    this.patch(answer.key, { status: state.status, text: state.text, ...(state.error ? { error: state.error } : {}), ...(state.sources ? { sources: state.sources } : {}) });
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
