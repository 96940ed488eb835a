import type { ConversationEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryJobQueue } from '../../src/adapters/memory/job-queue.js';
import type { JobRunner } from '../../src/core/ports.js';
import { answerJobId } from '../../src/ai/answer-reaction.js';
import { AiHarness } from './harness.js';
let ai: AiHarness;

beforeAll(async () => {
  ai = await AiHarness.open();
});
afterAll(() => ai.close());

const types = (events: ConversationEvent[]) => events.map((event) => event.type);
const terminalTypes = ['ai.completed', 'ai.stopped', 'ai.failed'];

/** Each ai.started is followed by exactly one terminal event of the same generation. */
function expectOneTerminalPerGeneration(events: ConversationEvent[]): void {
  const started = events.filter((event) => event.type === 'ai.started').map((event) => event.data.generationId);
  const ended = events.filter((event) => terminalTypes.includes(event.type)).map((event) => event.data.generationId);
  expect(ended.sort()).toEqual(started.sort());
}

describe('orchestrator with scripted models', () => {
  it('streams an answer: ai.started, numbered deltas that add up to ai.completed', async () => {
    const model = ai.model('ok', [{ kind: 'text', tokens: ['Hel', 'lo ', 'there'] }]);
    const { orchestrator } = ai.orchestrator({ models: [model] });
    const key = await ai.conversation();
    const trigger = await ai.send(orchestrator, key, 'hi');
    const [completed] = await ai.terminals(key);
    expect(completed).toMatchObject({ type: 'ai.completed', actor: { kind: 'assistant', id: 'p' }, causation: { replyTo: trigger.seq }, data: { text: 'Hello there', model: 'openai-compatible:ok' } });
    expect(completed!.data.ttftMs).toBeTypeOf('number');
    const deltas = ai.deltas.filter((delta) => delta.generationId === completed!.data.generationId);
    expect(deltas.map((delta) => delta.index)).toEqual(deltas.map((_, index) => index));
    expect(deltas.map((delta) => delta.text).join('')).toBe('Hello there');
    const events = await ai.events(key);
    expect(types(events)).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.completed']);
    // The model saw the system prompt and the user's message.
    const call = ai.models.get('ok')!.calls[0]!;
    expect(call.prompt[0]).toMatchObject({ role: 'system' });
    expect(JSON.stringify(call.prompt.at(-1))).toContain('hi');
  });

  it('retries before the first token, then falls back to the next model in the chain', async () => {
    const broken = ai.model('broken', [{ kind: 'fail', message: 'HTTP 503' }]);
    const backup = ai.model('backup', [{ kind: 'text', tokens: ['from ', 'backup'] }]);
    const { orchestrator } = ai.orchestrator({ models: [broken, backup], limits: { retries: 2 } });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [completed] = await ai.terminals(key);
    expect(completed).toMatchObject({ type: 'ai.completed', data: { text: 'from backup', model: 'openai-compatible:backup' } });
    expect(ai.models.get('broken')!.calls).toHaveLength(3);
  });

  it('fails with the fallback text when every model fails', async () => {
    const broken = ai.model('down', [{ kind: 'fail', message: 'connection refused' }]);
    const { orchestrator } = ai.orchestrator({ models: [broken], limits: { retries: 0 }, fallbackText: 'Sorry, try again later.' });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [failed] = await ai.terminals(key);
    expect(failed).toMatchObject({ type: 'ai.failed', data: { code: 'model_error', fallbackText: 'Sorry, try again later.', text: '' } });
    expect(String(failed!.data.message)).toContain('connection refused');
  });

  it('times out a model that never sends its first token, and moves on', async () => {
    const hanging = ai.model('hanging', [{ kind: 'hang' }]);
    const backup = ai.model('after-hang', [{ kind: 'text', tokens: ['ok'] }]);
    const { orchestrator } = ai.orchestrator({ models: [hanging, backup], limits: { retries: 0, firstTokenTimeoutMs: 200 } });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [completed] = await ai.terminals(key);
    expect(completed).toMatchObject({ type: 'ai.completed', data: { text: 'ok' } });
  });

  it('ends in ai.failed, keeping the partial text, when the model crashes mid-stream (no retry after the first token)', async () => {
    const crashing = ai.model('crashing', [{ kind: 'text', tokens: ['one ', 'two ', 'three'], failAfter: 2 }]);
    const backup = ai.model('unused-backup', [{ kind: 'text', tokens: ['never'] }]);
    const { orchestrator } = ai.orchestrator({ models: [crashing, backup], limits: { retries: 3 } });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [failed] = await ai.terminals(key);
    expect(failed).toMatchObject({ type: 'ai.failed', data: { code: 'model_error', text: 'one two ' } });
    expect(ai.models.get('crashing')!.calls).toHaveLength(1);
    expect(ai.models.get('unused-backup')!.calls).toHaveLength(0);
  });

  it('stops a running generation at once, keeping what was said', async () => {
    const slow = ai.model('slow', [{ kind: 'text', tokens: Array.from({ length: 200 }, (_, index) => `w${index} `), delayMs: 10 }]);
    const { orchestrator } = ai.orchestrator({ models: [slow] });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'tell me a long story');
    while (((await orchestrator.snapshots(key))[0]?.text.length ?? 0) < 10) await new Promise((resolve) => setTimeout(resolve, 5));
    const stopRequested = performance.now();
    const stopped = await orchestrator.stop(key);
    expect(stopped).toHaveLength(1);
    const [end] = await ai.terminals(key);
    const elapsedMs = performance.now() - stopRequested;
    expect(end).toMatchObject({ type: 'ai.stopped', data: { generationId: stopped[0] } });
    const text = String(end!.data.text);
    expect(text.length).toBeGreaterThan(0);
    expect(text).toMatch(/^w0 w1 /);
    expect(text.split(' ').length).toBeLessThan(150);
    // Not a timing assertion on speed: a bound far above the expected few ms, that only a hang would break.
    expect(elapsedMs).toBeLessThan(5000);
  });

  it('answers with the demo backend: a tool call, its result, then the answer', async () => {
    const { orchestrator } = ai.orchestrator({ models: [{ provider: 'demo', ttftMs: 0, tokensPerSecond: 10_000 }], tools: ['lookup_order', 'create_support_ticket'] });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'where is my order 1234?');
    const [completed] = await ai.terminals(key);
    const events = await ai.events(key);
    expect(types(events)).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.completed']);
    expect(events[3]!.data).toMatchObject({ toolName: 'lookup_order', input: { orderId: '1234' } });
    expect(events[4]!.data).toMatchObject({ toolName: 'lookup_order', output: { orderId: '1234', found: true, status: 'delivered' } });
    expect(completed!.data.text).toContain('Order 1234 is delivered');
    expect(completed!.data.text).toContain('demo model');
  });
});

