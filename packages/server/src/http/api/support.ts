import { createRoute, z } from '@hono/zod-openapi';
import {
  agentBodySchema,
  agentSchema,
  cannedReplySchema,
  HISTORY_MAX_LIMIT,
  identifierSchema,
  operationArgsSchemas,
  operationResultSchemas,
  staffEventSchema,
  supportReportSchema,
  teamSchema,
} from '@parley/protocol';
import type { SupportDesk } from '../../core/ports.js';
import { bearer, conversationParams, errorResponses, jsonBody, jsonResponse, userParams, type ApiApp } from './common.js';

const teamParams = z.object({ teamId: identifierSchema.describe('The team id') });
const replyParams = z.object({ replyId: identifierSchema.describe('The canned reply id') });
const transitionResult = operationResultSchemas['support.resolve'];
const tags = ['support'];

/** A POST on a conversation that changes its support mode. */
function transition(path: string, summary: string) {
  return createRoute({
    method: 'post', path: `/conversations/{id}/${path}`, tags, security: bearer, summary,
    request: { params: conversationParams },
    responses: { 200: jsonResponse(transitionResult, "The conversation's support state after the change"), ...errorResponses },
  });
}

/** The same, with a JSON body. */
function transitionWith<Body extends z.ZodType>(path: string, summary: string, body: Body) {
  return createRoute({
    method: 'post', path: `/conversations/{id}/${path}`, tags, security: bearer, summary,
    request: { params: conversationParams, body: jsonBody(body) },
    responses: { 200: jsonResponse(transitionResult, "The conversation's support state after the change"), ...errorResponses },
  });
}

const routes = {
  handoff: transitionWith('handoff', 'Hand the conversation from the assistant to people (`handoff.requested`, reason `api`)', z.object({ detail: z.string().max(500).optional() })),
  assign: transitionWith('assign', 'Assign to an agent; with expectedAgentId, only if that is still the assignee (else 409)', operationArgsSchemas['support.assign'].omit({ conversationId: true })),
  transfer: transitionWith('transfer', "Move to another agent or to a team's queue", z.object({ toAgentId: identifierSchema.optional(), toTeam: identifierSchema.optional(), expectedAgentId: identifierSchema.nullable().optional(), reason: z.string().max(500).optional() })),
  resolve: transition('resolve', 'Resolve it (the customer is asked for a rating)'),
  reopen: transition('reopen', 'Reopen a resolved conversation to the assistant'),
  handBack: transition('hand-back', 'Hand it back to the assistant'),
  close: transition('close', 'Close it for good'),
  note: createRoute({
    method: 'post', path: '/conversations/{id}/notes', tags, security: bearer, summary: 'A private note for agents (never shown to the customer); `clientMsgId` makes it safe to repeat',
    request: { params: conversationParams, body: jsonBody(operationArgsSchemas['support.note'].omit({ conversationId: true })) },
    responses: { 201: jsonResponse(operationResultSchemas['support.note'], 'The note, in the staff-only sequence'), ...errorResponses },
  }),
  staffEvents: createRoute({
    method: 'get', path: '/conversations/{id}/staff-events', tags, security: bearer, summary: 'Staff-only events (notes, summaries, sentiment, routing) after a staff seq',
    request: { params: conversationParams, query: z.object({ after: z.coerce.number().int().nonnegative().default(0), limit: z.coerce.number().int().min(1).max(HISTORY_MAX_LIMIT).default(100) }) },
    responses: { 200: jsonResponse(z.object({ events: z.array(staffEventSchema), hasMore: z.boolean() }), 'Ascending by staff seq'), ...errorResponses },
  }),
  listTeams: createRoute({
    method: 'get', path: '/support/teams', tags, security: bearer, summary: "The tenant's teams (inboxes)",
    responses: { 200: jsonResponse(z.object({ teams: z.array(teamSchema) }), 'Teams'), ...errorResponses },
  }),
  putTeam: createRoute({
    method: 'put', path: '/support/teams/{teamId}', tags, security: bearer, summary: 'Create or replace a team: name, skills, business hours',
    request: { params: teamParams, body: jsonBody(teamSchema.omit({ id: true })) },
    responses: { 200: jsonResponse(z.object({ team: teamSchema }), 'The team'), ...errorResponses },
  }),
  deleteTeam: createRoute({
    method: 'delete', path: '/support/teams/{teamId}', tags, security: bearer, summary: 'Delete a team',
    request: { params: teamParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses },
  }),
  listAgents: createRoute({
    method: 'get', path: '/support/agents', tags, security: bearer, summary: "The tenant's agents, with status and open conversations",
    responses: { 200: jsonResponse(z.object({ agents: z.array(agentSchema) }), 'Agents'), ...errorResponses },
  }),
  putAgent: createRoute({
    method: 'put', path: '/support/agents/{userId}', tags, security: bearer, summary: "Create or change an agent's teams, skills and capacity",
    request: { params: userParams, body: jsonBody(agentBodySchema) },
    responses: { 200: jsonResponse(z.object({ agent: agentSchema }), 'The agent'), ...errorResponses },
  }),
  deleteAgent: createRoute({
    method: 'delete', path: '/support/agents/{userId}', tags, security: bearer, summary: 'Remove an agent from the desk',
    request: { params: userParams },
    responses: { 204: { description: 'Removed' }, ...errorResponses },
  }),
  listCanned: createRoute({
    method: 'get', path: '/support/canned', tags, security: bearer, summary: 'Canned replies of the tenant and its teams',
    responses: { 200: jsonResponse(z.object({ replies: z.array(cannedReplySchema) }), 'Canned replies'), ...errorResponses },
  }),
  putCanned: createRoute({
    method: 'put', path: '/support/canned/{replyId}', tags, security: bearer, summary: 'Create or replace a canned reply',
    request: { params: replyParams, body: jsonBody(cannedReplySchema.omit({ id: true })) },
    responses: { 200: jsonResponse(z.object({ reply: cannedReplySchema }), 'The canned reply'), ...errorResponses },
  }),
  deleteCanned: createRoute({
    method: 'delete', path: '/support/canned/{replyId}', tags, security: bearer, summary: 'Delete a canned reply',
    request: { params: replyParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses },
  }),
  report: createRoute({
    method: 'get', path: '/support/report', tags, security: bearer, summary: 'Queue, first response and resolution times, CSAT per agent and team, handoff and bot-resolved rates',
    request: { query: z.object({ from: z.coerce.number().int().optional(), to: z.coerce.number().int().optional() }) },
    responses: { 200: jsonResponse(supportReportSchema, 'The report for [from, to) (default: the last 7 days)'), ...errorResponses },
  }),
};

