import { useEffect, useRef, useState, useSyncExternalStore, type FormEvent, type KeyboardEvent } from 'react';
import type { AnswerSource } from '@parley/client';
import type { AnswerItem, ApprovalNote, Chat, ChatItem, ChatView, MessageItem, SupportNoteItem, ToolNote } from './chat';
import { Parts } from './parts';
import { ConnectionBanner } from './connection-banner';
import { useFollowBottom } from './follow-bottom';
import { Markdown } from './markdown';
import { queueText, wantsRating } from './support-view';

export function App({ chat }: { chat: Chat }) {
  const view = useSyncExternalStore(chat.subscribe, chat.view);
  return (
    <div className="app">
      <header className="header">
        <div>
          <h1>Parley</h1>
          <p className="subtitle">Chat with the demo assistant</p>
        </div>
        <p className="who" data-testid="user">
          <span className={`dot dot-${view.connection}`} aria-hidden="true" />
          {view.user}
        </p>
      </header>
      <ConnectionBanner view={view} />
      <Conversation view={view} chat={chat} />
      <SupportStatus view={view} chat={chat} />
      <Composer view={view} chat={chat} />
    </div>
  );
}

function Conversation({ view, chat }: { view: ChatView; chat: Chat }) {
  const { list, onScroll } = useFollowBottom<HTMLDivElement>(view.items);
  return (
    <div className="conversation" ref={list} onScroll={onScroll} role="log" aria-label="Conversation" aria-live="polite" data-testid="conversation">
      {!view.ready && !view.fatal && <p className="empty">Connecting…</p>}
      {view.ready && view.items.length === 0 && (
        <p className="empty">
          Ask anything. Try “where is my order 1234?”, “cancel my order 1234” or “tell me a long story”.
        </p>
      )}
      {view.items.map((item: ChatItem) => {
        if (item.kind === 'message') return <Message key={item.key} item={item} imageHosts={view.imageHosts} chat={chat} />;
        if (item.kind === 'support') return <SupportLine key={item.key} item={item} />;
        return <Answer key={item.key} item={item} chat={chat} imageHosts={view.imageHosts} />;
      })}
    </div>
  );
}

function Message({ item, imageHosts, chat }: { item: MessageItem; imageHosts: readonly string[]; chat: Chat }) {
  return (
    <article
      className={`message ${item.mine ? 'mine' : 'theirs'}${item.fromAgent ? ' from-agent' : ''}`}
      data-testid="message"
      data-status={item.status}
      data-from={item.fromAgent ? 'agent' : item.mine ? 'me' : 'user'}
      aria-label={`Message from ${item.mine ? 'you' : item.author}`}
    >
      {!item.mine && <p className="author">{item.author}</p>}
      <div className="bubble">
        {item.parts ? <Parts parts={item.parts} seq={item.seq} chat={chat} imageHosts={imageHosts} /> : <Markdown text={item.text} imageHosts={imageHosts} data-testid="message-text" />}
      </div>
      {item.status === 'sending' && <p className="meta">sending…</p>}
      {item.status === 'failed' && <p className="meta error">not sent: {item.error}</p>}
    </article>
  );
}

function SupportLine({ item }: { item: SupportNoteItem }) {
  return (
    <p className={`support-note support-${item.testId}`} data-testid={item.testId} role="note">
      {item.text}
    </p>
  );
}

/** Under the conversation: the queue, the agent typing, the rating prompt. */
function SupportStatus({ view, chat }: { view: ChatView; chat: Chat }) {
  const { mode } = view.support;
  return (
    <>
      {mode === 'queued' && (
        <p className="support-status" role="status" data-testid="queue-position">
          {queueText(view.queue)}
        </p>
      )}
      {view.agentTyping && (
        <p className="support-status typing" role="status" data-testid="agent-typing">
          {view.agentTyping} is typing…
        </p>
      )}
      {wantsRating(view.support) && <RatingPrompt key={view.support.resolution} view={view} chat={chat} />}
    </>
  );
}

/** 1 to 5 stars and a comment, once per resolution. */
function RatingPrompt({ view, chat }: { view: ChatView; chat: Chat }) {
  const [rating, setRating] = useState<number | undefined>(undefined);
  const [comment, setComment] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (rating !== undefined) void chat.rate(rating, comment);
  };
  return (
    <form className="rating" onSubmit={submit} role="group" aria-labelledby="rating-title" data-testid="rating-prompt">
      <p id="rating-title" className="rating-title">
        How did we do? Rate this conversation
      </p>
      <div className="stars" role="radiogroup" aria-label="Rating from 1 to 5">
        {[1, 2, 3, 4, 5].map((value) => (
          <label key={value} className={`star${rating !== undefined && value <= rating ? ' on' : ''}`} title={`${value} of 5`}>
            <input type="radio" name="rating" value={value} aria-label={String(value)} checked={rating === value} onChange={() => setRating(value)} />
            <span aria-hidden="true">★</span>
          </label>
        ))}
      </div>
      <label className="visually-hidden" htmlFor="rating-comment">
        Comment
      </label>
      <textarea id="rating-comment" rows={2} maxLength={2000} placeholder="Anything to add? (optional)" value={comment} onChange={(event) => setComment(event.target.value)} />
      {view.rating.error && (
        <p className="meta error" role="alert" data-testid="rating-error">
          {view.rating.error}
        </p>
      )}
      <button type="submit" className="send" disabled={rating === undefined || view.rating.sending}>
        Send rating
      </button>
    </form>
  );
}