describe('the answer reaction', () => {
  it('answers a committed message whose admitting node died before handing its reservation over', async () => {
    const model = ai.model('orphan', [{ kind: 'text', tokens: ['still ', 'answered'] }]);
    ai.orchestrator({ models: [model] });
    const key = await ai.conversation();
    // Committed without this node's admission: the node that admitted it is gone.
    const { event } = await ai.log.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text: 'hello?' } } });
    const [end] = await ai.terminals(key);
    expect(end).toMatchObject({ type: 'ai.completed', causation: { replyTo: event.seq }, data: { text: 'still answered', generationId: answerJobId(key, event.seq) } });
  });

  it('answers a message handed to it twice once (the job id comes from the message)', async () => {
    const model = ai.model('twice', [{ kind: 'text', tokens: ['once'] }]);
    const queue = new CountingQueue();
    const { orchestrator } = ai.orchestrator({ models: [model] }, undefined, undefined, [], queue);
    const key = await ai.conversation();
    const message = await ai.send(orchestrator, key, 'hi');
    await ai.terminals(key);
    await orchestrator.reaction.handle(key, [message]);
    await orchestrator.reaction.handle(key, [message]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(types(await ai.events(key))).toEqual(['conversation.created', 'message.created', 'ai.started', 'ai.completed']);
    expect(queue.runs).toBe(1);
    expect(ai.models.get('twice')!.calls).toHaveLength(1);
  });

  it('does not answer messages of people-only conversations, nor those of services and assistants', async () => {
    const { orchestrator } = ai.orchestrator({ models: [ai.model('quiet', [{ kind: 'text', tokens: ['no'] }])] });
    const key = { tenant: 'acme', conversationId: `people-${process.pid}-${Date.now()}` };
    await ai.log.create({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    const human = (await ai.log.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text: 'hi' } } })).event;
    const assisted = await ai.conversation();
    const bot = (await ai.log.append({ key: assisted, type: 'message.created', actor: { kind: 'service', id: 'crm' }, data: { content: { type: 'text', text: 'ticket opened' } } })).event;
    await orchestrator.reaction.handle(key, [human]);
    await orchestrator.reaction.handle(assisted, [bot]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(types(await ai.events(key))).toEqual(['conversation.created', 'message.created']);
    expect(types(await ai.events(assisted))).toEqual(['conversation.created', 'message.created']);
    expect(ai.models.get('quiet')!.calls).toHaveLength(0);
  });
});

