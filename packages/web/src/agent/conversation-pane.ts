import {
  Generations,
  ParleyClientError,
  type ConversationView,
  type ParleyClient,
  type ParleyEvent,
  type ParleySignal,
  type ParleyStaffEvent,
  type RenderedCannedReply,
  type Subscription,
  type SupportState,
  type TransferTarget,
} from '@parley/client';
import { randomHex } from '../identity';
import { customerName } from './customer';
import { applySupportEvent } from './support-state';
import { Timeline, type TimelineItem } from './timeline';

/** Another agent with this conversation open, or typing in it ("Sam is viewing / typing"). */
export interface Colleague {
  id: string;
  name: string;
  viewing: boolean;
  typing: boolean;
}

/** What the conversation pane shows; a new object whenever anything changed. */
export interface PaneView {
  conversationId: string;
  conversation: ConversationView | undefined;
  support: SupportState | undefined;
  customerId: string | undefined;
  items: TimelineItem[];
  summary: { text: string; reason: string } | undefined;
  sentiment: { label: 'negative' | 'neutral' | 'positive'; score: number } | undefined;
  /** True once the conversation and its history are loaded. */
  ready: boolean;
  customerTyping: boolean;
  colleagues: Colleague[];
  canned: RenderedCannedReply[];
  /** What went wrong with the last action, shown near the composer. */
  notice: string | undefined;
  /** An action (claim, resolve, ...) is in flight. */
  busy: boolean;
}

/** What a pane needs from the console. */
export interface PaneHost {
  client: ParleyClient;
  me: string;
  /** Names by id, shared by the console (agents, the customer). */
  names: Map<string, string>;
  /** The pane's view changed. */
  changed(): void;
  /** Something happened that moves the inbox (an event of this conversation, an action). */
  activity(): void;
}

/** A typing or viewing signal counts for this long unless repeated (signals are ephemeral: a closed tab sends no "stopped"). */
const SIGNAL_LIFETIME_MS = { typing: 6_000, viewing: 45_000 };
/** How often the pane repeats "typing" and "viewing" while they hold. */
const REPEAT_MS = { typing: 3_000, viewing: 20_000 };
/** Typing stops counting this long after the last keystroke. */
const TYPING_IDLE_MS = 4_000;

/**
 * One open conversation in the console: its members' and staff events merged (`Timeline`), answers streaming,
 * the support state, who else is there, and the agent's actions. Outside React, like the chat page's `Chat`.
 */
export class ConversationPane {
  private readonly timeline: Timeline;
  private subscription: Subscription | undefined;
  private generations: Generations | undefined;
  private current: PaneView;
  private readonly colleagues = new Map<string, Colleague & { seenAt: { viewing: number; typing: number } }>();
  private customerTypingAt = 0;
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private typingSince: number | undefined;
  private lastTypingSent = 0;
  private lastKeystroke = 0;
  private readSeq = 0;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  /** The timeline changed since `items` was last built (built when the view is read, once per batch of events). */
  private timelineChanged = false;
  private disposed = false;

  constructor(
    readonly conversationId: string,
    private readonly host: PaneHost,
  ) {
    this.timeline = new Timeline(host.me);
    this.current = {
      conversationId,
      conversation: undefined,
      support: undefined,
      customerId: undefined,
      items: [],
      summary: undefined,
      sentiment: undefined,
      ready: false,
      customerTyping: false,
      colleagues: [],
      canned: [],
      notice: undefined,
      busy: false,
    };
  }

  /** The current view (stable between changes, as useSyncExternalStore wants). */
  get view(): PaneView {
    if (this.timelineChanged) {
      this.timelineChanged = false;
      this.current = { ...this.current, items: this.timeline.items(), summary: this.timeline.summary, sentiment: this.timeline.sentiment };
    }
    return this.current;
  }

  /** Loads the conversation, follows its events and staff events from the start, and tells colleagues it is open. */
  async open(): Promise<void> {
    const client = this.host.client;
    try {
      const conversation = await client.getConversation(this.conversationId);
      if (this.disposed) return;
      this.timeline.setCustomer(conversation.createdBy);
      const customer = customerName({ customerId: conversation.createdBy, metadata: conversation.metadata });
      if (customer !== conversation.createdBy) this.host.names.set(conversation.createdBy, customer);
      this.update({ conversation, support: conversation.support, customerId: conversation.createdBy });
      this.follow(client);
      await this.subscription?.ready;
      if (this.disposed) return;
      this.update({ ready: true });
      void this.acceptIfMine();
      void this.loadCanned();
    } catch (error) {
      if (!this.disposed) this.update({ notice: `Could not open the conversation: ${describe(error)}` });
      return;
    }
    void this.announceViewing(true);
    this.timers.push(
      setInterval(() => void this.announceViewing(true), REPEAT_MS.viewing),
      setInterval(() => this.expireSignals(), 1_000),
    );
  }

