import { Generations, ParleyClient, type GenerationState } from '@parley/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';

/** AI answers through a real server and the SDK: streaming, resume mid-answer, late subscribers, stop. */
describe('assistant conversations end to end', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  const clients: ParleyClient[] = [];
  const client = (url = server.wsUrl) => {
    const created = new ParleyClient({ url, token: () => token('alice'), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startServer({ PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '150', PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
    proxy = await TcpProxy.start(server.port);
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    await proxy.close();
    await server.stop();
  });

  /** Opens an assistant conversation and follows its answers; `states` records every update. */
  async function follow(parley: ParleyClient, conversationId?: string) {
    await parley.connect();
    const id = conversationId ?? (await parley.open({ assistant: 'assistant' })).conversation.id;
    const subscription = parley.subscribe(id, conversationId ? {} : { since: 0 });
    const generations = new Generations(subscription);
    const states: GenerationState[] = [];
    generations.on('update', (state) => states.push(state));
    await subscription.ready;
    return { id, generations, states };
  }

  /** Every streaming state is a prefix of the final text, and the last one before the end equals it. */
  function expectExactAssembly(states: GenerationState[], final: GenerationState): void {
    const streaming = states.filter((state) => state.generationId === final.generationId && state.status === 'streaming');
    expect(streaming.length).toBeGreaterThan(0);
    for (const state of streaming) expect(final.text.startsWith(state.text)).toBe(true);
    expect(streaming.at(-1)!.text).toBe(final.text);
  }

  const finished = (states: GenerationState[]) => states.find((state) => state.status !== 'streaming');

  it('streams an answer that uses the order-lookup tool of the demo backend', async () => {
    const parley = client();
    const { id, states } = await follow(parley);
    await parley.send(id, 'where is my order 1234?');
    await eventually(() => expect(finished(states)).toBeDefined());
    const final = finished(states)!;
    expect(final).toMatchObject({ status: 'completed' });
    expect(final.text).toContain('Order 1234 is delivered');
    expectExactAssembly(states, final);
    const history = await parley.history(id, { limit: 20 });
    expect(history.events.map((event) => event.type)).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.completed']);
  });

  it('a client whose network drops mid-answer resumes and assembles exactly the full text', async () => {
    const parley = client(`ws://127.0.0.1:${proxy.port}/v1/ws`);
    const { id, states } = await follow(parley);
    await parley.send(id, 'tell me a long story');
    // Cut early and briefly: the rest of the answer must still be streaming when the client is back, or there
    // would be no streaming state to compare with the final text (the deltas are not stored, the final text is).
    await eventually(() => expect(states.at(-1)?.text.length ?? 0).toBeGreaterThan(40));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 100)); // tokens keep streaming meanwhile
    proxy.restore();
    await eventually(() => expect(finished(states)).toBeDefined());
    const final = finished(states)!;
    expect(final.status).toBe('completed');
    expect(final.text).toContain('Here is a long answer');
    expectExactAssembly(states, final);
  });

  it('a client that arrives mid-answer (a reload) gets the text so far, then the rest', async () => {
    const first = client();
    const { id } = await follow(first);
    await first.send(id, 'tell me a long story');
    // The "reloaded page": a new client subscribing while the answer streams.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const reloaded = client();
    const { states } = await follow(reloaded, id);
    await eventually(() => expect(finished(states)).toBeDefined());
    const final = finished(states)!;
    expect(final.status).toBe('completed');
    const streaming = states.filter((state) => state.status === 'streaming');
    // The first update already carried text (the snapshot), not only the tokens after the reload.
    expect(streaming[0]!.text.length).toBeGreaterThan(0);
    expect(streaming[0]!.text.startsWith('Here is a long answer')).toBe(true);
    expectExactAssembly(states, final);
  });

  it('Stop ends the answer with ai.stopped, keeping the text so far', async () => {
    const parley = client();
    const { id, states } = await follow(parley);
    await parley.send(id, 'tell me a long story');
    await eventually(() => expect(states.at(-1)?.text.length ?? 0).toBeGreaterThan(40));
    const stopped = await parley.stopGeneration(id);
    expect(stopped).toHaveLength(1);
    await eventually(() => expect(finished(states)).toBeDefined());
    const final = finished(states)!;
    expect(final.status).toBe('stopped');
    expect(final.generationId).toBe(stopped[0]);
    expect(final.text.startsWith('Here is a long answer')).toBe(true);
    expect(final.text.length).toBeLessThan(600);
  });

  it('runs a tool that needs approval once, however often the approval is re-sent', async () => {
    const raw = await RawClient.connect(server.wsUrl, await token('alice'));
    const { conversation } = await raw.call('conversation.open', { assistant: 'assistant' });
    await raw.call('subscribe', { conversationId: conversation.id, since: 0 });
    await raw.call('message.send', { conversationId: conversation.id, clientMsgId: 'cancel-1', content: { type: 'text', text: 'cancel my order 1234' } });
    const request = await raw.waitFor((frame) => frame.push === 'event' && frame.event.type === 'ai.approval_requested');
    const approvalId = request.event.data.approvalId;
    const replies = await Promise.all([1, 2, 3].map(() => raw.call('ai.approve', { conversationId: conversation.id, approvalId, approved: true })));
    expect(replies.map((reply: { duplicate: boolean }) => reply.duplicate).sort()).toEqual([false, true, true]);
    await raw.waitFor((frame) => frame.push === 'event' && frame.event.type === 'ai.completed');
    const again = await raw.call('ai.approve', { conversationId: conversation.id, approvalId, approved: false });
    expect(again).toEqual({ approvalId, approved: true, duplicate: true });
    const history = await raw.call('history', { conversationId: conversation.id, limit: 50 });
    const results = history.events.filter((event: { type: string }) => event.type === 'ai.tool_result');
    expect(results).toHaveLength(1);
    expect(results[0].data.output).toMatchObject({ cancelled: true, cancellationsOfThisOrder: 1 });
    expect(history.events.filter((event: { type: string }) => event.type === 'ai.approval_resolved')).toHaveLength(1);
    raw.close();
  });

  it('refuses an unknown assistant profile', async () => {
    const raw = await RawClient.connect(server.wsUrl, await token('alice'));
    const reply = await raw.request('conversation.open', { assistant: 'nope' });
    expect(reply.error).toMatchObject({ code: 'bad_request' });
    raw.close();
  });
});

