/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  readonly dashed?: boolean;
}

/** One chart panel; several panels sit side by side in one SVG. */
export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** A logarithmic y axis, for series that span orders of magnitude. */
  readonly logY?: boolean;
  /** A shaded x interval, e.g. an outage. */
  readonly shade?: { readonly from: number; readonly to: number; readonly label: string };
  /** Width in pixels. @default 520 */
  readonly width?: number;
}

const defaultPanelWidth = 520;
const panelHeight = 360;
const margin = { top: 40, right: 16, bottom: 48, left: 64 };
const legendLineHeight = 18;

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round tick steps (1, 2, 5 x 10^n) for a linear axis from 0 to `max`. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let t = 0; t < max + step; t += step) ticks.push(t);
  return ticks;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) ticks.push(10 ** p);
  return ticks;
}

function tickLabel(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(Math.round(value * 100) / 100);
}

function renderPanel(panel: Panel, offsetX: number): string {
  const panelWidth = panel.width ?? defaultPanelWidth;
  const points = panel.series.flatMap((s) => s.points);
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y).filter((y) => !panel.logY || y > 0);
  const xTicks = linearTicks(Math.max(...xs));
  const xMin = Math.min(0, ...xs);
  const xMax = xTicks.at(-1)!;
  const yTicks = panel.logY ? logTicks(Math.min(...ys), Math.max(...ys)) : linearTicks(Math.max(...ys));
  const yMin = panel.logY ? yTicks[0]! : 0;
  const yMax = yTicks.at(-1)!;
  const plotW = panelWidth - margin.left - margin.right;
  const plotH = panelHeight - margin.top - margin.bottom;
  const sx = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number): number => {
    const f = panel.logY
      ? (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
      : (y - yMin) / (yMax - yMin);
    return margin.top + plotH - f * plotH;
  };
  const out: string[] = [`<g transform="translate(${offsetX},0)">`];
  out.push(
    `<text x="${panelWidth / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  if (panel.shade !== undefined) {
    const x1 = sx(panel.shade.from);
    const x2 = sx(panel.shade.to);
    out.push(
      `<rect x="${x1.toFixed(1)}" y="${margin.top}" width="${(x2 - x1).toFixed(1)}" height="${plotH}" fill="#f4cccc" opacity="0.6"/>`,
      `<text x="${((x1 + x2) / 2).toFixed(1)}" y="${margin.top + 14}" text-anchor="middle" font-size="11" fill="#900">${escapeXml(panel.shade.label)}</text>`,
    );
  }
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y}" dy="4" text-anchor="end" font-size="11">${tickLabel(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    out.push(
      `<line x1="${x}" x2="${x}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 4}" stroke="#333"/>`,
      `<text x="${x}" y="${margin.top + plotH + 17}" text-anchor="middle" font-size="11">${tickLabel(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${panelHeight - 10}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`,
    `<text transform="translate(16,${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(panel.yLabel)}</text>`,
  );
  for (const s of panel.series) {
    const path = s.points
      .filter(([, y]) => !panel.logY || y > 0)
      .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    out.push(
      `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
  }
  panel.series.forEach((s, i) => {
    const y = panelHeight + 8 + i * legendLineHeight;
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + 24}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${margin.left + 30}" y="${y}" dy="4" font-size="12">${escapeXml(s.name)}</text>`,
    );
  });
  out.push('</g>');
  return out.join('\n');
}

/** A self-contained SVG with the panels side by side and a caption under them. */
export function svgChart(panels: readonly Panel[], caption: string): string {
  const legendRows = Math.max(...panels.map((p) => p.series.length));
  const height = panelHeight + 16 + legendRows * legendLineHeight + 28;
  const offsets = panels.map((_, i) =>
    panels.slice(0, i).reduce((sum, panel) => sum + (panel.width ?? defaultPanelWidth), 0),
  );
  const width = panels.reduce((sum, panel) => sum + (panel.width ?? defaultPanelWidth), 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels.map((panel, i) => renderPanel(panel, offsets[i]!)),
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