describe('double texting and the queue', () => {
  const slowModel = (name: string) => ai.model(name, [{ kind: 'text', tokens: Array.from({ length: 30 }, (_, index) => `t${index} `), delayMs: 5 }]);

  it('enqueue (default): the second message is answered after the first, each once', async () => {
    const { orchestrator } = ai.orchestrator({ models: [slowModel('enqueue')] });
    const key = await ai.conversation();
    const first = await ai.send(orchestrator, key, 'first');
    const second = await ai.send(orchestrator, key, 'second');
    const ends = await ai.terminals(key, 2);
    expect(ends.map((event) => [event.type, event.causation?.replyTo])).toEqual([
      ['ai.completed', first.seq],
      ['ai.completed', second.seq],
    ]);
    const events = await ai.events(key);
    expectOneTerminalPerGeneration(events);
    // Answers run one at a time: the second starts after the first ended.
    const order = types(events).filter((type) => type.startsWith('ai.'));
    expect(order).toEqual(['ai.started', 'ai.completed', 'ai.started', 'ai.completed']);
    // The second answer saw the first answer in its context.
    const secondCall = ai.models.get('enqueue')!.calls[1]!;
    expect(secondCall.prompt.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'user']);
  });

  it('interrupt: a new message stops the running answer and gets its own', async () => {
    const { orchestrator } = ai.orchestrator({ models: [slowModel('interrupt')], doubleTexting: 'interrupt' });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'first');
    while ((await orchestrator.snapshots(key)).length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    const second = await ai.send(orchestrator, key, 'actually, this');
    const ends = await ai.terminals(key, 2);
    expect(ends.map((event) => event.type)).toEqual(['ai.stopped', 'ai.completed']);
    expect(ends[1]!.causation?.replyTo).toBe(second.seq);
    expectOneTerminalPerGeneration(await ai.events(key));
  });

  it('reject: a message while an answer runs gets conflict and is not stored', async () => {
    const { orchestrator } = ai.orchestrator({ models: [slowModel('reject')], doubleTexting: 'reject' });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'first');
    await expect(ai.send(orchestrator, key, 'second')).rejects.toMatchObject({ code: 'conflict' });
    await ai.terminals(key, 1);
    const messages = (await ai.events(key)).filter((event) => event.type === 'message.created');
    expect(messages).toHaveLength(1);
    // Once the answer is done, the next message is admitted.
    await ai.send(orchestrator, key, 'third');
    await ai.terminals(key, 2);
  });

  it('busy with retryAfterMs when the queue is full, before anything is stored', async () => {
    const { orchestrator, queue } = ai.orchestrator({ models: [slowModel('busy')] }, { maxQueued: 2, concurrency: 1, perTenantConcurrency: 1 });
    const keys = [await ai.conversation(), await ai.conversation(), await ai.conversation(), await ai.conversation()];
    await ai.send(orchestrator, keys[0]!, 'one');
    // Its place counts until its job runs (the answer reaction submits it right after the commit).
    while ((await queue.stats()).running === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    await ai.send(orchestrator, keys[1]!, 'two'); // waits
    await ai.send(orchestrator, keys[2]!, 'three'); // waits: the queue holds 2
    const refused = ai.send(orchestrator, keys[3]!, 'four');
    await expect(refused).rejects.toMatchObject({ code: 'busy', retryAfterMs: 1000 });
    expect((await ai.events(keys[3]!)).filter((event) => event.type === 'message.created')).toHaveLength(0);
    for (const key of keys.slice(0, 3)) expect((await ai.terminals(key)).map((event) => event.type)).toEqual(['ai.completed']);
  });
});