  /** Leaves the conversation: unsubscribes, tells colleagues, stops typing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.readTimer);
    this.generations?.close();
    void this.subscription?.unsubscribe();
    if (this.typingSince !== undefined) void this.host.client.typing(this.conversationId, false).catch(() => undefined);
    void this.announceViewing(false);
  }

  /** Sends a reply to the customer; it shows at once and is placed when stored. */
  async reply(text: string): Promise<void> {
    const trimmed = text.trim();
    if (trimmed.length === 0) return;
    const clientMsgId = newClientMsgId();
    const key = this.timeline.addPending('message', clientMsgId, trimmed);
    this.stopTyping();
    this.refresh({ notice: undefined });
    try {
      await this.host.client.send(this.conversationId, trimmed, { clientMsgId });
    } catch (error) {
      this.timeline.failPending(key, describe(error));
      this.refresh({ notice: `Not sent: ${describe(error)}` });
    }
  }

  /** Leaves a private note (staff only). */
  async note(text: string): Promise<void> {
    const trimmed = text.trim();
    if (trimmed.length === 0) return;
    const clientMsgId = newClientMsgId();
    const key = this.timeline.addPending('note', clientMsgId, trimmed);
    this.refresh({ notice: undefined });
    try {
      const result = await this.host.client.note(this.conversationId, trimmed, clientMsgId);
      this.timeline.confirmNote(key, result.eventId);
      this.refresh({});
    } catch (error) {
      this.timeline.failPending(key, describe(error));
      this.refresh({ notice: `Note not saved: ${describe(error)}` });
    }
  }

  /** The agent typed in the composer: "typing" now and then while it goes on, "stopped" once idle. */
  keystroke(): void {
    const now = Date.now();
    this.lastKeystroke = now;
    this.typingSince ??= now;
    if (now - this.lastTypingSent < REPEAT_MS.typing) return;
    this.lastTypingSent = now;
    void this.host.client.typing(this.conversationId, true).catch(() => undefined);
  }

  /** The composer was emptied or left. */
  stopTyping(): void {
    if (this.typingSince === undefined) return;
    this.typingSince = undefined;
    this.lastTypingSent = 0;
    void this.host.client.typing(this.conversationId, false).catch(() => undefined);
  }

  /** Takes the conversation: from the queue, from the assistant, or from another agent. */
  take(how: 'claim' | 'takeOverFromAssistant' | 'takeOverFromAgent'): Promise<void> {
    const client = this.host.client;
    return this.act(async () => {
      if (how === 'takeOverFromAssistant') {
        await client.handoff(this.conversationId, 'taken over by an agent');
        return client.claim(this.conversationId);
      }
      if (how === 'takeOverFromAgent') return client.assign(this.conversationId, this.host.me, this.current.support?.assigneeId ?? null);
      return client.claim(this.conversationId);
    });
  }

  transfer(target: TransferTarget): Promise<void> {
    return this.act(() => this.host.client.transfer(this.conversationId, { ...target, expectedAgentId: this.current.support?.assigneeId ?? null }));
  }

  resolve(): Promise<void> {
    return this.act(() => this.host.client.resolve(this.conversationId));
  }

  reopen(): Promise<void> {
    return this.act(() => this.host.client.reopen(this.conversationId));
  }

  handBack(): Promise<void> {
    return this.act(() => this.host.client.handBack(this.conversationId));
  }

  // ---- events ----------------------------------------------------------------------------------------

  private follow(client: ParleyClient): void {
    const subscription = client.subscribe(this.conversationId, { since: 0, staff: true });
    const generations = new Generations(subscription, (error) => console.error(error));
    subscription.on('event', (event) => this.onEvent(event));
    subscription.on('staffEvent', (event) => this.onStaffEvent(event));
    subscription.on('signal', (signal) => this.onSignal(signal));
    subscription.on('end', (error) => {
      if (error && !this.disposed) this.refresh({ notice: `The conversation is no longer available: ${describe(error)}` });
    });
    generations.on('update', (state) => {
      this.timeline.updateAnswer(state);
      this.refresh({});
    });
    this.subscription = subscription;
    this.generations = generations;
  }

  private onEvent(event: ParleyEvent): void {
    this.timeline.addEvent(event, this.host.names);
    const support = this.current.support ? applySupportEvent(this.current.support, event) : undefined;
    if (event.type === 'message.created' && event.actor.id === this.current.customerId) this.customerTypingAt = 0;
    if (event.actor.id !== this.host.me && event.type === 'message.created') this.colleagueStoppedTyping(event.actor.id);
    this.refresh(support ? { support } : {});
    this.markRead(event.seq);
    this.host.activity();
  }

  private onStaffEvent(event: ParleyStaffEvent): void {
    this.timeline.addStaffEvent(event, this.host.names);
    this.refresh({});
  }

  private onSignal(signal: ParleySignal): void {
    const id = signal.actor.id;
    if (id === this.host.me) return;
    if (signal.type === 'typing') {
      if (id === this.current.customerId) this.customerTypingAt = signal.data.active ? Date.now() : 0;
      else this.colleague(id, null).seenAt.typing = signal.data.active ? Date.now() : 0;
    } else if (signal.type === 'agent.viewing') {
      const colleague = this.colleague(id, signal.data.name);
      colleague.seenAt.viewing = signal.data.active ? Date.now() : 0;
      // A colleague who opened the conversation after us would not know we are here: say it again.
      if (signal.data.active && colleague.viewing === false) void this.announceViewing(true);
    } else {
      return;
    }
    this.expireSignals();
  }

