import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ConversationEvent } from '@parley/protocol';

/**
 * Spans of Parley's own work, over the OpenTelemetry API only: modules trace through these helpers, and
 * the SDK (exporter, sampler, context manager) is started by the composition root (tracing-sdk.ts) when
 * PARLEY_OTEL=on. Until then every helper returns at once without creating anything.
 */

export { SpanKind };

// A proxy: it delegates to the SDK's tracer once one is registered.
const tracer = trace.getTracer('parley');
// The W3C format itself, whatever OTEL_PROPAGATORS says: the job and event fields are named after it.
const w3c = new W3CTraceContextPropagator();
const UNTRACED_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

let enabled = false;

/** Called once the SDK is registered: from then on the helpers create spans. */
export function enableTracing(): void {
  enabled = true;
}

/** Whether spans are created at all; hot paths check this before allocating anything for a span. */
export function tracingEnabled(): boolean {
  return enabled;
}

/** Options of `inSpan`: the OTel span options, and the parent when it is not the active context (a job's trace). */
export interface InSpanOptions extends SpanOptions {
  parent?: Context;
}

/**
 * Runs `work` as the active span `name`: spans started inside it (and log lines written inside it) belong to
 * it. The span ends when `work` settles; a throw marks it as failed and is rethrown.
 */
export async function inSpan<T>(name: string, options: InSpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return work(UNTRACED_SPAN);
  return tracer.startActiveSpan(name, options, options.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Records a span that has already happened (from `startTime`, ms since the epoch, until now), e.g. a wait in a
 * queue. The start may come from another node's clock: one ahead of this one makes an empty span, not a negative one.
 */
export function recordSpan(name: string, startTime: number, options: InSpanOptions): void {
  if (!enabled) return;
  tracer.startSpan(name, { ...options, startTime: Math.min(startTime, Date.now()) }, options.parent ?? context.active()).end();
}

/** Adds attributes to the active span (the generation's outcome, once known). */
export function annotateActiveSpan(attributes: Attributes): void {
  if (enabled) trace.getActiveSpan()?.setAttributes(attributes);
}

/** The active span, to mark later from inside child spans; undefined when not tracing. */
export function activeSpan(): Span | undefined {
  return enabled ? trace.getActiveSpan() : undefined;
}

/** Adds a timestamped event to the active span (the first chunk of a model call). */
export function markActiveSpan(name: string, attributes?: Attributes): void {
  if (enabled) trace.getActiveSpan()?.addEvent(name, attributes);
}

/** The W3C `traceparent` of the active span, to carry the trace through a job or an event; undefined when not tracing. */
export function activeTraceparent(): string | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  w3c.inject(context.active(), carrier, defaultTextMapSetter);
  return carrier.traceparent;
}

/** The context a `traceparent` names, as the parent of spans in another process; the root context without one. */
export function contextOf(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
}

/**
 * Runs `deliver` (the fan-out of one event to this node's subscribers) as one `parley.deliver` span, a child
 * of the append that stored the event, wherever that ran. One span per event and node, never per subscriber.
 */
export function traceDelivery(event: ConversationEvent, subscribers: number, deliver: () => void): void {
  const traceparent = event.causation?.traceparent;
  if (!enabled || !traceparent) return deliver();
  const span = tracer.startSpan(
    'parley.deliver',
    { kind: SpanKind.CONSUMER, attributes: { ...eventAttributes(event), 'parley.subscribers': subscribers } },
    contextOf(traceparent),
  );
  try {
    deliver();
  } finally {
    span.end();
  }
}

/** The attributes that name an event (never its content). */
export function eventAttributes(event: ConversationEvent): Attributes {
  return { 'parley.tenant': event.tenant, 'parley.conversation.id': event.conversation, 'parley.event.type': event.type, 'parley.event.seq': event.seq };
}

/** `trace_id` and `span_id` of the active span, for a log line (a pino `mixin`: a new object each time, pino merges into it). */
export function traceLogFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
