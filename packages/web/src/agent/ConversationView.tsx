import { useState, type FormEvent } from 'react';
import { useFollowBottom } from '../follow-bottom';
import { Composer } from './Composer';
import type { ConversationPane, PaneView } from './conversation-pane';
import type { DeskView } from './desk';
import { MessageText } from './MessageText';
import { MODE_LABELS, supportActions, type TakeAction } from './support-state';
import { nameOf, type Names, type TimelineItem } from './timeline';

const TAKE_LABELS: Record<Exclude<TakeAction, null>, string> = {
  claim: 'Claim',
  takeOverFromAssistant: 'Take over',
  takeOverFromAgent: 'Take over',
};

export interface ConversationViewProps {
  pane: ConversationPane;
  view: PaneView;
  desk: DeskView;
  me: string;
  names: Names;
}

/** One conversation: who and where it stands, the actions, the merged timeline, the composer, the AI's summary and sentiment. */
export function ConversationView({ pane, view, desk, me, names }: ConversationViewProps) {
  const actions = supportActions(view.support, me);
  const [transferring, setTransferring] = useState(false);
  const customer = view.customerId ? nameOf(view.customerId, names) : '…';
  return (
    <>
      <section className="conversation-pane" aria-label={`Conversation with ${customer}`} data-testid="conversation-pane">
        <header className="pane-header">
          <div>
            <h2 data-testid="conversation-customer">{customer}</h2>
            <p className="muted" data-testid="conversation-state">
              {view.support ? MODE_LABELS[view.support.mode] : 'Loading…'}
              {view.support?.assigneeId && ` · ${view.support.assigneeId === me ? 'you' : (view.support.assigneeName ?? nameOf(view.support.assigneeId, names))}`}
              {view.support?.team && ` · team ${view.support.team}`}
            </p>
          </div>
          <div className="actions">
            {actions.take && (
              <button type="button" className="primary" disabled={view.busy} onClick={() => void pane.take(actions.take!)} data-testid="action-claim">
                {TAKE_LABELS[actions.take]}
              </button>
            )}
            {actions.transfer && (
              <button type="button" disabled={view.busy} aria-expanded={transferring} onClick={() => setTransferring(!transferring)} data-testid="action-transfer">
                Transfer
              </button>
            )}
            {actions.handBack && (
              <button type="button" disabled={view.busy} onClick={() => void pane.handBack()} data-testid="action-hand-back">
                Hand back to AI
              </button>
            )}
            {actions.reopen && (
              <button type="button" disabled={view.busy} onClick={() => void pane.reopen()} data-testid="action-reopen">
                Reopen
              </button>
            )}
            {actions.resolve && (
              <button type="button" className="resolve" disabled={view.busy} onClick={() => void pane.resolve()} data-testid="action-resolve">
                Resolve
              </button>
            )}
          </div>
        </header>
        {transferring && actions.transfer && <TransferForm pane={pane} desk={desk} me={me} onDone={() => setTransferring(false)} />}
        <Colleagues view={view} />
        <Timeline view={view} names={names} imageHosts={desk.imageHosts} />
        <p className="typing-line" aria-live="polite" data-testid="typing-indicator">
          {typingText(view, customer)}
        </p>
        {view.notice && (
          <p className="error pane-notice" role="alert" data-testid="pane-notice">
            {view.notice}
          </p>
        )}
        <Composer pane={pane} view={view} canReply={actions.reply} />
      </section>
      <aside className="details" aria-label="Details">
        <section>
          <h3>Summary</h3>
          {view.summary ? (
            <p className="summary" data-testid="summary">
              {view.summary.text}
            </p>
          ) : (
            <p className="muted">No summary: the assistant writes one at a handoff.</p>
          )}
        </section>
        <section>
          <h3>Sentiment</h3>
          {view.sentiment ? (
            <p className={`sentiment sentiment-${view.sentiment.label}`} data-testid="sentiment">
              {view.sentiment.label} ({view.sentiment.score.toFixed(2)})
            </p>
          ) : (
            <p className="muted">Not measured yet.</p>
          )}
        </section>
        {view.conversation && Object.keys(view.conversation.metadata).length > 0 && (
          <section>
            <h3>Customer data</h3>
            <dl className="metadata">
              {Object.entries(view.conversation.metadata).map(([key, value]) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
                </div>
              ))}
            </dl>
          </section>
        )}
      </aside>
    </>
  );
}

function typingText(view: PaneView, customer: string): string {
  const typing = [...(view.customerTyping ? [customer] : []), ...view.colleagues.filter((colleague) => colleague.typing).map((colleague) => colleague.name)];
  if (typing.length === 0) return '';
  return `${typing.join(' and ')} ${typing.length === 1 ? 'is' : 'are'} typing…`;
}

/** Other agents in this conversation: collision detection. */
function Colleagues({ view }: { view: PaneView }) {
  if (view.colleagues.length === 0) return null;
  return (
    <p className="colleagues" role="status" data-testid="colleagues">
      {view.colleagues.map((colleague) => `${colleague.name} is ${colleague.typing ? 'typing' : 'viewing'}`).join(' · ')}
    </p>
  );
}