describe('a saturated assistant', () => {
  it('answers `busy` with retryAfterMs instead of queueing without bound', async () => {
    const server = await startServer({ PARLEY_AI_QUEUE_SIZE: '1', PARLEY_AI_CONCURRENCY: '1', PARLEY_DEMO_TTFT_MS: '2000' });
    try {
      const raw = await RawClient.connect(server.wsUrl, await token('alice'));
      const ids: string[] = [];
      for (let index = 0; index < 3; index++) ids.push((await raw.call('conversation.open', { assistant: 'assistant' })).conversation.id);
      const send = (id: string, n: number) => raw.request('message.send', { conversationId: id, clientMsgId: `q-${n}`, content: { type: 'text', text: 'hello' } });
      expect((await send(ids[0]!, 0)).result).toBeDefined(); // running
      expect((await send(ids[1]!, 1)).result).toBeDefined(); // queued
      const refused = await send(ids[2]!, 2);
      expect(refused.error).toMatchObject({ code: 'busy' });
      expect(refused.error.retryAfterMs).toBeGreaterThan(0);
      const history = await raw.call('history', { conversationId: ids[2], limit: 10 });
      expect(history.events.map((event: { type: string }) => event.type)).toEqual(['conversation.created']);
      raw.close();
    } finally {
      await server.stop();
    }
  });
});
