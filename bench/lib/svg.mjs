// A small grouped bar chart as SVG text, so results need no charting dependency: one group per
// category (a metric or a size), one bar per series (a system) in each, values labelled on the bars.
const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#64748b'];
const WIDTH = 720;
const HEIGHT = 360;
const MARGIN = { top: 48, right: 16, bottom: 64, left: 72 };

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const format = (value) => (value >= 10_000 ? `${(value / 1000).toFixed(0)}k` : value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2));

/**
 * `groups`: [{ label, bars: [{ series, value }] }]; a null value draws no bar (not measured).
 * Returns the SVG document.
 */
export function barChart({ title, unit, groups }) {
  const series = [...new Set(groups.flatMap((group) => group.bars.map((bar) => bar.series)))];
  const max = Math.max(1e-9, ...groups.flatMap((group) => group.bars.map((bar) => bar.value ?? 0))) * 1.15;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupWidth = plotWidth / Math.max(1, groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, series.length);
  const y = (value) => MARGIN.top + plotHeight - (value / max) * plotHeight;
  const parts = [`<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escape(title)}</text>`];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (max / 4) * tick;
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y(value) + 4}" text-anchor="end" font-size="11">${format(value)}</text>`);
  }
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escape(unit)}</text>`);
  groups.forEach((group, groupIndex) => {
    const left = MARGIN.left + groupIndex * groupWidth + groupWidth * 0.1;
    group.bars.forEach((bar) => {
      if (bar.value === null || bar.value === undefined) return;
      const x = left + series.indexOf(bar.series) * barWidth;
      const color = COLORS[series.indexOf(bar.series) % COLORS.length];
      parts.push(`<rect x="${x}" y="${y(bar.value)}" width="${barWidth - 2}" height="${y(0) - y(bar.value)}" fill="${color}"/>`);
      parts.push(`<text x="${x + barWidth / 2 - 1}" y="${y(bar.value) - 4}" text-anchor="middle" font-size="10">${format(bar.value)}</text>`);
    });
    parts.push(`<text x="${left + groupWidth * 0.4}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12">${escape(group.label)}</text>`);
  });
  series.forEach((name, index) => {
    const x = MARGIN.left + index * 130;
    parts.push(`<rect x="${x}" y="${HEIGHT - 22}" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/><text x="${x + 16}" y="${HEIGHT - 12}" font-size="12">${escape(name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