describe('budgets and the answer cache', () => {
  it('refuses a user over the request budget with rate_limited and the reset time, storing nothing', async () => {
    const model = ai.model('budget', [{ kind: 'text', tokens: ['ok'] }]);
    const { orchestrator } = ai.orchestrator({ models: [model] }, undefined, { windowMs: 60_000, requests: 2, tokens: 1000 });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'one');
    await ai.send(orchestrator, key, 'two');
    const refused = ai.send(orchestrator, key, 'three');
    await expect(refused).rejects.toMatchObject({ code: 'rate_limited', details: { budget: 'requests', limit: 2 } });
    const error = (await refused.catch((caught: unknown) => caught)) as { retryAfterMs: number };
    expect(error.retryAfterMs).toBeGreaterThan(50_000);
    await ai.terminals(key, 2);
    expect((await ai.events(key)).filter((event) => event.type === 'message.created')).toHaveLength(2);
  });

  it('refuses a user whose answers used up the token budget', async () => {
    const model = ai.model('tokens', [{ kind: 'text', tokens: ['a ', 'b ', 'c ', 'd '] }]);
    const { orchestrator } = ai.orchestrator({ models: [model] }, undefined, { windowMs: 60_000, requests: 100, tokens: 4 });
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'one');
    await ai.terminals(key, 1);
    await expect(ai.send(orchestrator, key, 'two')).rejects.toMatchObject({ code: 'rate_limited', details: { budget: 'tokens' } });
  });

  it('answers a recurring first question from the cache, marked cached, per tenant', async () => {
    const model = ai.model('cached', [{ kind: 'text', tokens: ['Free ', 'shipping ', 'above ', '50.'] }]);
    const { orchestrator } = ai.orchestrator({ models: [model], cache: { ttlSeconds: 60 } });
    const first = await ai.conversation();
    await ai.send(orchestrator, first, 'How much is shipping?');
    const [original] = await ai.terminals(first);
    expect(original!.data.cached).toBeUndefined();
    const second = await ai.conversation();
    await ai.send(orchestrator, second, '  how much is SHIPPING ');
    const [hit] = await ai.terminals(second);
    expect(hit!.data).toMatchObject({ text: 'Free shipping above 50.', cached: true });
    expect(ai.models.get('cached')!.calls).toHaveLength(1);
    // A follow-up question depends on the conversation: never from the cache.
    await ai.send(orchestrator, second, 'How much is shipping?');
    const ends = await ai.terminals(second, 2);
    expect(ends[1]!.data.cached).toBeUndefined();
    expect(ai.models.get('cached')!.calls).toHaveLength(2);
  });
});

