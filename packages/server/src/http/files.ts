import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AttachmentService } from '../conversations/attachments.js';
import { isRasterImage } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { ApiEnv } from './authenticate.js';

/**
 * Serves attachments at their signed URLs (`GET /v1/files/...`, no credential: an `<img>` sends none). Files
 * come from Parley's origin, so nothing in them may run there: every response says `nosniff` and
 * `Content-Security-Policy: sandbox`, and only sniffed raster images are shown inline; any other file
 * (an SVG or HTML file too) is a download.
 */
export function registerFileRoutes(app: OpenAPIHono<ApiEnv>, attachments: AttachmentService): void {
  app.get('/v1/files/:tenant/:conversationId/:attachmentId', async (context) => {
    const { tenant, conversationId, attachmentId } = context.req.param();
    const opened = await attachments.openSigned({ tenant, conversationId, attachmentId }, context.req.query('expires'), context.req.query('signature'));
    if (!opened) throw new ParleyError('not_found', 'no such file, or its link expired: ask for a new one');
    const { record, body } = opened;
    const disposition = isRasterImage(record.contentType) ? 'inline' : 'attachment';
    return context.body(body, 200, {
      'Content-Type': record.contentType,
      'Content-Length': String(record.size),
      'Content-Disposition': `${disposition}; filename="${asciiName(record.name)}"; filename*=UTF-8''${encodeURIComponent(record.name)}`,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': 'sandbox',
      // The URL is someone's for a few minutes: no shared cache keeps it.
      'Cache-Control': 'private, max-age=60',
    });
  });
}

/** The name for old clients that read only `filename`: printable ASCII without quotes or backslashes. */
function asciiName(name: string): string {
  return name.replace(/[^\x20-\x7e]|["\\]/g, '_');
}
