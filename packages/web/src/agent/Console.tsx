import { useEffect, useState, useSyncExternalStore } from 'react';
import type { AgentStatus, InboxItem, InboxView } from '@parley/client';
import { ConnectionBanner } from '../connection-banner';
import { Admin } from './Admin';
import { ConversationView } from './ConversationView';
import type { Desk, DeskView } from './desk';
import { customerName } from './customer';
import { MODE_LABELS } from './support-state';
import { formatDuration, nameOf } from './timeline';

const VIEWS: Array<{ view: InboxView; label: string }> = [
  { view: 'queue', label: 'Queue' },
  { view: 'mine', label: 'Mine' },
  { view: 'team', label: 'Team' },
  { view: 'all', label: 'All' },
];

const STATUSES: AgentStatus[] = ['online', 'away', 'offline'];

/** Whether a key press happened while typing somewhere (then single-key shortcuts do not apply). */
function typingInField(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (element.tagName === 'INPUT' || element.tagName === 'TEXTAREA' || element.tagName === 'SELECT' || element.isContentEditable);
}

/** The signed-in console: header with the status, the inbox, the open conversation; or the admin section. */
export function Console({ desk, onSignOut }: { desk: Desk; onSignOut(): void }) {
  const view = useSyncExternalStore(desk.subscribe, desk.view);
  const [section, setSection] = useState<'desk' | 'admin'>('desk');
  const isAdmin = desk.session.role === 'admin';
  useDeskShortcuts(desk, view, section === 'desk');
  return (
    <div className="console">
      <header className="console-header">
        <h1>Parley agent console</h1>
        <StatusToggle status={view.status} onChange={(status) => void desk.setStatus(status)} />
        {view.notice && (
          <span className="error" role="alert">
            {view.notice}
          </span>
        )}
        <span className="spacer" />
        {isAdmin && (
          <nav className="sections" aria-label="Sections">
            <button type="button" aria-pressed={section === 'desk'} onClick={() => setSection('desk')}>
              Inbox
            </button>
            <button type="button" aria-pressed={section === 'admin'} onClick={() => setSection('admin')} data-testid="admin-section">
              Admin
            </button>
          </nav>
        )}
        <span className="who" data-testid="agent-user">
          <span className={`dot dot-${view.connection}`} aria-hidden="true" />
          {desk.session.name ?? desk.session.userId} <span className="muted">({desk.session.role})</span>
        </span>
        <button type="button" className="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <ConnectionBanner view={view} />
      {section === 'admin' ? (
        <Admin desk={desk} />
      ) : (
        <div className="desk">
          <Inbox desk={desk} view={view} />
          {view.pane && desk.pane ? (
            <ConversationView key={view.pane.conversationId} pane={desk.pane} view={view.pane} desk={view} me={desk.session.userId} names={desk.names} />
          ) : (
            <section className="conversation-empty muted">
              <p>Pick a conversation from the inbox.</p>
              <p className="shortcuts">Shortcuts: j / k next and previous conversation · Alt+1–4 inbox views · / canned replies · Alt+N note · Enter send</p>
            </section>
          )}
        </div>
      )}
    </div>
  );
}

/** Keys that work anywhere but in a text field: j/k move through the inbox, Alt+1..4 switch views, / opens canned replies. */
function useDeskShortcuts(desk: Desk, view: DeskView, active: boolean): void {
  useEffect(() => {
    if (!active) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.altKey && /^Digit[1-4]$/.test(event.code)) {
        event.preventDefault();
        desk.showView(VIEWS[Number(event.code.slice(-1)) - 1]!.view);
        return;
      }
      if (typingInField(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'j' || event.key === 'k') {
        const index = view.inbox.findIndex((item) => item.conversationId === view.selected);
        const next = view.inbox[Math.max(0, Math.min(view.inbox.length - 1, index + (event.key === 'j' ? 1 : -1)))];
        if (next) desk.select(next.conversationId);
      } else if (event.key === '/') {
        const composer = document.getElementById('composer-input') as HTMLTextAreaElement | null;
        if (!composer) return;
        event.preventDefault();
        composer.focus();
        composer.dispatchEvent(new CustomEvent('parley:canned'));
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [desk, view.inbox, view.selected, active]);
}

function StatusToggle({ status, onChange }: { status: AgentStatus | undefined; onChange(status: AgentStatus): void }) {
  return (
    <div className="status-toggle" role="radiogroup" aria-label="Status">
      {STATUSES.map((value) => (
        <button key={value} type="button" role="radio" aria-checked={status === value} className={`status-${value}`} onClick={() => onChange(value)} data-testid={`status-${value}`}>
          {value}
        </button>
      ))}
    </div>
  );
}

function Inbox({ desk, view }: { desk: Desk; view: DeskView }) {
  const now = useNow(5_000);
  return (
    <nav className="inbox" aria-label="Inbox">
      <div className="inbox-views" role="tablist" aria-label="Inbox views">
        {VIEWS.map(({ view: name, label }) => (
          <button key={name} type="button" role="tab" aria-selected={view.inboxView === name} onClick={() => desk.showView(name)} data-testid={`inbox-view-${name}`}>
            {label}
            <span className="count" data-testid={`inbox-count-${name}`}>
              {view.counts?.[name] ?? '–'}
            </span>
          </button>
        ))}
      </div>
      {view.inboxError && (
        <p className="error inbox-error" role="alert">
          {view.inboxError}
        </p>
      )}
      <ul className="inbox-list" data-testid="inbox">
        {view.inbox.length === 0 && <li className="muted inbox-empty">Nothing here.</li>}
        {view.inbox.map((item) => (
          <InboxRow key={item.conversationId} item={item} selected={item.conversationId === view.selected} now={now} names={desk.names} onOpen={() => desk.select(item.conversationId)} />
        ))}
      </ul>
    </nav>
  );
}

function InboxRow({ item, selected, now, names, onOpen }: { item: InboxItem; selected: boolean; now: number; names: ReadonlyMap<string, string>; onOpen(): void }) {
  const unread = Math.max(0, item.lastSeq - item.lastReadSeq);
  const customer = customerName(item);
  const waiting = item.support.mode === 'queued' && item.support.queuedAt !== null ? `waiting ${formatDuration(now - item.support.queuedAt)}` : null;
  return (
    <li>
      <button type="button" className={`inbox-item mode-${item.support.mode}`} aria-current={selected} onClick={onOpen} data-testid="inbox-item" data-conversation={item.conversationId}>
        <span className="inbox-line">
          <strong className="customer">{customer}</strong>
          {unread > 0 && !selected && (
            <span className="unread" data-testid="unread" aria-label={`${unread} unread`}>
              {unread}
            </span>
          )}
        </span>
        <span className="inbox-line muted">
          <span className={`mode mode-${item.support.mode}`}>{MODE_LABELS[item.support.mode]}</span>
          {item.support.assigneeId && <span>{item.support.assigneeName ?? nameOf(item.support.assigneeId, names)}</span>}
          {waiting && <span>{waiting}</span>}
          {item.sentiment && <span className={`sentiment sentiment-${item.sentiment}`}>{item.sentiment}</span>}
        </span>
      </button>
    </li>
  );
}

/** The current time, refreshed every `intervalMs` (for "waiting 3 min"). */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