describe('tool approvals', () => {
  const demo = { provider: 'demo', ttftMs: 0, tokensPerSecond: 10_000 };
  const profile = { models: [demo], tools: ['cancel_order'], approvalRequired: ['cancel_order'], limits: { idleTimeoutMs: 100, totalTimeoutMs: 200 } };

  async function waitForApproval(key: Parameters<AiHarness['events']>[0]): Promise<ConversationEvent> {
    for (;;) {
      const request = (await ai.events(key)).find((event) => event.type === 'ai.approval_requested');
      if (request) return request;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('runs an approved tool exactly once, however often the approval is sent, and waits past the timeouts', async () => {
    const { orchestrator } = ai.orchestrator(profile);
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'please cancel my order 1234');
    const request = await waitForApproval(key);
    expect(request.data).toMatchObject({ toolName: 'cancel_order', input: { orderId: '1234' } });
    await new Promise((resolve) => setTimeout(resolve, 400)); // longer than the idle and total timeouts: a person is deciding
    const approvalId = String(request.data.approvalId);
    const by = { kind: 'user' as const, id: 'alice' };
    const decisions = await Promise.all([1, 2, 3].map(() => orchestrator.resolveApproval(key, approvalId, true, by)));
    expect(decisions.filter((decision) => !decision.duplicate)).toHaveLength(1);
    expect(decisions.every((decision) => decision.approved)).toBe(true);
    const [completed] = await ai.terminals(key);
    expect(completed!.data.text).toContain('Order 1234 is cancelled');
    expect(await orchestrator.resolveApproval(key, approvalId, false, by)).toEqual({ approved: true, duplicate: true });
    const events = await ai.events(key);
    expect(types(events).slice(2)).toEqual(['ai.started', 'ai.tool_call', 'ai.approval_requested', 'ai.approval_resolved', 'ai.tool_result', 'ai.completed']);
    expect(events.find((event) => event.type === 'ai.tool_result')!.data).toMatchObject({ output: { cancelled: true, cancellationsOfThisOrder: 1 } });
    expect(events.find((event) => event.type === 'ai.approval_resolved')).toMatchObject({ actor: by, data: { approvalId, approved: true } });
  });

  it('does not run a denied tool; the model is told and answers accordingly', async () => {
    const { orchestrator } = ai.orchestrator(profile);
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'cancel order 5678');
    const request = await waitForApproval(key);
    await orchestrator.resolveApproval(key, String(request.data.approvalId), false, { kind: 'agent', id: 'bob' });
    const [completed] = await ai.terminals(key);
    expect(completed!.data.text).toContain('did not cancel');
    const result = (await ai.events(key)).find((event) => event.type === 'ai.tool_result')!;
    expect(result.data).toMatchObject({ output: { error: 'denied' } });
  });

  it('refuses decisions on unknown approvals and on other conversations', async () => {
    const { orchestrator } = ai.orchestrator(profile);
    const key = await ai.conversation();
    const other = await ai.conversation();
    await ai.send(orchestrator, key, 'cancel order 4321');
    const request = await waitForApproval(key);
    const by = { kind: 'user' as const, id: 'mallory' };
    await expect(orchestrator.resolveApproval(key, 'nope', true, by)).rejects.toMatchObject({ code: 'not_found' });
    await expect(orchestrator.resolveApproval(other, String(request.data.approvalId), true, by)).rejects.toMatchObject({ code: 'not_found' });
    await orchestrator.stop(key);
    const [end] = await ai.terminals(key);
    expect(end!.type).toBe('ai.stopped');
  });
});

describe('session memory', () => {
  it('folds turns that no longer fit the context into a stored summary that later answers see', async () => {
    const { orchestrator } = ai.orchestrator({ models: [{ provider: 'demo', ttftMs: 0, tokensPerSecond: 10_000 }], contextTokens: 100 });
    const key = await ai.conversation();
    const questions = ['How long does shipping take?', 'Can I return a jacket?', 'When are you open?', 'Who are you?'];
    for (const [index, question] of questions.entries()) {
      await ai.send(orchestrator, key, question);
      await ai.terminals(key, index + 1);
    }
    let memory = await ai.log.getMemory(key);
    for (let attempt = 0; !memory && attempt < 100; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      memory = await ai.log.getMemory(key);
    }
    expect(ai.failures).toEqual([]);
    expect(memory?.summary).toContain('How long does shipping take?');
    await ai.send(orchestrator, key, 'Thanks!');
    const ends = await ai.terminals(key, 5);
    const context = await orchestrator.inspectContext(key, String(ends[4]!.data.generationId));
    expect(context?.system).toContain('Summary of the earlier conversation');
    expect(context?.system).toContain('shipping');
    // The summary replaced old turns: the context holds fewer turns than were said.
    expect(context!.messages.length).toBeLessThan(9);
  });
});

