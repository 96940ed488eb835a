import { ParleyClient, type ConversationEvent } from '@parley/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { startOtlpCollector, type CollectedSpan, type OtlpCollector } from '../support/otlp-collector.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const QUESTION = 'where is my order 1234?';
// Spans are exported 100 ms after they end rather than 5 s, so that the test need not wait long.
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '100', PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '200' };

/** Asks the demo assistant about an order through `gateway`; resolves with every event once the answer completed. */
async function askAssistant(gateway: TestServer): Promise<{ events: ConversationEvent[]; messageSeq: number }> {
  const client = new ParleyClient({ url: gateway.wsUrl, token: () => token('alice'), WebSocket: WebSocket as never });
  try {
    await client.connect();
    const { conversation } = await client.open({ assistant: 'assistant' });
    const subscription = client.subscribe(conversation.id, { since: 0 });
    const events: ConversationEvent[] = [];
    subscription.on('event', (event) => events.push(event));
    await subscription.ready;
    const ack = await client.send(conversation.id, QUESTION);
    await eventually(() => expect(events.map((event) => event.type)).toContain('ai.completed'));
    return { events, messageSeq: ack.seq };
  } finally {
    client.close();
  }
}

/** The spans of one message's trace: found by the send span of the message stored as `seq`. */
function traceOf(collector: OtlpCollector, seq: number): TraceView {
  const send = collector.spans.find((span) => span.name === 'parley.message.send' && span.attributes['parley.event.seq'] === seq);
  if (!send) throw new Error(`no parley.message.send span for seq ${seq}; spans: ${collector.spans.map((span) => span.name).join(', ')}`);
  return new TraceView(collector.spans.filter((span) => span.traceId === send.traceId));
}

/** Finds spans of one trace by name and attributes, and their parents. */
class TraceView {
  constructor(readonly spans: CollectedSpan[]) {}

  get traceId(): string {
    return this.spans[0]!.traceId;
  }

  one(name: string, attributes: Record<string, unknown> = {}): CollectedSpan {
    const found = this.all(name, attributes);
    if (found.length !== 1) throw new Error(`${found.length} spans ${name} ${JSON.stringify(attributes)}; trace has ${this.spans.map((span) => span.name).join(', ')}`);
    return found[0]!;
  }

  all(name: string, attributes: Record<string, unknown> = {}): CollectedSpan[] {
    return this.spans.filter((span) => span.name === name && Object.entries(attributes).every(([key, value]) => span.attributes[key] === value));
  }

  parentOf(span: CollectedSpan): CollectedSpan | undefined {
    return this.spans.find((candidate) => candidate.spanId === span.parentSpanId);
  }
}

/** Whether every span of a whole answer has reached the collector (the last ones are exported after a short delay). */
function answerTraced(collector: OtlpCollector, seq: number): void {
  const trace = traceOf(collector, seq);
  trace.one('parley.deliver', { 'parley.event.type': 'ai.completed' });
  trace.one('parley.bus.publish', { 'parley.event.type': 'ai.completed' });
  trace.one('parley.ai.generation');
}

/**
 * Checks the shape of one message's trace: the send and its append on the gateway; the queue wait and the
 * generation under the send; the model calls (one per step) under the generation, the tool and its events
 * under the step that called it, the answer's other appends under the generation; each append's publish
 * and delivery under that append.
 */
function expectMessageTrace(trace: TraceView): void {
  const send = trace.one('parley.message.send');
  expect(send.parentSpanId).toBe('');
  expect(send.attributes['parley.tenant']).toBe('acme');
  // Never the message's text, anywhere in the trace.
  for (const span of trace.spans) expect(JSON.stringify(span)).not.toContain('order 1234');

  const messageAppend = trace.one('parley.log.append', { 'parley.event.type': 'message.created' });
  expect(trace.parentOf(messageAppend)).toBe(send);
  expect(trace.parentOf(trace.one('parley.bus.publish', { 'parley.event.type': 'message.created' }))).toBe(messageAppend);
  const messageDelivery = trace.one('parley.deliver', { 'parley.event.type': 'message.created' });
  expect(trace.parentOf(messageDelivery)).toBe(messageAppend);
  expect(messageDelivery.attributes['parley.subscribers']).toBe(1);

  expect(trace.parentOf(trace.one('parley.ai.queue'))).toBe(send);
  const generation = trace.one('parley.ai.generation');
  expect(trace.parentOf(generation)).toBe(send);
  expect(generation.attributes['parley.ai.outcome']).toBe('completed');
  expect(generation.events.map((event) => event.name)).toContain('parley.first_token');

  // One model call per step: the one that called the tool, then the one that answered with its result.
  const modelCalls = trace.all('parley.ai.model_call');
  expect(modelCalls.length).toBe(2);
  for (const call of modelCalls) {
    expect(trace.parentOf(call)).toBe(generation);
    expect(call.attributes['gen_ai.provider.name']).toBe('parley-demo');
    expect(call.events.map((event) => event.name)).toContain('parley.first_chunk');
  }
  expect(modelCalls.map((call) => call.attributes['gen_ai.response.finish_reasons'])).toEqual([['tool-calls'], ['stop']]);
  const callingStep = modelCalls.find((call) => call.attributes['parley.ai.step'] === 0);
  expect(trace.parentOf(trace.one('parley.ai.tool', { 'parley.ai.tool.name': 'lookup_order' }))).toBe(callingStep);

  // The answer's own events under the generation; the tool call's under the model call that made it.
  for (const [type, parent] of [['ai.started', generation], ['ai.tool_call', callingStep], ['ai.tool_result', callingStep], ['ai.completed', generation]] as const) {
    const append = trace.one('parley.log.append', { 'parley.event.type': type });
    expect(trace.parentOf(append), type).toBe(parent);
    expect(trace.parentOf(trace.one('parley.bus.publish', { 'parley.event.type': type })), type).toBe(append);
    expect(trace.parentOf(trace.one('parley.deliver', { 'parley.event.type': type })), type).toBe(append);
  }
}

