import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one line per entry. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'parley' }, timestamp: pino.stdTimeFunctions.isoTime });
}
