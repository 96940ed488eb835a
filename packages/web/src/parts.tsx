import { useEffect, useState, type FormEvent } from 'react';
import { contentText, type Part, type PartOf } from '@parley/client';
import type { Chat } from './chat';
import { Markdown } from './markdown';

/** A rich message's parts: text, images (loaded through short-lived links), files, quick replies and forms. */
export function Parts({ parts, seq, chat, imageHosts }: { parts: Part[]; seq: number | undefined; chat: Chat; imageHosts: readonly string[] }) {
  return (
    <div className="parts" data-testid="message-parts">
      {parts.map((part, index) => (
        <PartView key={index} part={part} seq={seq} chat={chat} imageHosts={imageHosts} />
      ))}
    </div>
  );
}

function PartView({ part, seq, chat, imageHosts }: { part: Part; seq: number | undefined; chat: Chat; imageHosts: readonly string[] }) {
  switch (part.type) {
    case 'text':
      return <Markdown text={part.text} imageHosts={imageHosts} data-testid="message-text" />;
    case 'image':
      return <ImagePart part={part} chat={chat} />;
    case 'file':
      return <FilePart part={part} chat={chat} />;
    case 'quick_replies':
      return <QuickReplies part={part} seq={seq} chat={chat} />;
    case 'form':
      return <FormPart part={part} seq={seq} chat={chat} />;
    default:
      return <p className="part-note">{contentText({ type: 'parts', parts: [part] })}</p>;
  }
}

function ImagePart({ part, chat }: { part: PartOf<'image'>; chat: Chat }) {
  const [url, setUrl] = useState<string | undefined>(undefined);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    chat.fileUrl(part.attachmentId).then(
      (link) => live && setUrl(link),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [chat, part.attachmentId]);
  if (failed) return <p className="part-note">[image {part.name} could not be loaded]</p>;
  return url ? <img className="part-image" src={url} alt={part.name} data-testid="message-image" /> : <p className="part-note">Loading {part.name}…</p>;
}

function FilePart({ part, chat }: { part: PartOf<'file'>; chat: Chat }) {
  // A fresh link at each click: links expire within minutes.
  const open = () => void chat.fileUrl(part.attachmentId).then((url) => window.open(url, '_blank', 'noopener'));
  return (
    <button type="button" className="part-file" onClick={open} data-testid="message-file">
      📄 {part.name} <span className="meta">({formatSize(part.size)})</span>
    </button>
  );
}

function QuickReplies({ part, seq, chat }: { part: PartOf<'quick_replies'>; seq: number | undefined; chat: Chat }) {
  return (
    <div className="quick-replies" role="group" aria-label="Quick replies">
      {part.options.map((option) => (
        <button key={option.id} type="button" disabled={seq === undefined} onClick={() => seq !== undefined && void chat.answerOffer({ type: 'choice', replyTo: seq, optionId: option.id, label: option.label })}>
          {option.label}
        </button>
      ))}
    </div>
  );
}

function FormPart({ part, seq, chat }: { part: PartOf<'form'>; seq: number | undefined; chat: Chat }) {
  const [values, setValues] = useState<Record<string, string | number | boolean>>({});
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (seq !== undefined) void chat.answerOffer({ type: 'form_response', replyTo: seq, formId: part.formId, values });
  };
  const set = (name: string, value: string | number | boolean) => setValues((current) => ({ ...current, [name]: value }));
  return (
    <form className="part-form" onSubmit={submit} aria-label={part.title ?? part.formId}>
      {part.title && <p className="part-form-title">{part.title}</p>}
      {part.fields.map((field) => (
        <label key={field.name}>
          {field.label}
          {field.kind === 'select' ? (
            <select required={field.required} onChange={(event) => set(field.name, event.target.value)} defaultValue="">
              <option value="" disabled>
                Choose…
              </option>
              {field.options!.map((option) => (
                <option key={option}>{option}</option>
              ))}
            </select>
          ) : field.kind === 'checkbox' ? (
            <input type="checkbox" onChange={(event) => set(field.name, event.target.checked)} />
          ) : (
            <input type={field.kind} required={field.required} onChange={(event) => set(field.name, field.kind === 'number' ? Number(event.target.value) : event.target.value)} />
          )}
        </label>
      ))}
      <button type="submit" disabled={seq === undefined}>
        {part.submitLabel ?? 'Send'}
      </button>
    </form>
  );
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