  private colleague(id: string, name: string | null) {
    if (name) this.host.names.set(id, name);
    let colleague = this.colleagues.get(id);
    if (!colleague) this.colleagues.set(id, (colleague = { id, name: this.host.names.get(id) ?? id, viewing: false, typing: false, seenAt: { viewing: 0, typing: 0 } }));
    if (name) colleague.name = name;
    return colleague;
  }

  private colleagueStoppedTyping(id: string): void {
    const colleague = this.colleagues.get(id);
    if (colleague) colleague.seenAt.typing = 0;
  }

  /** Recomputes who is typing or viewing; signals not repeated in time no longer count. */
  private expireSignals(): void {
    const now = Date.now();
    if (this.typingSince !== undefined && now - this.lastKeystroke > TYPING_IDLE_MS) this.stopTyping();
    const customerTyping = now - this.customerTypingAt < SIGNAL_LIFETIME_MS.typing;
    let changed = customerTyping !== this.current.customerTyping;
    for (const colleague of this.colleagues.values()) {
      const viewing = now - colleague.seenAt.viewing < SIGNAL_LIFETIME_MS.viewing;
      const typing = now - colleague.seenAt.typing < SIGNAL_LIFETIME_MS.typing;
      if (viewing !== colleague.viewing || typing !== colleague.typing) changed = true;
      Object.assign(colleague, { viewing, typing });
    }
    if (!changed) return;
    const colleagues = [...this.colleagues.values()].filter((colleague) => colleague.viewing || colleague.typing).map(({ id, name, viewing, typing }) => ({ id, name, viewing, typing }));
    this.update({ customerTyping, colleagues });
  }

  // ---- actions ---------------------------------------------------------------------------------------

  /** Runs an operation that changes the support state; shows its error (a `conflict` means someone was faster). */
  private async act(operation: () => Promise<{ support: SupportState }>): Promise<void> {
    this.update({ busy: true, notice: undefined });
    try {
      const result = await operation();
      this.update({ busy: false, support: result.support });
      this.host.activity();
      void this.loadCanned();
    } catch (error) {
      const conflict = error instanceof ParleyClientError && error.code === 'conflict';
      this.update({ busy: false, notice: conflict ? `Someone else changed this conversation first: ${describe(error)}` : describe(error) });
      if (conflict) void this.reload();
    }
  }

  /** An assignment routing gave this agent counts as accepted once they open it (else it is re-routed after a while). */
  private async acceptIfMine(): Promise<void> {
    const support = this.current.support;
    if (support?.mode !== 'agent' || support.assigneeId !== this.host.me) return;
    try {
      await this.host.client.claim(this.conversationId);
    } catch {
      // Taken back by routing meanwhile, or already accepted: the events say what happened.
    }
  }

  private async reload(): Promise<void> {
    try {
      const conversation = await this.host.client.getConversation(this.conversationId);
      if (!this.disposed) this.update({ conversation, support: conversation.support });
    } catch {
      // the next event brings the state anyway
    }
  }

  private async loadCanned(): Promise<void> {
    try {
      const canned = await this.host.client.cannedReplies(this.conversationId);
      if (!this.disposed) this.update({ canned });
    } catch (error) {
      console.debug('parley: canned replies', describe(error));
    }
  }

  private async announceViewing(active: boolean): Promise<void> {
    try {
      await this.host.client.viewing(this.conversationId, active);
    } catch {
      // collision hints are best effort
    }
  }

  /** Moves the read marker (once per burst of events: a replay delivers many at once). */
  private markRead(seq: number): void {
    if (seq <= this.readSeq || document.visibilityState === 'hidden') return;
    this.readSeq = seq;
    this.readTimer ??= setTimeout(() => {
      this.readTimer = undefined;
      // Agents who are not members yet (a queued conversation) have no read marker: the inbox counts it unread.
      void this.host.client.markRead(this.conversationId, this.readSeq).then(() => this.host.activity(), () => undefined);
    }, 300);
  }

  // ---- state -----------------------------------------------------------------------------------------

  /** The timeline changed, with other changes. */
  private refresh(changes: Partial<PaneView>): void {
    this.timelineChanged = true;
    this.update(changes);
  }

  private update(changes: Partial<PaneView>): void {
    if (this.disposed) return;
    this.current = { ...this.current, ...changes };
    this.host.changed();
  }
}

/** A message id that fits `clientMsgId` (letters, digits, `-`). */
function newClientMsgId(): string {
  return `agent-${Date.now().toString(36)}-${randomHex(8)}`;
}

export function describe(error: unknown): string {
  if (error instanceof ParleyClientError) return error.message || error.code;
  return error instanceof Error ? error.message : String(error);
}
