import { randomUUID } from 'node:crypto';
import { AbstractChat, DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses, WebSocketChatTransport, type ChatState, type ChatStatus, type ChatTransport, type UIMessage } from 'ai7';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/** The chat state `useChat` keeps, in memory: what AbstractChat needs to run as it does in React. */
class MemoryState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready';
  error: Error | undefined = undefined;
  constructor(public messages: UIMessage[] = []) {}
  pushMessage = (message: UIMessage) => void this.messages.push(message);
  popMessage = () => void this.messages.pop();
  replaceMessage = (index: number, message: UIMessage) => void (this.messages[index] = message);
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

class TestChat extends AbstractChat<UIMessage> {
  constructor(id: string, transport: ChatTransport<UIMessage>, messages: UIMessage[] = [], automaticApprovals = false) {
    super({ id, transport, state: new MemoryState(messages), ...(automaticApprovals ? { sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses } : {}) });
  }
}

type Transport = 'websocket' | 'http';

interface LogEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  causation?: { clientMsgId?: string };
}

const ORIGIN = 'http://app.example';
const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? [])
    .filter((part) => part.type === 'text')
    .map((part) => (part as { text: string }).text)
    .join('');
const assistants = (chat: TestChat) => chat.messages.filter((message) => message.role === 'assistant');

/**
 * The AI SDK's own client classes (ai 7, driven from Node as `useChat` drives them) against Parley: a gateway
 * node and a node that serves and answers, sharing PostgreSQL and Redis.
 */