function logEntries(node: TestServer): Array<Record<string, unknown>> {
  return node.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe('tracing on one node', () => {
  let collector: OtlpCollector;

  beforeAll(async () => {
    collector = await startOtlpCollector();
  });
  afterAll(async () => {
    await collector.close();
  });

  it('one trace per message and its answer: gateway, log, bus, queue, generation, model, tool and delivery spans', async () => {
    const node = await startServer({ ...FAST_EXPORT, PARLEY_OTEL: 'on', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, PARLEY_LOG_LEVEL: 'debug' });
    try {
      const { events, messageSeq } = await askAssistant(node);
      await eventually(() => answerTraced(collector, messageSeq));
      const trace = traceOf(collector, messageSeq);
      expectMessageTrace(trace);
      expect(trace.one('parley.ai.generation').resource['service.name']).toBe('parley');
      // Events carry the trace context of the append that stored them.
      const message = events.find((event) => event.seq === messageSeq)!;
      expect(message.causation?.traceparent).toBe(`00-${trace.traceId}-${trace.one('parley.log.append', { 'parley.event.type': 'message.created' }).spanId}-01`);
      // A log line written inside the generation's span carries its trace and span ids.
      const finished = logEntries(node).find((entry) => entry.msg === 'generation finished');
      expect(finished?.trace_id).toBe(trace.traceId);
      expect(trace.spans.map((span) => span.spanId)).toContain(finished?.span_id);
    } finally {
      await node.stop();
    }
  });

  it('is off by default: no export traffic, no trace context in events or logs', async () => {
    const requestsBefore = collector.requests;
    const node = await startServer({ ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, PARLEY_LOG_LEVEL: 'debug' });
    let events: ConversationEvent[];
    try {
      ({ events } = await askAssistant(node));
    } finally {
      // Stopping flushes any exporter there were.
      await node.stop();
    }
    expect(collector.requests).toBe(requestsBefore);
    expect(events.filter((event) => event.causation?.traceparent !== undefined)).toEqual([]);
    const entries = logEntries(node);
    expect(entries.some((entry) => entry.msg === 'generation finished')).toBe(true);
    expect(entries.filter((entry) => 'trace_id' in entry)).toEqual([]);
  });
});

describe('tracing across a gateway and a worker', () => {
  let collector: OtlpCollector;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-tracing-${process.pid}-${Date.now()}`;
  let gateway: TestServer;
  let worker: TestServer;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    schema = await createTestSchema();
    const env = { ...FAST_EXPORT, DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix, PARLEY_OTEL: 'on', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url };
    gateway = await startServer({ ...env, PARLEY_ROLE: 'gateway' });
    worker = await startServer({ ...env, PARLEY_ROLE: 'worker' });
  });
  afterAll(async () => {
    for (const node of [gateway, worker]) if (node && node.process.exitCode === null && node.process.signalCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema?.drop();
    await collector?.close();
  });

  it('the answer produced on the worker joins the trace of the message sent through the gateway, and is delivered in it', async () => {
    const { messageSeq } = await askAssistant(gateway);
    await eventually(() => answerTraced(collector, messageSeq));
    const trace = traceOf(collector, messageSeq);
    expectMessageTrace(trace);
    const roleOf = (span: CollectedSpan) => span.resource['parley.role'];
    expect(roleOf(trace.one('parley.message.send'))).toBe('gateway');
    expect(roleOf(trace.one('parley.ai.queue'))).toBe('worker');
    expect(roleOf(trace.one('parley.ai.generation'))).toBe('worker');
    expect(roleOf(trace.one('parley.log.append', { 'parley.event.type': 'ai.completed' }))).toBe('worker');
    // Fanned out by the gateway, under the append that the worker made.
    expect(roleOf(trace.one('parley.deliver', { 'parley.event.type': 'ai.completed' }))).toBe('gateway');
    expect(new Set(trace.spans.map((span) => span.resource['service.instance.id'])).size).toBe(2);
  });
});
