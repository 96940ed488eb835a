import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/observability/metrics.js';

const DOCS = new URL('../../../docs/', import.meta.url);
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
// Labels Prometheus adds to every scraped series, and the bucket label of histograms.
const SCRAPE_LABELS = ['instance', 'job'];
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

interface Panel {
  type: string;
  title: string;
  datasource?: unknown;
  gridPos?: unknown;
  targets?: Array<{ expr: string; datasource?: unknown; refId: string }>;
}

const dashboard = JSON.parse(readFileSync(new URL('grafana-dashboard.json', DOCS), 'utf8')) as {
  __inputs: Array<{ name: string; pluginId: string }>;
  panels: Panel[];
  templating: { list: Array<{ datasource: unknown; query: { query: string } }> };
};
const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
const expressions = graphs.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));

/** The registry's metrics: name, type and label names. */
function registeredMetrics(): Map<string, { type: string; labels: string[] }> {
  const metrics = new Metrics().registry.getMetricsAsArray() as unknown as Array<{ name: string; type: string; labelNames: string[] }>;
  return new Map(metrics.map((metric) => [metric.name, { type: metric.type, labels: metric.labelNames }]));
}

/** The registered metric a series name belongs to (`x_bucket` belongs to the histogram `x`), or undefined. */
function metricOf(series: string, registry: ReturnType<typeof registeredMetrics>): string | undefined {
  if (registry.has(series)) return series;
  const suffix = HISTOGRAM_SUFFIXES.find((each) => series.endsWith(each));
  const base = suffix ? series.slice(0, -suffix.length) : undefined;
  return base && registry.get(base)?.type === 'histogram' ? base : undefined;
}

/** Label names an expression groups by (`by (...)`) or matches on (`{name=~"..."}`). */
function labelsUsed(expr: string): string[] {
  const grouped = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((match) => match[1]!.split(',').map((label) => label.trim()).filter(Boolean));
  const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((match) => [...match[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((label) => label[1]!));
  return [...grouped, ...matched];
}

describe('docs/grafana-dashboard.json', () => {
  const registry = registeredMetrics();
  const ownMetrics = [...registry.keys()].filter((name) => !/^parley_(process|nodejs)_/.test(name));

  it('imports cleanly: every panel and query uses the ${DS_PROMETHEUS} input, with unique titles and a position', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target.datasource, panel.title).toEqual(DATASOURCE);
    }
    expect(new Set(graphs.map((panel) => panel.title)).size).toBe(graphs.length);
    for (const variable of dashboard.templating.list) expect(variable.datasource).toEqual(DATASOURCE);
  });

  it('queries only metrics that the server registers, with labels those metrics have', () => {
    for (const { panel, expr } of [...expressions, ...dashboard.templating.list.map((variable) => ({ panel: 'variable', expr: variable.query.query }))]) {
      const series = expr.match(/\bparley_[a-z0-9_]+/g) ?? [];
      expect(series.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      const metrics = series.map((name) => {
        const metric = metricOf(name, registry);
        expect(metric, `${panel}: ${name} is not a registered metric`).toBeDefined();
        return registry.get(metric!)!;
      });
      const allowed = new Set([...SCRAPE_LABELS, ...metrics.flatMap((metric) => [...metric.labels, ...(metric.type === 'histogram' ? ['le'] : [])])]);
      for (const label of labelsUsed(expr)) expect(allowed.has(label), `${panel}: label ${label} in ${expr}`).toBe(true);
    }
  });

  it("charts every one of Parley's own metrics", () => {
    const charted = new Set(expressions.flatMap(({ expr }) => (expr.match(/\bparley_[a-z0-9_]+/g) ?? []).map((name) => metricOf(name, registry))));
    expect(ownMetrics.filter((name) => !charted.has(name))).toEqual([]);
  });

  it("is backed by docs/observability.md, which lists every one of Parley's own metrics with its labels", () => {
    const doc = readFileSync(new URL('observability.md', DOCS), 'utf8');
    for (const name of ownMetrics) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      expect(row, `${name} has no row in docs/observability.md`).toBeDefined();
      for (const label of registry.get(name)!.labels) expect(row, `${name}: label ${label}`).toContain(`\`${label}\``);
    }
  });
});