function Timeline({ view, names, imageHosts }: { view: PaneView; names: Names; imageHosts: readonly string[] }) {
  const { list, onScroll } = useFollowBottom<HTMLDivElement>(view.items);
  return (
    <div className="timeline" ref={list} onScroll={onScroll} role="log" aria-label="Conversation" data-testid="timeline">
      {!view.ready && !view.notice && <p className="muted">Loading the conversation…</p>}
      {view.items.map((item) => (
        <TimelineEntry key={item.key} item={item} names={names} imageHosts={imageHosts} />
      ))}
    </div>
  );
}

function TimelineEntry({ item, names, imageHosts }: { item: TimelineItem; names: Names; imageHosts: readonly string[] }) {
  switch (item.kind) {
    case 'message':
      return (
        <article className={`entry message from-${item.authorKind} ${item.mine ? 'mine' : ''}`} data-testid="message" data-author={item.authorKind} data-status={item.status}>
          <p className="author">
            {item.mine ? 'You' : item.authorKind === 'customer' ? `${nameOf(item.authorId, names)} (customer)` : nameOf(item.authorId, names)}
            {item.sentiment && <span className={`sentiment sentiment-${item.sentiment.label}`}> · {item.sentiment.label}</span>}
          </p>
          <div className="bubble">
            <MessageText text={item.text} imageHosts={imageHosts} />
          </div>
          {item.status === 'sending' && <p className="meta">sending…</p>}
          {item.status === 'failed' && <p className="meta error">not sent: {item.error}</p>}
        </article>
      );
    case 'answer':
      return (
        <article className={`entry message from-assistant status-${item.status}`} data-testid="answer" data-status={item.status}>
          <p className="author">Assistant</p>
          <div className="bubble">
            <MessageText text={item.text} streaming={item.status === 'streaming'} imageHosts={imageHosts} />
            {item.status === 'streaming' && item.text.length === 0 && <span className="muted">thinking…</span>}
            {item.status === 'stopped' && <span className="muted"> (stopped)</span>}
          </div>
          {item.error && <p className="meta error">failed: {item.error}</p>}
        </article>
      );
    case 'note':
      return (
        <article className="entry note" data-testid="note" data-status={item.status} aria-label="Private note">
          <p className="author">
            Private note · {item.mine ? 'you' : nameOf(item.authorId, names)} <span className="muted">(the customer does not see it)</span>
          </p>
          <div className="bubble">
            <MessageText text={item.text} imageHosts={imageHosts} />
          </div>
          {item.status === 'failed' && <p className="meta error">not saved: {item.error}</p>}
        </article>
      );
    case 'summary':
      return (
        <article className="entry summary-entry" data-testid="summary-entry">
          <p className="author">AI summary for the agent</p>
          <div className="bubble">
            <MessageText text={item.text} imageHosts={imageHosts} />
          </div>
        </article>
      );
    case 'system':
      return (
        <p className={`entry system ${item.staff ? 'staff' : ''}`} data-testid="system-line">
          {item.text}
        </p>
      );
  }
}

/** Moves the conversation to another agent or to a team's queue. */
function TransferForm({ pane, desk, me, onDone }: { pane: ConversationPane; desk: DeskView; me: string; onDone(): void }) {
  const [kind, setKind] = useState<'agent' | 'team'>('agent');
  const [target, setTarget] = useState('');
  const [reason, setReason] = useState('');
  const options = kind === 'agent' ? desk.agents.filter((agent) => agent.userId !== me).map((agent) => ({ id: agent.userId, label: `${agent.name ?? agent.userId} (${agent.status}, ${agent.open}/${agent.capacity})` })) : desk.teams.map((team) => ({ id: team.id, label: team.name }));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const id = target.trim();
    if (!id) return;
    const why = reason.trim() ? { reason: reason.trim() } : {};
    await pane.transfer(kind === 'agent' ? { toAgentId: id, ...why } : { toTeam: id, ...why });
    onDone();
  };
  return (
    <form className="transfer" onSubmit={(event) => void submit(event)} aria-label="Transfer" data-testid="transfer-form">
      <select value={kind} onChange={(event) => (setKind(event.target.value as 'agent' | 'team'), setTarget(''))} aria-label="Transfer to">
        <option value="agent">to an agent</option>
        <option value="team">to a team's queue</option>
      </select>
      {options.length > 0 ? (
        <select value={target} onChange={(event) => setTarget(event.target.value)} aria-label={kind === 'agent' ? 'Agent' : 'Team'} required>
          <option value="">choose…</option>
          {options.map((option) => (
            <option key={option.id} value={option.id}>
              {option.label}
            </option>
          ))}
        </select>
      ) : (
        <input value={target} onChange={(event) => setTarget(event.target.value)} aria-label={kind === 'agent' ? 'Agent id' : 'Team id'} placeholder={kind === 'agent' ? 'agent id' : 'team id'} required />
      )}
      <input value={reason} onChange={(event) => setReason(event.target.value)} aria-label="Reason" placeholder="reason (optional)" maxLength={500} />
      <button type="submit" className="primary">
        Transfer
      </button>
      <button type="button" className="link" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