function Approval({ note, chat }: { note: ApprovalNote; chat: Chat }) {
  const what = `${note.toolName}(${Object.entries(note.input).map(([name, value]) => `${name}: ${JSON.stringify(value)}`).join(', ')})`;
  if (note.state !== 'pending') {
    return (
      <p className={`tool approval-${note.state}`} data-testid="approval" data-state={note.state}>
        {note.state === 'approved' ? 'approved' : 'denied'}: {what}
      </p>
    );
  }
  return (
    <div className="approval" data-testid="approval" data-state="pending" role="group" aria-label="Approval needed">
      <p>
        The assistant wants to run <code>{what}</code>.
      </p>
      <button type="button" onClick={() => void chat.decide(note.approvalId, true)}>
        Approve
      </button>{' '}
      <button type="button" className="secondary" onClick={() => void chat.decide(note.approvalId, false)}>
        Deny
      </button>
    </div>
  );
}

function ToolLine({ tool }: { tool: ToolNote }) {
  const what = {
    running: `using tool ${tool.toolName}…`,
    done: `used tool ${tool.toolName}`,
    failed: `tool ${tool.toolName} failed`,
    skipped: `did not use tool ${tool.toolName}`,
  }[tool.state];
  return (
    <p className={`tool tool-${tool.state}`} data-testid="tool-note" data-state={tool.state} title={tool.error}>
      {what}
    </p>
  );
}

function Answer({ item, chat, imageHosts }: { item: AnswerItem; chat: Chat; imageHosts: readonly string[] }) {
  const fallback = item.status === 'failed' ? item.error?.fallbackText : undefined;
  const text = fallback ?? item.text;
  return (
    <article className={`message answer status-${item.status}`} data-testid="answer" data-status={item.status} aria-label="Answer from the assistant" aria-busy={item.status === 'streaming'}>
      <p className="author">Assistant</p>
      {item.tools.map((tool) => (
        <ToolLine key={tool.toolCallId} tool={tool} />
      ))}
      {item.approvals.map((note) => (
        <Approval key={note.approvalId} note={note} chat={chat} />
      ))}
      <div className="bubble">
        <Markdown text={text} streaming={item.status === 'streaming'} imageHosts={imageHosts} data-testid="answer-text" />
        {item.status === 'streaming' && text.length === 0 && <span className="thinking">thinking…</span>}
        {item.status === 'stopped' && (
          <span className="badge" data-testid="answer-stopped">
            {' '}
            (stopped)
          </span>
        )}
      </div>
      {item.sources && item.sources.length > 0 && <Sources sources={item.sources} />}
      {item.status === 'failed' && (
        <p className="meta error" data-testid="answer-error">
          The answer failed{item.error ? `: ${item.error.message}` : ''}
          {fallback ? ' (fallback answer shown)' : ''}
        </p>
      )}
    </article>
  );
}

/** The knowledge-base passages an answer cites, numbered as its [n] markers; a link where the document has a web address. */
function Sources({ sources }: { sources: AnswerSource[] }) {
  return (
    <ol className="sources" data-testid="answer-sources" aria-label="Sources">
      {sources.map((source) => {
        const label = source.heading && source.heading !== source.title ? `${source.title} — ${source.heading}` : source.title;
        return (
          <li key={source.n} value={source.n} data-testid="answer-source">
            {source.url && /^https?:\/\//.test(source.url) ? (
              <a href={source.url} target="_blank" rel="noopener noreferrer">
                {label}
              </a>
            ) : (
              label
            )}
          </li>
        );
      })}
    </ol>
  );
}

function Composer({ view, chat }: { view: ChatView; chat: Chat }) {
  const [text, setText] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);
  const closed = view.support.mode === 'closed';
  const disabled = !view.ready || view.fatal !== undefined || view.connection === 'closed' || closed;
  useEffect(() => {
    if (!disabled) input.current?.focus();
  }, [disabled]);
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (disabled || text.trim().length === 0) return;
    void chat.send(text);
    setText('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
  };
  return (
    <form className="composer" onSubmit={submit} aria-label="Send a message">
      {view.notice && (
        <p className="notice" role="alert" data-testid="notice">
          {view.notice}
        </p>
      )}
      <div className="row">
        <label className="visually-hidden" htmlFor="message-input">
          Message
        </label>
        <textarea
          id="message-input"
          ref={input}
          rows={1}
          value={text}
          placeholder={closed ? 'This conversation is closed' : 'Write a message…'}
          disabled={disabled}
          onChange={(event) => {
            setText(event.target.value);
            if (event.target.value.length > 0) chat.typing();
          }}
          onKeyDown={onKeyDown}
        />
        <label className="attach" title="Attach a file">
          <span aria-hidden="true">📎</span>
          <span className="visually-hidden">Attach a file</span>
          <input
            type="file"
            data-testid="attach-input"
            disabled={disabled}
            onChange={(event) => {
              const file = event.target.files?.[0];
              if (file) void chat.sendFile(file);
              event.target.value = '';
            }}
          />
        </label>
        {view.answering && (
          <button type="button" className="stop" onClick={() => void chat.stop()}>
            Stop
          </button>
        )}
        {view.ready && view.support.mode === 'assistant' && (
          <button type="button" className="handoff" data-testid="handoff-button" disabled={view.handingOff || disabled} onClick={() => void chat.handoff()}>
            Talk to a person
          </button>
        )}
        <button type="submit" className="send" disabled={disabled || text.trim().length === 0}>
          Send
        </button>
      </div>
    </form>
  );
}
