import { randomUUID } from 'node:crypto';
import { context, diag, DiagLogLevel, ROOT_CONTEXT, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Logger } from './logger.js';
import { enableTracing } from './tracing.js';

/** A started tracing pipeline. */
export interface TracingPipeline {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK: spans are batched and exported over OTLP/HTTP (JSON). The standard
 * variables configure it: OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and _HEADERS,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* (batching), OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which
 * win over the defaults here (service `parley`, its version and the node's role).
 */
export function startTracing(options: { serviceVersion: string; role: string; logger: Logger }): TracingPipeline {
  // Export failures and SDK warnings go to the node's log rather than nowhere.
  diag.setLogger(diagToLogger(options.logger), DiagLogLevel.WARN);
  const defaults = resourceFromAttributes({
    'service.name': 'parley',
    'service.version': options.serviceVersion,
    'service.instance.id': randomUUID(),
    'parley.role': options.role,
  });
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(defaults).merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // The AsyncLocalStorage context manager (spans follow async work) and the W3C propagators.
  provider.register();
  enableTracing();
  return {
    shutdown: async () => {
      await provider.shutdown();
    },
  };
}

function diagToLogger(logger: Logger): DiagLogger {
  // Outside any span: an export runs in the context of whichever span ended last, whose ids would mislead.
  const write = (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') => (message: string, ...args: unknown[]) =>
    context.with(ROOT_CONTEXT, () => logger[level]({ component: 'opentelemetry', ...(args.length > 0 ? { details: args.map(String) } : {}) }, message));
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug'), verbose: write('trace') };
}
