import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { RenderedCannedReply } from '@parley/client';
import type { ConversationPane, PaneView } from './conversation-pane';

/** The canned replies matching what follows the "/" (by shortcut first, then by text). */
export function matchCanned(replies: readonly RenderedCannedReply[], query: string): RenderedCannedReply[] {
  const wanted = query.toLowerCase();
  const byShortcut = replies.filter((reply) => reply.shortcut.replace(/^\//, '').toLowerCase().startsWith(wanted));
  const byText = replies.filter((reply) => !byShortcut.includes(reply) && reply.rendered.toLowerCase().includes(wanted));
  return [...byShortcut, ...byText].slice(0, 8);
}

/**
 * The reply box. Enter sends, Shift+Enter starts a new line; Alt+N switches between a reply to the customer and
 * a private note; "/" at the start searches the canned replies (arrows choose, Enter or Tab inserts, Escape closes).
 */
export function Composer({ pane, view, canReply }: { pane: ConversationPane; view: PaneView; canReply: boolean }) {
  const [text, setText] = useState('');
  const [mode, setMode] = useState<'reply' | 'note'>('reply');
  const [choice, setChoice] = useState(0);
  const input = useRef<HTMLTextAreaElement>(null);
  const cannedQuery = text.startsWith('/') && !text.includes('\n') ? text.slice(1) : undefined;
  const matches = cannedQuery === undefined ? [] : matchCanned(view.canned, cannedQuery);
  const disabled = !view.ready || (mode === 'reply' && !canReply);

  useEffect(() => {
    const element = input.current;
    if (!element) return;
    // The desk's global "/" shortcut focuses this box and starts a canned-reply search.
    const openCanned = () => setText((current) => (current.length === 0 ? '/' : current));
    element.addEventListener('parley:canned', openCanned);
    return () => element.removeEventListener('parley:canned', openCanned);
  }, []);
  useEffect(() => setChoice(0), [cannedQuery]);
  useEffect(() => {
    if (view.ready) input.current?.focus();
  }, [view.ready]);

  const insert = (reply: RenderedCannedReply) => {
    setText(reply.rendered);
    input.current?.focus();
  };
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (disabled || text.trim().length === 0) return;
    if (mode === 'note') void pane.note(text);
    else void pane.reply(text);
    setText('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.altKey && event.code === 'KeyN') {
      event.preventDefault();
      return setMode(mode === 'reply' ? 'note' : 'reply');
    }
    if (matches.length > 0) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        return setChoice((choice + (event.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length);
      }
      if ((event.key === 'Enter' && !event.shiftKey) || event.key === 'Tab') {
        event.preventDefault();
        return insert(matches[Math.min(choice, matches.length - 1)]!);
      }
    }
    if (event.key === 'Escape') {
      if (cannedQuery !== undefined) setText('');
      else input.current?.blur();
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
  };
  const onChange = (value: string) => {
    setText(value);
    if (mode !== 'reply') return;
    if (value.trim().length === 0) pane.stopTyping();
    else if (!value.startsWith('/')) pane.keystroke();
  };

  return (
    <form className={`composer mode-${mode}`} onSubmit={submit} aria-label={mode === 'note' ? 'Write a private note' : 'Reply to the customer'}>
      <div className="composer-modes" role="tablist" aria-label="Write">
        <button type="button" role="tab" aria-selected={mode === 'reply'} onClick={() => setMode('reply')} data-testid="composer-reply">
          Reply
        </button>
        <button type="button" role="tab" aria-selected={mode === 'note'} onClick={() => setMode('note')} data-testid="composer-note">
          Private note
        </button>
        <span className="muted hint">Enter sends · Shift+Enter new line · / canned replies · Alt+N note</span>
      </div>
      {matches.length > 0 && (
        <ul className="canned" role="listbox" aria-label="Canned replies" data-testid="canned-list">
          {matches.map((reply, index) => (
            <li key={reply.id} role="option" aria-selected={index === choice} onMouseDown={(event) => (event.preventDefault(), insert(reply))} data-testid="canned-option">
              <strong>{reply.shortcut}</strong> <span className="muted">{reply.rendered}</span>
            </li>
          ))}
        </ul>
      )}
      {cannedQuery !== undefined && matches.length === 0 && <p className="muted canned-none">No canned reply matches “{cannedQuery}”.</p>}
      <div className="row">
        <label className="visually-hidden" htmlFor="composer-input">
          {mode === 'note' ? 'Private note' : 'Reply'}
        </label>
        <textarea
          id="composer-input"
          ref={input}
          rows={2}
          value={text}
          placeholder={mode === 'note' ? 'A note for the team: the customer never sees it' : canReply ? 'Reply to the customer… ( / for canned replies)' : 'This conversation is closed'}
          disabled={disabled}
          onChange={(event) => onChange(event.target.value)}
          onKeyDown={onKeyDown}
          onBlur={() => pane.stopTyping()}
          data-testid="composer-input"
        />
        <button type="submit" className="primary" disabled={disabled || text.trim().length === 0}>
          {mode === 'note' ? 'Add note' : 'Send'}
        </button>
      </div>
    </form>
  );
}
