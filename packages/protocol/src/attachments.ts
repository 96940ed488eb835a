import { z } from 'zod';
import { identifierSchema } from './ids.js';

/**
 * Attachments over the server API: create (declare name, type and size; get where to upload), upload the
 * bytes, finalize (the server measures and sniffs them), then send a message whose `file` or `image` part
 * names the attachment. Members fetch a file through a short-lived signed URL.
 */

/** MIME types as `type/subtype`, lowercase, without parameters. */
export const mediaTypeSchema = z
  .string()
  .max(255)
  .transform((type) => type.trim().toLowerCase())
  .pipe(z.string().regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/, 'must be a media type such as image/png, without parameters'));

export const createAttachmentBodySchema = z.object({
  /** Shown to members; path separators and control characters are refused. */
  name: z
    .string()
    .min(1)
    .max(255)
    .refine((name) => !/[\\/\p{Cc}]/u.test(name), 'a file name without / \\ or control characters'),
  /** The type the uploader believes the file has; finalize refuses bytes that sniff as anything else. */
  contentType: mediaTypeSchema,
  /** Exactly the number of bytes that will be uploaded. */
  size: z.number().int().nonnegative(),
});
export type CreateAttachmentBody = z.input<typeof createAttachmentBodySchema>;

export const attachmentViewSchema = z.object({
  id: identifierSchema,
  conversationId: identifierSchema,
  name: z.string(),
  /** Declared while pending; the sniffed type once ready. */
  contentType: z.string(),
  size: z.number().int().nonnegative(),
  state: z.enum(['pending', 'ready']),
  /** Whether it is a raster image (PNG, JPEG, GIF, WebP): send it as an `image` part; anything else as a `file` part. */
  image: z.boolean(),
  createdAt: z.number().int(),
});
export type AttachmentView = z.infer<typeof attachmentViewSchema>;

export const uploadTargetSchema = z.object({
  method: z.literal('PUT'),
  /** Absolute (object storage) or relative to the server (upload through the server, with the same bearer credential). */
  url: z.string(),
  /** Send these headers with the bytes. */
  headers: z.record(z.string(), z.string()),
  /** `storage`: straight to object storage; `server`: through Parley. */
  via: z.enum(['storage', 'server']),
});
export type UploadTarget = z.infer<typeof uploadTargetSchema>;

export const createAttachmentResultSchema = z.object({ attachment: attachmentViewSchema, upload: uploadTargetSchema, expiresAt: z.number().int() });
export type CreateAttachmentResult = z.infer<typeof createAttachmentResultSchema>;

export const attachmentResultSchema = z.object({ attachment: attachmentViewSchema });

/** A signed URL (relative to the server) that serves the file without a credential until `expiresAt`. */
export const attachmentUrlResultSchema = z.object({ attachment: attachmentViewSchema, url: z.string(), expiresAt: z.number().int() });
export type AttachmentUrlResult = z.infer<typeof attachmentUrlResultSchema>;

/** Raster image types: the only files served inline and sent to models as images. */
export const RASTER_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Whether a (sniffed) type is a raster image: served inline, sent as an `image` part, shown to models that take images. */
export function isRasterImage(contentType: string): boolean {
  return RASTER_IMAGE_TYPES.has(contentType);
}
