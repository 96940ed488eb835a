import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { FakeOpenAiServer, type RecordedRequest } from '../support/openai-server.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

type Frame = Record<string, any>;

let counter = 0;
const conversationId = () => `mood-${process.pid}-${Date.now()}-${counter++}`;
const text = (value: string) => ({ type: 'text', text: value });
// AFINN reads this as positive (+0.88); a model reads the sarcasm.
const SARCASM = 'Oh great, another week of waiting. Just wonderful.';

/** The customer's message in a request of the fake provider (the classifier's prompt wraps it). */
const lastUserText = (body: RecordedRequest['body']) => String(body.messages.filter((message) => message.role === 'user').at(-1)?.content ?? '');
const isClassifier = (body: RecordedRequest['body']) => String(body.messages[0]?.content ?? '').includes('rate the sentiment');

/**
 * Two support desk behaviours that need a real model provider (a local OpenAI-compatible server): sentiment
 * read by a model classifier, falling back to the lexicon when it fails; and a queue outside business hours,
 * during which the assistant keeps answering until an agent takes the conversation.
 */
describe('support desk: model sentiment and business hours', () => {
  let server: TestServer;
  let fake: FakeOpenAiServer;
  let assistantsDir: string;
  const clients: RawClient[] = [];
  const connect = async (user: string, roles = ['user'], name?: string) => {
    const client = await RawClient.connect(server.wsUrl, await token(user, { roles, ...(name ? { claims: { name } } : {}) }));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    fake = await FakeOpenAiServer.start(1);
    // The classifier: the sarcastic message reads negative, "terrible" gets an HTTP 500, "disappointed" an answer that is no reading.
    fake.completion = (body) => {
      if (!isClassifier(body)) return { status: 200, content: 'A summary for the agent.' };
      const message = lastUserText(body);
      if (message.includes('terrible')) return { status: 500, content: '' };
      if (message.includes('disappointed')) return { status: 200, content: 'I think the customer is sad.' };
      return { status: 200, content: JSON.stringify({ score: message.includes('Oh great') ? -1.2 : 0.1 }) };
    };
    const model = { provider: 'openai-compatible', baseUrl: fake.baseUrl, model: 'chat-model' };
    assistantsDir = await mkdtemp(join(tmpdir(), 'parley-assistants-'));
    const assistantsFile = join(assistantsDir, 'assistants.json');
    await writeFile(
      assistantsFile,
      JSON.stringify({
        assistants: [
          { id: 'moody', models: [model], handoff: { sentimentAnalyzer: 'model', rules: [], tool: false } },
          { id: 'night-desk', models: [model], handoff: { team: 'night' } },
        ],
      }),
    );
    server = await startServer({ PARLEY_ASSISTANTS_FILE: assistantsFile, PARLEY_SUPPORT_ROUTE_INTERVAL_MS: '200', PARLEY_REACTION_SWEEP_MS: '300' });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server?.stop();
    await fake?.close();
    await rm(assistantsDir, { recursive: true, force: true });
  });

  async function customerConversation(user: string, assistant: string): Promise<{ customer: RawClient; id: string }> {
    const customer = await connect(user);
    const id = conversationId();
    await customer.call('conversation.open', { conversationId: id, assistant });
    await customer.call('subscribe', { conversationId: id, since: 0 });
    return { customer, id };
  }

  async function sentimentOf(id: string, messageSeq: number): Promise<Frame> {
    const admin = await token('boss', { roles: ['admin'] });
    let found: Frame | undefined;
    await eventually(async () => {
      const staff = await apiCall(server, admin, 'GET', `/conversations/${id}/staff-events?after=0`);
      found = staff.body.events.find((event: Frame) => event.type === 'support.sentiment' && event.data.messageSeq === messageSeq);
      expect(found).toBeDefined();
    });
    return found!.data;
  }

  const typesOf = (client: RawClient, id: string) => client.events(id).map((event: Frame) => event.type as string);

  it('hands off when the model classifier reads a message as negative, which the lexicon reads as positive', async () => {
    const { customer, id } = await customerConversation('mona', 'moody');
    const sent = await customer.call('message.send', { conversationId: id, clientMsgId: 'm1', content: text(SARCASM) });
    await eventually(() => expect(typesOf(customer, id)).toContain('handoff.requested'));
    expect(customer.events(id).find((event: Frame) => event.type === 'handoff.requested')!.data).toMatchObject({ reason: 'sentiment', origin: 'system' });
    expect(await sentimentOf(id, sent.seq)).toEqual({ messageSeq: sent.seq, score: -1.2, label: 'negative', analyzer: 'model:openai-compatible:chat-model' });
    // Asked for structured output, the message in the prompt.
    const request = fake.requests.find((recorded) => isClassifier(recorded.body) && lastUserText(recorded.body).includes(SARCASM))!;
    expect(request.body.stream).toBeFalsy();
    expect(request.body.response_format?.type).toMatch(/^json/);
  });

  it('reads a message with the lexicon when the model fails or answers no reading, and still hands off', async () => {
    const failing = await customerConversation('milo', 'moody');
    const angry = await failing.customer.call('message.send', { conversationId: failing.id, clientMsgId: 'm1', content: text('This is terrible, awful, horrible service. I hate it, worst ever!') });
    const garbled = await customerConversation('mira', 'moody');
    const sad = await garbled.customer.call('message.send', { conversationId: garbled.id, clientMsgId: 'm1', content: text('I am disappointed') });
    expect(await sentimentOf(failing.id, angry.seq)).toMatchObject({ analyzer: 'afinn', label: 'negative' });
    expect(await sentimentOf(garbled.id, sad.seq)).toMatchObject({ analyzer: 'afinn', label: 'negative' });
    for (const { customer, id } of [failing, garbled]) {
      await eventually(() => expect(typesOf(customer, id)).toContain('handoff.requested'));
      expect(customer.events(id).find((event: Frame) => event.type === 'handoff.requested')!.data).toMatchObject({ reason: 'sentiment' });
    }
  });

  it('answers a customer queued outside business hours, with the opening time in its context, and stops once an agent takes it', async () => {
    const admin = await token('boss', { roles: ['admin'] });
    // A team with no opening hours at all is closed now, and for the coming week.
    expect((await apiCall(server, admin, 'PUT', '/support/teams/night', { name: 'Night', businessHours: { timeZone: 'UTC', days: {} } })).status).toBe(200);
    expect((await apiCall(server, admin, 'PUT', '/support/agents/nia', { name: 'Nia', teams: ['night'], skills: [], capacity: 3 })).status).toBe(200);
    const { customer, id } = await customerConversation('nora', 'night-desk');
    await customer.call('support.handoff', { conversationId: id });
    // The queue tells the customer that the team is away, and until when.
    const place = await customer.waitFor((frame) => frame.push === 'signal' && frame.signal.conversation === id && frame.signal.type === 'queue.position' && frame.signal.data.closedUntil > Date.now());
    expect(place.signal.data).toMatchObject({ position: 1, team: 'night' });

    const question = await customer.call('message.send', { conversationId: id, clientMsgId: 'q1', content: text('while I wait: how do returns work?') });
    await eventually(() => expect(customer.events(id).some((event: Frame) => event.type === 'ai.completed' && event.causation?.replyTo === question.seq)).toBe(true));
    const answer = customer.events(id).find((event: Frame) => event.type === 'ai.completed' && event.causation?.replyTo === question.seq)!;
    expect(answer.data.text).toContain('how do returns work?');
    const request = fake.requests.find((recorded) => recorded.body.stream && lastUserText(recorded.body).includes('how do returns work?'))!;
    expect(String(request.body.messages[0]!.content)).toContain('the support team is away until');
    // Already queued: the model is not offered the handoff again.
    expect((request.body.tools ?? []).map((tool) => tool.function.name)).not.toContain('handoff_to_human');
    // Answered while still queued: nothing assigned it or took it back meanwhile.
    expect(typesOf(customer, id).filter((type) => type.startsWith('conversation.')).at(-1)).toBe('conversation.queued');

    // An agent takes it while a long answer streams: the answer stops, and from then on no answer starts.
    const long = await customer.call('message.send', { conversationId: id, clientMsgId: 'long', content: text(`please repeat: ${'word '.repeat(5000)}`) });
    await customer.waitFor((frame) => frame.push === 'signal' && frame.signal.conversation === id && frame.signal.type === 'ai.delta');
    const agent = await connect('nia', ['agent'], 'Nia');
    await agent.call('support.claim', { conversationId: id });
    await eventually(() => expect(customer.events(id).some((event: Frame) => event.type === 'ai.stopped' && event.causation?.replyTo === long.seq)).toBe(true));
    expect(customer.events(id).find((event: Frame) => event.type === 'ai.stopped' && event.causation?.replyTo === long.seq)!.data.reason).toBe('handoff');
    const ignored = await customer.call('message.send', { conversationId: id, clientMsgId: 'q2', content: text('are you there?') });
    await sentimentOf(id, ignored.seq);
    // Handed back, the assistant answers the next message; answers run in order, so one to `ignored` would be there first.
    await agent.call('support.handBack', { conversationId: id });
    const next = await customer.call('message.send', { conversationId: id, clientMsgId: 'q3', content: text('thanks, one more question') });
    await eventually(() => expect(customer.events(id).some((event: Frame) => event.type === 'ai.completed' && event.causation?.replyTo === next.seq)).toBe(true));
    expect(customer.events(id).filter((event: Frame) => event.type === 'ai.started' && event.data.replyTo === ignored.seq)).toEqual([]);
  });
});
