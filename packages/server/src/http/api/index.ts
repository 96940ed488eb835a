import { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from 'pino';
import type { ApiKeys } from '../../auth/api-keys.js';
import type { TokenVerifier } from '../../auth/tokens.js';
import type { AttachmentService } from '../../conversations/attachments.js';
import type { ConversationService } from '../../conversations/service.js';
import { ParleyError } from '../../core/errors.js';
import type { KnowledgeBase, SupportDesk, WebhookAdmin, WidgetAdmin } from '../../core/ports.js';
import { authenticate, type ApiEnv } from '../authenticate.js';
import { limitBody } from '../body-limit.js';
import { asParleyError, errorResponse } from '../errors.js';
import { registerFileRoutes } from '../files.js';
import { registerAttachmentRoutes, UPLOAD_PATH } from './attachments.js';
import { registerConversationRoutes } from './conversations.js';
import { registerKnowledgeRoutes } from './knowledge.js';
import { registerSupportRoutes } from './support.js';
import { registerUserRoutes, type TokenMinter } from './users.js';
import { registerWebhookRoutes } from './webhooks.js';
import { registerWidgetKeyRoutes } from './widget-keys.js';

/** What the server API needs, wired by the composition root. */
export interface ApiDependencies {
  conversations: ConversationService;
  attachments: AttachmentService;
  keys: ApiKeys;
  verifier: TokenVerifier;
  mintToken?: TokenMinter;
  webhooks: WebhookAdmin;
  support: SupportDesk;
  widgets: WidgetAdmin;
  knowledge: KnowledgeBase;
  logger: Logger;
  /** Largest accepted request body; larger ones get 413. */
  maxBodyBytes: number;
  serverVersion: string;
}

/**
 * The server API under `/v1/api`, as a route table: each route's zod schemas validate the request and write
 * its OpenAPI entry (served at `/v1/openapi.json`), and one handler turns every error into a response.
 */
export function createApi(dependencies: ApiDependencies): OpenAPIHono<ApiEnv> {
  const api = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new ParleyError('bad_request', `invalid request: ${describeIssues(result.error.issues)}`);
    },
  });
  api.use('*', limitBody(dependencies.maxBodyBytes, (method, path) => method === 'PUT' && UPLOAD_PATH.test(path)));
  api.use('*', authenticate(dependencies.keys, dependencies.verifier));
  registerConversationRoutes(api, dependencies.conversations);
  registerAttachmentRoutes(api, dependencies.attachments);
  registerUserRoutes(api, dependencies.conversations, dependencies.keys, dependencies.mintToken);
  registerWebhookRoutes(api, dependencies.webhooks);
  registerSupportRoutes(api, dependencies.support);
  registerWidgetKeyRoutes(api, dependencies.widgets);
  registerKnowledgeRoutes(api, dependencies.knowledge);

  const root = new OpenAPIHono<ApiEnv>();
  root.route('/v1/api', api);
  registerFileRoutes(root, dependencies.attachments);
  root.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A tenant API key (psk_...; `parley apikey create`) or a user JWT',
  });
  root.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Parley server API', version: dependencies.serverVersion, description: 'The REST API for a backend: conversations, members, messages, history, users, tokens, keys. See docs/api.md.' },
  });
  const onError = (error: Error, context: Parameters<Parameters<typeof root.onError>[0]>[1]) => {
    const failure = asParleyError(error);
    if (failure.code === 'internal') dependencies.logger.error({ err: error, path: context.req.path }, 'API request failed');
    return errorResponse(context, failure);
  };
  api.onError(onError);
  root.onError(onError);
  root.notFound((context) => errorResponse(context, new ParleyError('not_found', `no route ${context.req.method} ${context.req.path}`)));
  return root;
}

function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}
