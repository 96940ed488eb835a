import { z } from 'zod';
import { identifierSchema } from './ids.js';

/**
 * Rich messages: content of `type: 'parts'` carries an ordered list of typed parts. Files and images name
 * an attachment that the server has finalized (sniffed and sized) in the same conversation; the server
 * writes their name, type and size from its own record, so what a client claims about a file is never shown.
 */

export const MAX_PARTS = 16;
export const MAX_PART_TEXT_LENGTH = 32_768;
/** Buttons in one quick-reply part, and fields in one form. */
export const MAX_QUICK_REPLIES = 10;
export const MAX_FORM_FIELDS = 10;

const label = z.string().min(1).max(200);
const partId = identifierSchema.max(64);

export const textPartSchema = z.object({ type: z.literal('text'), text: z.string().min(1).max(MAX_PART_TEXT_LENGTH) });

/** What the server knows of a finalized attachment, as parts carry it. */
const attachmentFields = {
  attachmentId: identifierSchema,
  /** The file name the uploader gave (shown, never used as a path). */
  name: z.string().min(1).max(255),
  /** The type sniffed from the file's first bytes at finalize, not the one the uploader claimed. */
  contentType: z.string().min(1).max(255),
  size: z.number().int().nonnegative(),
};
export const filePartSchema = z.object({ type: z.literal('file'), ...attachmentFields });
/** An attachment whose sniffed type is a raster image (PNG, JPEG, GIF, WebP). */
export const imagePartSchema = z.object({
  type: z.literal('image'),
  ...attachmentFields,
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
});

/** Buttons offering answers; a click comes back as a `choice` part in a message replying to this one. */
export const quickRepliesPartSchema = z.object({
  type: z.literal('quick_replies'),
  options: z
    .array(z.object({ id: partId, label }))
    .min(1)
    .max(MAX_QUICK_REPLIES)
    .refine((options) => new Set(options.map((option) => option.id)).size === options.length, 'option ids must be unique'),
});

export const formFieldSchema = z.object({
  name: partId,
  label,
  kind: z.enum(['text', 'email', 'number', 'select', 'checkbox']),
  required: z.boolean().optional(),
  /** The choices of a `select` field. */
  options: z.array(label).min(1).max(MAX_QUICK_REPLIES).optional(),
});
export type FormField = z.infer<typeof formFieldSchema>;

/** A small form; its submission comes back as a `form_response` part in a message replying to this one. */
export const formPartSchema = z.object({
  type: z.literal('form'),
  formId: partId,
  title: label.optional(),
  fields: z
    .array(formFieldSchema)
    .min(1)
    .max(MAX_FORM_FIELDS)
    .refine((fields) => new Set(fields.map((field) => field.name)).size === fields.length, 'field names must be unique')
    .refine((fields) => fields.every((field) => (field.kind === 'select') === (field.options !== undefined)), 'a select field needs options, and only a select field has them'),
  submitLabel: label.optional(),
});

/** A user's click on a quick reply of the message at `replyTo`. */
export const choicePartSchema = z.object({ type: z.literal('choice'), replyTo: z.number().int().positive(), optionId: partId, label });

/** A user's submission of the form `formId` of the message at `replyTo`. */
export const formResponsePartSchema = z.object({
  type: z.literal('form_response'),
  replyTo: z.number().int().positive(),
  formId: partId,
  values: z.record(partId, z.union([z.string().max(2000), z.number(), z.boolean()])),
});

export const partSchema = z.discriminatedUnion('type', [textPartSchema, filePartSchema, imagePartSchema, quickRepliesPartSchema, formPartSchema, choicePartSchema, formResponsePartSchema]);
export type Part = z.infer<typeof partSchema>;
export type PartType = Part['type'];
export type PartOf<Type extends PartType> = Extract<Part, { type: Type }>;

export const partsContentSchema = z.object({
  type: z.literal('parts'),
  parts: z.array(partSchema).min(1).max(MAX_PARTS),
  // Never present, so that `content.text` reads as `string | undefined` on any content, as on structured content.
  text: z.never({ error: 'parts content has no "text": use a text part' }).meta({ type: 'null', description: 'Never present: use a text part' }).optional(),
});
export type PartsContent = z.infer<typeof partsContentSchema>;

/** A form submission's values against its form: required fields present, kinds and select options respected; null when it fits. */
export function formValuesProblem(fields: readonly FormField[], values: Record<string, string | number | boolean>): string | null {
  const known = new Set(fields.map((field) => field.name));
  const unknown = Object.keys(values).find((name) => !known.has(name));
  if (unknown !== undefined) return `the form has no field ${JSON.stringify(unknown)}`;
  for (const field of fields) {
    const value = values[field.name];
    if (value === undefined || value === '') {
      if (field.required) return `${JSON.stringify(field.name)} is required`;
      continue;
    }
    const problem = fieldProblem(field, value);
    if (problem) return `${JSON.stringify(field.name)} ${problem}`;
  }
  return null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function fieldProblem(field: FormField, value: string | number | boolean): string | null {
  switch (field.kind) {
    case 'checkbox':
      return typeof value === 'boolean' ? null : 'must be true or false';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'must be a number';
    case 'email':
      return typeof value === 'string' && EMAIL.test(value) ? null : 'must be an email address';
    case 'select':
      return typeof value === 'string' && field.options!.includes(value) ? null : `must be one of ${field.options!.map((option) => JSON.stringify(option)).join(', ')}`;
    case 'text':
      return typeof value === 'string' ? null : 'must be text';
  }
}

/**
 * The parts as one line of plain text, for readers that only take text (the model's context, a preview,
 * triggers): text as it is, everything else in brackets that say what it is.
 */
export function partsText(parts: readonly Part[]): string {
  return parts.map(partText).join('\n');
}

function partText(part: Part): string {
  switch (part.type) {
    case 'text':
      return part.text;
    case 'file':
      return `[file ${JSON.stringify(part.name)}: ${part.contentType}, ${part.size} bytes]`;
    case 'image':
      return `[image ${JSON.stringify(part.name)}: ${part.contentType}, ${part.size} bytes${part.width && part.height ? `, ${part.width}x${part.height} pixels` : ''}]`;
    case 'quick_replies':
      return `[quick replies: ${part.options.map((option) => JSON.stringify(option.label)).join(', ')}]`;
    case 'form':
      return `[form ${JSON.stringify(part.title ?? part.formId)} asking for ${part.fields.map((field) => field.name).join(', ')}]`;
    case 'choice':
      return `[chose ${JSON.stringify(part.label)}]`;
    case 'form_response':
      return `[submitted form ${part.formId}: ${JSON.stringify(part.values)}]`;
  }
}
