import { createRoute, z } from '@hono/zod-openapi';
import { attachmentResultSchema, attachmentUrlResultSchema, createAttachmentBodySchema, createAttachmentResultSchema, identifierSchema } from '@parley/protocol';
import type { AttachmentService } from '../../conversations/attachments.js';
import { readBodyAtMost } from '../body-limit.js';
import { bearer, errorResponses, jsonBody, jsonResponse, type ApiApp } from './common.js';

const attachmentParams = z.object({ id: identifierSchema.describe('The conversation id'), attachmentId: identifierSchema.describe('The attachment id') });

/** The path of the upload through the server: its body is read under the attachment's declared size, not the API's body limit. */
export const UPLOAD_PATH = /^\/v1\/api\/conversations\/[^/]+\/attachments\/[^/]+\/content$/;

const routes = {
  create: createRoute({
    method: 'post', path: '/conversations/{id}/attachments', tags: ['attachments'], security: bearer,
    summary: 'Declare a file (name, type, size) and get where to upload it: a presigned URL of the object storage, or this server',
    request: { params: z.object({ id: identifierSchema.describe('The conversation id') }), body: jsonBody(createAttachmentBodySchema) },
    responses: { 201: jsonResponse(createAttachmentResultSchema, 'Created, pending until finalized'), ...errorResponses },
  }),
  upload: createRoute({
    method: 'put', path: '/conversations/{id}/attachments/{attachmentId}/content', tags: ['attachments'], security: bearer,
    summary: 'Upload the bytes through the server (when `upload.via` is `server`): exactly the declared size',
    request: { params: attachmentParams, body: { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } }, required: true } },
    responses: { 200: jsonResponse(attachmentResultSchema, 'Stored; finalize next'), ...errorResponses },
  }),
  finalize: createRoute({
    method: 'post', path: '/conversations/{id}/attachments/{attachmentId}/finalize', tags: ['attachments'], security: bearer,
    summary: "Check the uploaded bytes (size, type sniffed from the first bytes, the tenant's limits); on a mismatch they are deleted",
    request: { params: attachmentParams },
    responses: { 200: jsonResponse(attachmentResultSchema, 'Ready: a message part may name it'), ...errorResponses },
  }),
  url: createRoute({
    method: 'get', path: '/conversations/{id}/attachments/{attachmentId}', tags: ['attachments'], security: bearer,
    summary: 'A short-lived signed URL that serves the file (to those who may read the conversation)',
    request: { params: attachmentParams },
    responses: { 200: jsonResponse(attachmentUrlResultSchema, 'The URL, relative to this server, and when it expires'), ...errorResponses },
  }),
};

/** Attachments over REST: each route calls the attachment use cases. */
export function registerAttachmentRoutes(app: ApiApp, attachments: AttachmentService): void {
  app.openapi(routes.create, async (context) => {
    const result = await attachments.create(context.get('principal'), context.req.valid('param').id, context.req.valid('json'));
    return context.json(result, 201);
  });
  app.openapi(routes.upload, async (context) => {
    const principal = context.get('principal');
    const { id, attachmentId } = context.req.valid('param');
    // The declared size bounds the read: nothing larger is buffered.
    const pending = await attachments.pendingUpload(principal, id, attachmentId);
    const body = await readBodyAtMost(context.req.raw, pending.size);
    return context.json({ attachment: await attachments.upload(principal, id, attachmentId, body) }, 200);
  });
  app.openapi(routes.finalize, async (context) => {
    const { id, attachmentId } = context.req.valid('param');
    return context.json({ attachment: await attachments.finalize(context.get('principal'), id, attachmentId) }, 200);
  });
  app.openapi(routes.url, async (context) => {
    const { id, attachmentId } = context.req.valid('param');
    return context.json(await attachments.url(context.get('principal'), id, attachmentId), 200);
  });
}