describe('the AI SDK endpoints (useChat transports of ai 7)', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-aisdk-${process.pid}-${Date.now()}`;
  let env: Record<string, string>;
  /** [0]: a gateway (killed and restarted by the resume tests); [1]: serves clients and runs the answers. */
  const nodes: TestServer[] = [];
  const chats: TestChat[] = [];

  const transport = (kind: Transport, node: TestServer, user = 'alice', options: { tenant?: string } = {}): ChatTransport<UIMessage> => {
    const headers = async () => ({ Authorization: `Bearer ${await token(user, options)}` });
    if (kind === 'http') return new DefaultChatTransport({ api: `${node.url}/v1/ai-sdk/chat`, headers });
    return new WebSocketChatTransport({ url: `${node.url.replace('http', 'ws')}/v1/ai-sdk/ws`, headers, webSocket: WebSocket as never });
  };
  const newChat = (kind: Transport, node: TestServer, options: { id?: string; messages?: UIMessage[]; automaticApprovals?: boolean; user?: string } = {}) => {
    const chat = new TestChat(options.id ?? randomUUID(), transport(kind, node, options.user), options.messages, options.automaticApprovals);
    chats.push(chat);
    return chat;
  };
  const events = async (chatId: string, user = 'alice'): Promise<LogEvent[]> => {
    const reply = await apiCall(nodes[1]!, await token(user), 'GET', `/conversations/${chatId}/events?limit=200`);
    expect(reply.status).toBe(200);
    return reply.body.events as LogEvent[];
  };
  const ended = async (chatId: string) => {
    let found: LogEvent | undefined;
    await eventually(async () => {
      found = (await events(chatId)).find((event) => ['ai.completed', 'ai.stopped', 'ai.failed'].includes(event.type));
      expect(found).toBeDefined();
    });
    return found!;
  };

  beforeAll(async () => {
    schema = await createTestSchema();
    env = {
      DATABASE_URL,
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_ALLOWED_ORIGINS: ORIGIN,
      PARLEY_DEMO_TTFT_MS: '50',
      PARLEY_DEMO_TOKENS_PER_SECOND: '150',
    };
    nodes.push(await startServer({ ...env, PARLEY_ROLE: 'gateway' }), await startServer(env));
  });
  afterAll(async () => {
    await Promise.all(chats.map((chat) => chat.dispose().catch(() => undefined)));
    for (const node of nodes) if (node.process.exitCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  describe.each<Transport>(['websocket', 'http'])('over %s', (kind) => {
    it('streams an answer into the chat: the user message keeps its id, the answer is one assistant message', async () => {
      const chat = newChat(kind, nodes[0]!);
      await chat.sendMessage({ text: 'What are your opening hours?' });
      expect(chat.status).toBe('ready');
      const completed = await ended(chat.id);
      expect(completed.type).toBe('ai.completed');
      expect(chat.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
      expect(textOf(chat.messages[1])).toBe(completed.data.text);
      // UI message id = clientMsgId; the answer's id = its generation id.
      const log = await events(chat.id);
      expect(log.find((event) => event.type === 'message.created')?.causation?.clientMsgId).toBe(chat.messages[0]!.id);
      expect(chat.messages[1]!.id).toBe(completed.data.generationId);
    });

    it('ends the response at a tool approval and, once approved, runs the tool once in the same assistant message', async () => {
      const chat = newChat(kind, nodes[0]!, { automaticApprovals: true });
      await chat.sendMessage({ text: 'Please cancel order 4321' });
      const [asking] = assistants(chat);
      const toolPart = asking!.parts.find((part) => part.type === 'tool-cancel_order') as { state: string; approval: { id: string } } | undefined;
      expect(toolPart?.state).toBe('approval-requested');
      // The answer waits; the chat sends the decision by itself (sendAutomaticallyWhen) and streams the rest.
      await chat.addToolApprovalResponse({ id: toolPart!.approval.id, approved: true });
      await eventually(async () => expect((await ended(chat.id)).type).toBe('ai.completed'));
      await eventually(() => expect(chat.status).toBe('ready'));
      const log = await events(chat.id);
      expect(log.filter((event) => event.type === 'ai.tool_result' && event.data.toolName === 'cancel_order')).toHaveLength(1);
      expect(log.filter((event) => event.type === 'ai.approval_resolved')).toHaveLength(1);
      expect(assistants(chat)).toHaveLength(1);
      const answer = assistants(chat)[0]!;
      expect(answer.parts.find((part) => part.type === 'tool-cancel_order')).toMatchObject({ state: 'output-available' });
      const completed = log.find((event) => event.type === 'ai.completed')!;
      expect(textOf(answer)).toBe(completed.data.text);
    });

    it('resumes a running answer on another node after its gateway is killed: the text complete, once', async () => {
      const chat = newChat(kind, nodes[0]!);
      const sending = chat.sendMessage({ text: 'Tell me a long story' });
      await eventually(() => expect(textOf(assistants(chat)[0]).length).toBeGreaterThan(20));
      await nodes[0]!.kill(); // SIGKILL: the response breaks mid-answer
      await sending;
      expect(chat.status).toBe('error');
      // A reload: the app's saved messages (the partial answer too), then `resume: true` through the other node.
      const reloaded = newChat(kind, nodes[1]!, { id: chat.id, messages: structuredClone(chat.messages) });
      await reloaded.resumeStream();
      const completed = await ended(chat.id);
      expect(completed.type).toBe('ai.completed');
      await eventually(() => expect(reloaded.status).toBe('ready'));
      expect(reloaded.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
      expect(textOf(reloaded.messages[1])).toBe(completed.data.text);
      nodes[0] = await startServer({ ...env, PARLEY_ROLE: 'gateway' });
    });

    it('stops an answer: it ends in ai.stopped, and the chat holds exactly the stopped text', async () => {
      const chat = newChat(kind, nodes[0]!);
      const sending = chat.sendMessage({ text: 'Tell me a long story' });
      await eventually(() => expect(textOf(assistants(chat)[0]).length).toBeGreaterThan(20));
      if (kind === 'websocket') {
        // The transport sends `abort`, which stops the answer on the worker.
        await chat.stop();
      } else {
        // Over HTTP the transport's stop only disconnects: the app calls the Stop endpoint (any node).
        const stopped = await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chat.id}/stop`, { method: 'POST', headers: { authorization: `Bearer ${await token('alice')}` } });
        expect(stopped.status).toBe(200);
        expect(((await stopped.json()) as { stopped: string[] }).stopped).toHaveLength(1);
      }
      await sending;
      const stoppedEvent = await ended(chat.id);
      expect(stoppedEvent).toMatchObject({ type: 'ai.stopped', data: { reason: 'user' } });
      // Nothing runs any more: a resume finds no active answer.
      const resumed = newChat(kind, nodes[1]!, { id: chat.id, messages: [chat.messages[0]!] });
      await resumed.resumeStream();
      expect(resumed.messages).toHaveLength(1);
      if (kind === 'http') {
        // The stream that Stop ended closed with the stopped text: its client holds that text exactly.
        await eventually(() => expect(textOf(assistants(chat)[0])).toBe(stoppedEvent.data.text));
      }
    });
  });
});