describe('failures outside the model', () => {
  it('still ends the generation with ai.failed when storing its result fails once', async () => {
    const model = ai.model('store-hiccup', [{ kind: 'text', tokens: ['fine'] }]);
    const { orchestrator } = ai.orchestrator({ models: [model] });
    const key = await ai.conversation();
    const append = ai.log.append.bind(ai.log);
    let failed = false;
    ai.log.append = async (input) => {
      if (input.type === 'ai.completed' && !failed) {
        failed = true;
        throw new Error('store hiccup');
      }
      return append(input);
    };
    try {
      await ai.send(orchestrator, key, 'hi');
      const [end] = await ai.terminals(key);
      expect(end).toMatchObject({ type: 'ai.failed', data: { code: 'internal', text: 'fine' } });
      expectOneTerminalPerGeneration(await ai.events(key));
    } finally {
      ai.log.append = append;
    }
  });
});

/** A queue that counts the jobs it runs. */
class CountingQueue extends MemoryJobQueue {
  runs = 0;

  constructor() {
    super({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 }, () => undefined);
  }

  override work(run: JobRunner): void {
    super.work(async (job, context) => {
      this.runs++;
      await run(job, context);
    });
  }
}

/** A queue that hands every job over as if its first worker had been lost (what a shared queue does after the visibility timeout). */
class ReclaimingQueue extends MemoryJobQueue {
  constructor(private readonly beforeRun: (job: Parameters<JobRunner>[0]) => Promise<void> = async () => undefined) {
    super({ maxQueued: 10, concurrency: 2, perTenantConcurrency: 2 }, () => undefined);
  }

  override work(run: JobRunner): void {
    super.work(async (job, context) => {
      await this.beforeRun(job);
      await run(job, { ...context, reclaimed: true });
    });
  }
}

describe('jobs taken over from a lost worker', () => {
  it('answers from the start when the lost worker had not begun', async () => {
    const model = ai.model('takeover', [{ kind: 'text', tokens: ['all ', 'of ', 'it'] }]);
    const { orchestrator } = ai.orchestrator({ models: [model] }, undefined, undefined, [], new ReclaimingQueue());
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [end] = await ai.terminals(key);
    expect(end).toMatchObject({ type: 'ai.completed', data: { text: 'all of it' } });
    expectOneTerminalPerGeneration(await ai.events(key));
  });

  it('ends with ai.failed (worker_lost) when the lost worker had begun, without calling the model again', async () => {
    const model = ai.model('lost', [{ kind: 'text', tokens: ['never'] }]);
    // The lost worker stored ai.started under the generation's key, then died.
    const queue = new ReclaimingQueue(async (job) => {
      const key = { tenant: job.tenant, conversationId: job.conversationId };
      await ai.log.append({ key, type: 'ai.started', actor: { kind: 'assistant', id: job.profileId }, data: { generationId: job.id, profile: job.profileId, replyTo: job.triggerSeq }, causation: { replyTo: job.triggerSeq, generationId: job.id, clientMsgId: `${job.id}:started` } });
    });
    const { orchestrator } = ai.orchestrator({ models: [model] }, undefined, undefined, [], queue);
    const key = await ai.conversation();
    await ai.send(orchestrator, key, 'hi');
    const [end] = await ai.terminals(key);
    expect(end).toMatchObject({ type: 'ai.failed', data: { code: 'worker_lost' } });
    expect((await ai.events(key)).filter((event) => event.type === 'ai.started')).toHaveLength(1);
    expect(ai.models.get('lost')!.calls).toHaveLength(0);
    expectOneTerminalPerGeneration(await ai.events(key));
  });
});
