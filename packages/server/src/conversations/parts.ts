import { formValuesProblem, isRasterImage, parseEvent, type ConversationEvent, type Content, type Part, type PartOf } from '@parley/protocol';
import type { AttachmentRecord } from '../core/attachment-store.js';
import { ParleyError } from '../core/errors.js';

/** How a message's parts are checked against what the conversation holds. */
export interface PartLookups {
  /** The attachment of this conversation, or null. */
  attachment(id: string): Promise<AttachmentRecord | null>;
  /** The event at `seq` of this conversation, or null. */
  event(seq: number): Promise<ConversationEvent | null>;
}

/**
 * The content as it is stored: files and images must be ready attachments of this conversation (their name,
 * type and size are taken from the server's record, not the sender), and a choice or form submission must
 * answer a quick reply or form of the message it names, with valid values. Other content passes unchanged.
 */
export async function checkedContent(content: Content, lookups: PartLookups): Promise<Content> {
  if (content.type !== 'parts' || !('parts' in content) || content.parts === undefined) return content;
  const parts: Part[] = [];
  for (const part of content.parts) parts.push(await checkedPart(part, lookups));
  return { type: 'parts', parts };
}

async function checkedPart(part: Part, lookups: PartLookups): Promise<Part> {
  switch (part.type) {
    case 'file':
    case 'image':
      return attachmentPart(part, await lookups.attachment(part.attachmentId));
    case 'choice': {
      const option = (await offeredParts(part.replyTo, 'quick_replies', lookups)).flatMap((offer) => offer.options).find((candidate) => candidate.id === part.optionId);
      if (!option) throw new ParleyError('bad_request', `message ${part.replyTo} offers no quick reply ${JSON.stringify(part.optionId)}`);
      return { ...part, label: option.label };
    }
    case 'form_response': {
      const form = (await offeredParts(part.replyTo, 'form', lookups)).find((candidate) => candidate.formId === part.formId);
      if (!form) throw new ParleyError('bad_request', `message ${part.replyTo} has no form ${JSON.stringify(part.formId)}`);
      const problem = formValuesProblem(form.fields, part.values);
      if (problem) throw new ParleyError('bad_request', `form ${part.formId}: ${problem}`);
      return part;
    }
    default:
      return part;
  }
}

function attachmentPart(part: PartOf<'file' | 'image'>, record: AttachmentRecord | null): Part {
  if (record?.state !== 'ready') throw new ParleyError('bad_request', `attachment ${part.attachmentId} is not a finalized attachment of this conversation`);
  const facts = { attachmentId: record.id, name: record.name, contentType: record.contentType, size: record.size };
  if (part.type === 'file') return { type: 'file', ...facts };
  if (!isRasterImage(record.contentType)) throw new ParleyError('bad_request', `attachment ${part.attachmentId} is ${record.contentType}, not an image: send it as a file part`);
  return { ...part, ...facts };
}

/** The parts of type `type` of the message at `seq`. */
async function offeredParts<Type extends 'quick_replies' | 'form'>(seq: number, type: Type, lookups: PartLookups): Promise<PartOf<Type>[]> {
  const event = await lookups.event(seq);
  const parsed = event ? parseEvent(event) : null;
  if (!parsed?.ok || parsed.event.type !== 'message.created' || parsed.event.data.content.type !== 'parts') return [];
  const content = parsed.event.data.content;
  return 'parts' in content && content.parts ? content.parts.filter((part): part is PartOf<Type> => part.type === type) : [];
}
