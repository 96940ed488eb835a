import { pino, type Logger } from 'pino';
import { traceLogFields } from './tracing.js';

export type { Logger };

/**
 * Structured JSON logs on stdout, one line per entry. With `traceIds` (tracing on), a line written inside a
 * span carries its `trace_id` and `span_id`, so logs and traces can be joined.
 */
export function createLogger(level: string, traceIds = false): Logger {
  return pino({ level, base: { service: 'parley' }, timestamp: pino.stdTimeFunctions.isoTime, ...(traceIds ? { mixin: traceLogFields } : {}) });
}
