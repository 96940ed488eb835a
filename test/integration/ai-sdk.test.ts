import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParleyClient } from '@parley/client';
import { AbstractChat, DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses, WebSocketChatTransport, type ChatState, type ChatStatus, type ChatTransport, type UIMessage } from 'ai7';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
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

  /** The transports as an app configures them; `lastMessageOnly` as docs/transports.md recommends. */
  const transport = (kind: Transport, node: TestServer, user = 'alice', lastMessageOnly = false): ChatTransport<UIMessage> => {
    const headers = async () => ({ Authorization: `Bearer ${await token(user)}` });
    if (kind === 'http') {
      return new DefaultChatTransport({
        api: `${node.url}/v1/ai-sdk/chat`,
        headers,
        ...(lastMessageOnly ? { prepareSendMessagesRequest: ({ id, messages, body, trigger }) => ({ body: { ...body, id, trigger, messages: messages.slice(-1) } }) } : {}),
      });
    }
    return new WebSocketChatTransport({
      url: `${node.url.replace('http', 'ws')}/v1/ai-sdk/ws`,
      headers,
      webSocket: WebSocket as never,
      ...(lastMessageOnly ? { prepareSendMessagesRequest: ({ messages }) => ({ messages: messages.slice(-1) }) } : {}),
    });
  };
  const newChat = (kind: Transport, node: TestServer, options: { id?: string; messages?: UIMessage[]; automaticApprovals?: boolean; user?: string; lastMessageOnly?: boolean } = {}) => {
    const chat = new TestChat(options.id ?? randomUUID(), transport(kind, node, options.user, options.lastMessageOnly), options.messages, options.automaticApprovals);
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

  let profilesDir: string;

  beforeAll(async () => {
    schema = await createTestSchema();
    // The default assistant answers quickly; `storyteller` slowly, so that a kill or a Stop lands mid-answer.
    profilesDir = await mkdtemp(join(tmpdir(), 'parley-aisdk-'));
    const demo = (tokensPerSecond: number) => [{ provider: 'demo', ttftMs: 50, tokensPerSecond }];
    await writeFile(
      join(profilesDir, 'assistants.json'),
      JSON.stringify({
        assistants: [
          { id: 'assistant', models: demo(300), tools: ['lookup_order', 'cancel_order'], approvalRequired: ['cancel_order'] },
          { id: 'storyteller', models: demo(40) },
        ],
      }),
    );
    env = {
      DATABASE_URL,
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_ALLOWED_ORIGINS: ORIGIN,
      PARLEY_ASSISTANTS_FILE: join(profilesDir, 'assistants.json'),
    };
    nodes.push(await startServer({ ...env, PARLEY_ROLE: 'gateway' }), await startServer(env));
  });
  afterAll(async () => {
    await Promise.all(chats.map((chat) => chat.dispose().catch(() => undefined)));
    for (const node of nodes) if (node.process.exitCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema.drop();
    await rm(profilesDir, { recursive: true, force: true });
  });

  describe('raw frames and requests: documented errors, CORS, sequence numbers', () => {
    /** A raw client of /v1/ai-sdk/ws: frames out, frames in. */
    async function rawSocket(node: TestServer, origin?: string) {
      const socket = new WebSocket(`${node.url.replace('http', 'ws')}/v1/ai-sdk/ws`, origin ? { origin } : {});
      const frames: Array<Record<string, unknown>> = [];
      socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const reply = async (requestId: string) => {
        let frame: Record<string, unknown> | undefined;
        await eventually(() => expect((frame = frames.find((candidate) => candidate.requestId === requestId && candidate.type !== 'start' && candidate.type !== 'chunk'))).toBeDefined());
        return frame!;
      };
      return { socket, frames, closed, reply, send: (frame: unknown) => socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame)) };
    }
    const headers = async (user: string, tenant?: string) => ({ authorization: `Bearer ${await token(user, tenant ? { tenant } : {})}` });
    const userMessage = (text: string) => ({ id: randomUUID(), role: 'user', parts: [{ type: 'text', text }] });
    /** A chat of alice's, with one answered message. */
    async function alicesChat(): Promise<string> {
      const chat = newChat('http', nodes[1]!);
      await chat.sendMessage({ text: 'hello' });
      return chat.id;
    }

    it('over the WebSocket: malformed frames, a missing token, regenerate, and chats the caller may not read', async () => {
      const chatId = await alicesChat();
      const raw = await rawSocket(nodes[1]!);
      raw.send({ type: 'send', requestId: 'r1' });
      expect(await raw.reply('r1')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^bad_request: invalid "send" frame/) });
      raw.send({ type: 'resume', requestId: 'r2', id: chatId, headers: {}, body: {} });
      expect(await raw.reply('r2')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^unauthorized: /) });
      // bob (same tenant, not a member) may neither send to alice's chat nor resume it: not found.
      raw.send({ type: 'send', requestId: 'r3', id: chatId, trigger: 'submit-message', messages: [userMessage('hi')], headers: await headers('bob'), body: {} });
      expect(await raw.reply('r3')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^not_found: /) });
      raw.send({ type: 'resume', requestId: 'r4', id: chatId, headers: await headers('bob'), body: {} });
      expect(await raw.reply('r4')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^not_found: /) });
      // Another tenant's chat id names nothing in the caller's tenant: nothing runs there.
      raw.send({ type: 'resume', requestId: 'r5', id: chatId, headers: await headers('carol', 'other'), body: {} });
      expect(await raw.reply('r5')).toEqual({ type: 'no-active', requestId: 'r5' });
      raw.send({ type: 'send', requestId: 'r6', id: chatId, trigger: 'regenerate-message', messages: [userMessage('again')], headers: await headers('alice'), body: {} });
      expect(await raw.reply('r6')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^bad_request: .*regenerat/) });
      raw.send({ type: 'send', requestId: 'r7', id: chatId, trigger: 'submit-message', messages: [userMessage('hi')], headers: await headers('alice'), body: { assistant: 'no-such-profile' } });
      expect(await raw.reply('r7')).toMatchObject({ type: 'error', errorText: expect.stringMatching(/^bad_request: no assistant profile/) });
      // Not JSON, and so no request to answer: the connection is closed (1007).
      raw.send('not json');
      expect(await raw.closed).toBe(1007);
    });

    it('over HTTP: errors as {error: {code, message}} with the status of their code; a resume with nothing running is 204', async () => {
      const chatId = await alicesChat();
      const post = async (body: string, auth: Record<string, string>) => fetch(`${nodes[1]!.url}/v1/ai-sdk/chat`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body });
      const expectError = async (response: Response, status: number, code: string) => {
        expect(response.status).toBe(status);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
      };
      await expectError(await post(JSON.stringify({ id: chatId, messages: [userMessage('hi')] }), {}), 401, 'unauthorized');
      await expectError(await post('{not json', await headers('alice')), 400, 'bad_request');
      await expectError(await post(JSON.stringify({ id: chatId, messages: [] }), await headers('alice')), 400, 'bad_request');
      await expectError(await post(JSON.stringify({ id: chatId, messages: [userMessage('hi')] }), await headers('bob')), 404, 'not_found');
      await expectError(await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chatId}/stream`, { headers: await headers('bob') }), 404, 'not_found');
      await expectError(await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chatId}/stop`, { method: 'POST', headers: await headers('bob') }), 404, 'not_found');
      expect((await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chatId}/stream`, { headers: await headers('alice') })).status).toBe(204);
      expect((await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${randomUUID()}/stream`, { headers: await headers('alice') })).status).toBe(204);
      expect((await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chatId}/stream`, { headers: await headers('carol', 'other') })).status).toBe(204);
      await expectError(await post(JSON.stringify({ id: chatId, messages: [userMessage('x'.repeat(1_100_000))] }), await headers('alice')), 413, 'too_large');
    });

    it('numbers a resume that names its last sequence on from there, with the full replay', async () => {
      const sender = await rawSocket(nodes[1]!);
      const chatId = randomUUID();
      sender.send({ type: 'send', requestId: 's1', id: chatId, trigger: 'submit-message', messages: [userMessage('Tell me a long story')], headers: await headers('alice'), body: { assistant: 'storyteller' } });
      await eventually(() => expect(sender.frames.filter((frame) => frame.type === 'chunk').length).toBeGreaterThan(4));
      const resumer = await rawSocket(nodes[1]!);
      resumer.send({ type: 'resume', requestId: 'r1', id: chatId, lastSequence: 3, headers: await headers('alice'), body: {} });
      await eventually(() => expect(resumer.frames.some((frame) => frame.type === 'chunk')).toBe(true));
      const started = sender.frames.find((frame) => frame.type === 'chunk') as { chunk: { messageId: string } };
      expect(resumer.frames[0]).toEqual({ type: 'start', requestId: 'r1' });
      expect(resumer.frames[1]).toEqual({ type: 'chunk', requestId: 'r1', sequence: 4, chunk: { type: 'start', messageId: started.chunk.messageId } });
      const stop = await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat/${chatId}/stop`, { method: 'POST', headers: await headers('alice') });
      expect(stop.status).toBe(200);
      await eventually(() => expect(resumer.frames.at(-1)).toEqual({ type: 'end', requestId: 'r1' }));
      sender.socket.close();
      resumer.socket.close();
    });

    it('answers CORS preflights and requests from an allowed second origin only, without cookies', async () => {
      const preflight = (origin: string) =>
        fetch(`${nodes[1]!.url}/v1/ai-sdk/chat`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
      const allowed = await preflight(ORIGIN);
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
      expect((await preflight('http://elsewhere.example')).headers.get('access-control-allow-origin')).toBeNull();
      const streamed = await fetch(`${nodes[1]!.url}/v1/ai-sdk/chat`, {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/json', ...(await headers('alice')) },
        body: JSON.stringify({ id: randomUUID(), messages: [userMessage('What are your opening hours?')] }),
      });
      expect(streamed.status).toBe(200);
      expect(streamed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(streamed.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
      expect(await streamed.text()).toContain('data: [DONE]');
      // The WebSocket endpoint takes the same origins.
      await expect(rawSocket(nodes[1]!, 'http://elsewhere.example')).rejects.toThrow(/403/);
      (await rawSocket(nodes[1]!, ORIGIN)).socket.close();
    });
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
      const chat = newChat(kind, nodes[0]!, { automaticApprovals: true, lastMessageOnly: true });
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
      const sending = chat.sendMessage({ text: 'Tell me a long story' }, { body: { assistant: 'storyteller' } });
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

    it('recovers the same chat after a dropped connection: resumeStream() through the balancer, now on the other node', async () => {
      const balancer = await TcpProxy.start(nodes[0]!.port);
      const viaBalancer = { ...nodes[0]!, url: `http://127.0.0.1:${balancer.port}` };
      try {
        const chat = newChat(kind, viaBalancer);
        const sending = chat.sendMessage({ text: 'Tell me a long story' }, { body: { assistant: 'storyteller' } });
        await eventually(() => expect(textOf(assistants(chat)[0]).length).toBeGreaterThan(20));
        balancer.cut();
        await sending;
        expect(chat.status).toBe('error');
        balancer.retarget(nodes[1]!.port);
        balancer.restore();
        // What the README's reconnect helper does: the transport opens a new connection for the resume.
        await chat.resumeStream();
        const completed = await ended(chat.id);
        expect(completed.type).toBe('ai.completed');
        await eventually(() => expect(chat.status).toBe('ready'));
        expect(chat.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
        expect(textOf(chat.messages[1])).toBe(completed.data.text);
      } finally {
        await balancer.close();
      }
    });

    it('stops an answer: it ends in ai.stopped, and no delta follows it', async () => {
      const chat = newChat(kind, nodes[0]!);
      const sending = chat.sendMessage({ text: 'Tell me a long story' }, { body: { assistant: 'storyteller' } });
      await eventually(() => expect(textOf(assistants(chat)[0]).length).toBeGreaterThan(20));
      // A Parley client watches the conversation: what it hears after ai.stopped.
      const watcher = new ParleyClient({ url: nodes[1]!.wsUrl, token: () => token('alice'), WebSocket: WebSocket as never });
      await watcher.connect();
      const heard: string[] = [];
      const subscription = watcher.subscribe(chat.id, { since: 0 });
      subscription.on('event', (event) => heard.push(event.type));
      subscription.on('signal', (signal) => heard.push(signal.type));
      await subscription.ready;
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
      await eventually(() => expect(heard).toContain('ai.stopped'));
      // A round trip on the watcher's connection after ai.stopped: anything published before it has arrived.
      await watcher.history(chat.id);
      expect(heard.slice(heard.indexOf('ai.stopped') + 1)).not.toContain('ai.delta');
      watcher.close();
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
