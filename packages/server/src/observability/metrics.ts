import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus metrics, in their own registry (no global state shared with the host application). */
export class Metrics {
  readonly registry = new Registry();
  readonly connectionsOpen = new Gauge({ name: 'parley_connections_open', help: 'Open client connections', labelNames: ['transport'], registers: [this.registry] });
  readonly framesIn = new Counter({ name: 'parley_frames_in_total', help: 'Frames received from clients', labelNames: ['transport'], registers: [this.registry] });
  readonly framesOut = new Counter({ name: 'parley_frames_out_total', help: 'Frames sent to clients', labelNames: ['transport'], registers: [this.registry] });
  readonly eventsAppended = new Counter({ name: 'parley_events_appended_total', help: 'Durable events committed to the log', labelNames: ['type'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'parley_errors_total', help: 'Error replies sent, by code', labelNames: ['code'], registers: [this.registry] });
  readonly disconnects = new Counter({ name: 'parley_disconnects_total', help: 'Connections closed by the server, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly publishFailures = new Counter({ name: 'parley_publish_failures_total', help: 'Committed events whose publish to the bus failed (healed by subscribers)', registers: [this.registry] });
  readonly appendDuration = new Histogram({
    name: 'parley_append_duration_seconds',
    help: 'Time to commit one event to the store',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
  }
}