/** The support desk over the server API: mode changes and notes for backends, administration for admins and keys. */
export function registerSupportRoutes(app: ApiApp, desk: SupportDesk): void {
  app.openapi(routes.handoff, async (context) => context.json(await desk.handoff(context.get('principal'), { conversationId: context.req.valid('param').id, ...context.req.valid('json') }), 200));
  app.openapi(routes.assign, async (context) => context.json(await desk.assign(context.get('principal'), { conversationId: context.req.valid('param').id, ...context.req.valid('json') }), 200));
  app.openapi(routes.transfer, async (context) => {
    const args = operationArgsSchemas['support.transfer'].parse({ conversationId: context.req.valid('param').id, ...context.req.valid('json') });
    return context.json(await desk.transfer(context.get('principal'), args), 200);
  });
  app.openapi(routes.resolve, async (context) => context.json(await desk.resolve(context.get('principal'), { conversationId: context.req.valid('param').id }), 200));
  app.openapi(routes.reopen, async (context) => context.json(await desk.reopen(context.get('principal'), { conversationId: context.req.valid('param').id }), 200));
  app.openapi(routes.handBack, async (context) => context.json(await desk.handBack(context.get('principal'), { conversationId: context.req.valid('param').id }), 200));
  app.openapi(routes.close, async (context) => context.json(await desk.close(context.get('principal'), { conversationId: context.req.valid('param').id }), 200));
  app.openapi(routes.note, async (context) => context.json(await desk.note(context.get('principal'), { conversationId: context.req.valid('param').id, ...context.req.valid('json') }), 201));
  app.openapi(routes.staffEvents, async (context) => context.json(await desk.staffHistory(context.get('principal'), { conversationId: context.req.valid('param').id, ...context.req.valid('query') }), 200));
  app.openapi(routes.listTeams, async (context) => context.json({ teams: await desk.listTeams(context.get('principal')) }, 200));
  app.openapi(routes.putTeam, async (context) => context.json({ team: await desk.putTeam(context.get('principal'), { id: context.req.valid('param').teamId, ...context.req.valid('json') }) }, 200));
  app.openapi(routes.deleteTeam, async (context) => {
    await desk.deleteTeam(context.get('principal'), context.req.valid('param').teamId);
    return context.body(null, 204);
  });
  app.openapi(routes.listAgents, async (context) => context.json({ agents: await desk.listAgents(context.get('principal')) }, 200));
  app.openapi(routes.putAgent, async (context) => context.json({ agent: await desk.putAgent(context.get('principal'), context.req.valid('param').userId, context.req.valid('json')) }, 200));
  app.openapi(routes.deleteAgent, async (context) => {
    await desk.deleteAgent(context.get('principal'), context.req.valid('param').userId);
    return context.body(null, 204);
  });
  app.openapi(routes.listCanned, async (context) => context.json({ replies: await desk.listCanned(context.get('principal')) }, 200));
  app.openapi(routes.putCanned, async (context) => context.json({ reply: await desk.putCanned(context.get('principal'), { id: context.req.valid('param').replyId, ...context.req.valid('json') }) }, 200));
  app.openapi(routes.deleteCanned, async (context) => {
    await desk.deleteCanned(context.get('principal'), context.req.valid('param').replyId);
    return context.body(null, 204);
  });
  app.openapi(routes.report, async (context) => context.json(await desk.report(context.get('principal'), context.req.valid('query')), 200));
}
