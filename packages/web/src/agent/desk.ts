import { ParleyClient, type Agent, type AgentStatus, type ClientState, type InboxItem, type InboxView, type Team, type TransportName } from '@parley/client';
import type { KeyValueStore } from '../identity';
import { fetchWebSettings } from '../web-settings';
import { SupportAdminApi } from './admin-api';
import { ConversationPane, describe, type PaneView } from './conversation-pane';
import type { StaffSession } from './sign-in';

/** What the console shows; a new object whenever anything changed. */
export interface DeskView {
  connection: ClientState;
  /** Whether a connection was up at some point: a later `connecting`/`reconnecting` means it dropped. */
  everConnected: boolean;
  /** The transport the SDK connected over (shown when it is a fallback). */
  transport: TransportName | undefined;
  /** This agent's status as the server last confirmed it. */
  status: AgentStatus | undefined;
  inboxView: InboxView;
  inbox: InboxItem[];
  counts: Record<InboxView, number> | undefined;
  inboxError: string | undefined;
  /** The open conversation. */
  selected: string | undefined;
  pane: PaneView | undefined;
  /** Agents and teams, for transfers (empty when this user may not list them). */
  agents: Agent[];
  teams: Team[];
  /** Hosts whose Markdown images load (the tenant's PARLEY_IMAGE_HOSTS); empty until known, so no image loads before. */
  imageHosts: readonly string[];
  /** A problem with the last desk-wide action (status), shown in the header. */
  notice: string | undefined;
  /** A problem that stops the console from working. */
  fatal: string | undefined;
}

export interface DeskOptions {
  session: StaffSession;
  url: string;
  store: KeyValueStore;
}

const STATUS_KEY = 'parley.agent.status';
/** The inbox is read again this often even without events: conversations the agent does not follow arrive in the queue too. */
const INBOX_POLL_MS = 5_000;
/** Events come in bursts (a replay, a handoff's several events): one inbox read per burst. */
const INBOX_DEBOUNCE_MS = 250;

/**
 * The agent console's state outside React: the client, this agent's status, the inbox with its live counts,
 * and the open conversation (a `ConversationPane`). React reads it through `subscribe` and `view`.
 */
export class Desk {
  readonly api: SupportAdminApi;
  /** Display names by user id: agents, the assignees the inbox names, colleagues seen in conversations. */
  readonly names = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private client: ParleyClient | undefined;
  private currentPane: ConversationPane | undefined;
  private current: DeskView;
  private scheduled = false;
  private inboxTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private inboxRequest = 0;

  constructor(private readonly options: DeskOptions) {
    this.api = new SupportAdminApi(() => options.session.token());
    if (options.session.name) this.names.set(options.session.userId, options.session.name);
    const inboxView = options.session.role === 'admin' ? 'all' : 'queue';
    this.current = {
      connection: 'idle',
      everConnected: false,
      transport: undefined,
      status: undefined,
      inboxView,
      inbox: [],
      counts: undefined,
      inboxError: undefined,
      selected: undefined,
      pane: undefined,
      agents: [],
      teams: [],
      imageHosts: [],
      notice: undefined,
      fatal: undefined,
    };
  }

  /** The signed-in agent or admin. */
  get session(): StaffSession {
    return this.options.session;
  }

  /** The open conversation's actions (reply, note, claim, ...). */
  get pane(): ConversationPane | undefined {
    return this.currentPane;
  }

  /** The current view (stable between changes, as useSyncExternalStore wants). */
  readonly view = (): DeskView => {
    const pane = this.currentPane?.view;
    if (pane !== this.current.pane) this.current = { ...this.current, pane };
    return this.current;
  };

  /** Calls `listener` after every change; returns a function that removes it. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Connects, sets the status kept from last time (online at first), and reads the inbox. */
  async start(): Promise<void> {
    const client = new ParleyClient({ url: this.options.url, token: () => this.options.session.token() });
    this.client = client;
    client.on('state', (state) => this.onState(state));
    client.on('transport', (transport) => this.update({ transport }));
    client.on('error', (error) => console.debug('parley:', error.message));
    client.on('notification', () => this.inboxChanged());
    fetchWebSettings(this.options.session.tenant).then(
      (settings) => this.update({ imageHosts: settings.imageHosts }),
      (error: unknown) => console.debug('parley: web settings', describe(error)),
    );
    try {
      const session = await client.connect();
      if (!session.principal.roles.some((role) => role === 'agent' || role === 'admin')) {
        return this.fail('This account is neither an agent nor an admin: the console is for the support team.');
      }
    } catch (error) {
      return this.fail(`Could not connect: ${describe(error)}`);
    }
    const kept = this.options.store.get(STATUS_KEY);
    await this.setStatus(kept === 'away' || kept === 'offline' ? kept : 'online');
    await this.refreshInbox();
    this.pollTimer = setInterval(() => {
      if (document.visibilityState !== 'hidden') this.inboxChanged();
    }, INBOX_POLL_MS);
    void this.loadDirectory();
  }

  /** Signs out: offline first (so routing stops assigning at once, not after the presence grace), then closes. */
  async signOut(): Promise<void> {
    await this.client?.setAgentStatus('offline').catch(() => undefined);
    this.dispose();
  }

  /** Closes the connection for good. */
  dispose(): void {
    clearInterval(this.pollTimer);
    clearTimeout(this.inboxTimer);
    this.currentPane?.dispose();
    this.client?.close();
  }

  /** Sets this agent's status: online (routing assigns conversations), away or offline (it does not). */
  async setStatus(status: AgentStatus): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const agent = await client.setAgentStatus(status);
      this.options.store.set(STATUS_KEY, agent.status);
      if (agent.name) this.names.set(agent.userId, agent.name);
      this.update({ status: agent.status, notice: undefined });
    } catch (error) {
      this.update({ notice: `Could not set the status: ${describe(error)}` });
    }
  }

  /** Shows another view of the inbox. */
  showView(inboxView: InboxView): void {
    if (inboxView === this.current.inboxView) return;
    this.update({ inboxView, inbox: [] });
    void this.refreshInbox();
  }

  /** Opens a conversation (closing the one open before). */
  select(conversationId: string | undefined): void {
    if (!this.client || conversationId === this.current.selected) return;
    this.currentPane?.dispose();
    this.currentPane = undefined;
    if (conversationId !== undefined) {
      const pane = new ConversationPane(conversationId, {
        client: this.client,
        me: this.options.session.userId,
        names: this.names,
        changed: () => this.changed(),
        activity: () => this.inboxChanged(),
      });
      this.currentPane = pane;
      void pane.open();
    }
    this.update({ selected: conversationId });
  }

  /** Reads the inbox again soon (once per burst of calls). */
  inboxChanged(): void {
    if (this.inboxTimer !== undefined) return;
    this.inboxTimer = setTimeout(() => {
      this.inboxTimer = undefined;
      void this.refreshInbox();
    }, INBOX_DEBOUNCE_MS);
  }

  /** Reads the current view of the inbox and every view's count. */
  async refreshInbox(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const request = ++this.inboxRequest;
    const inboxView = this.current.inboxView;
    try {
      const page = await client.inbox(inboxView, { limit: 100 });
      if (request !== this.inboxRequest) return; // a newer read (another view) won
      for (const item of page.items) if (item.support.assigneeId && item.support.assigneeName) this.names.set(item.support.assigneeId, item.support.assigneeName);
      this.update({ inbox: page.items, counts: page.counts, inboxError: undefined });
    } catch (error) {
      if (request === this.inboxRequest) this.update({ inboxError: `Could not read the inbox: ${describe(error)}` });
    }
  }

  /** Agents and teams, for transfers; agents who may not list them transfer by id. */
  async loadDirectory(): Promise<void> {
    try {
      const [agents, teams] = await Promise.all([this.api.agents(), this.api.teams()]);
      for (const agent of agents) if (agent.name) this.names.set(agent.userId, agent.name);
      this.update({ agents, teams });
    } catch (error) {
      console.debug('parley: agents and teams', describe(error));
    }
  }

  private onState(state: ClientState): void {
    this.update({ connection: state, everConnected: this.current.everConnected || state === 'connected' });
    // Back after a drop: the status and the inbox may have moved meanwhile (an offline agent's queue is re-routed).
    if (state === 'connected' && this.current.status !== undefined) {
      void this.setStatus(this.current.status);
      this.inboxChanged();
    }
  }

  private fail(message: string): void {
    if (this.current.fatal === undefined) this.update({ fatal: message });
    this.client?.close();
  }

  private update(changes: Partial<DeskView>): void {
    this.current = { ...this.current, ...changes };
    this.changed();
  }

  /** Tells React once per task, however many changes came in it. */
  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) listener();
    });
  }
}
