/**
 * A line chart as a standalone SVG, log-log, with a min-max bar at every point. Hand-written
 * because the charting libraries on npm either need a canvas (chart.js) or bring a whole
 * visualisation grammar (vega) for two charts of five lines; pure, so it is unit-tested.
 */

export interface Point {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

export interface Series {
  name: string;
  points: Point[];
  dashed?: boolean;
  /** share a colour with another series (a cold-cache line beside its warm one); its index by default */
  colourIndex?: number;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** where to put x ticks; the distinct x values of the data when omitted */
  xTicks?: number[];
  xTickLabel?: (x: number) => string;
  yTickLabel?: (y: number) => string;
}

// distinguishable in colour and for colour-blind readers (Okabe-Ito)
const COLOURS = ['#000000', '#e69f00', '#56b4e9', '#009e73', '#d55e00', '#0072b2', '#cc79a7', '#f0e442'];

const WIDTH = 820;
const HEIGHT = 460;
const PAD = { left: 86, right: 310, top: 44, bottom: 58 };

export function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** 1, 2, 5 times each power of ten that falls within [lo, hi]; finer steps when that gives too few to read. */
export function logTicks(lo: number, hi: number, steps: number[] = [1, 2, 5]): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
    for (const m of steps) {
      const t = m * 10 ** e;
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(Number(t.toPrecision(6)));
    }
  }
  return ticks.length < 4 && steps.length === 3 ? logTicks(lo, hi, [1, 1.5, 2, 3, 4, 5, 6, 8]) : ticks;
}

function plainNumber(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : `${n}`;
}

function seconds(s: number): string {
  return s >= 1 ? `${s} s` : `${Math.round(s * 1000)} ms`;
}

export function lineChart(chart: Chart): string {
  const points = chart.series.flatMap((s) => s.points).filter((p) => p.y > 0 && p.x > 0);
  const xs = chart.xTicks ?? [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const ys = points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]).filter((v) => v > 0);
  const xMin = Math.min(...xs, ...points.map((p) => p.x));
  const xMax = Math.max(...xs, ...points.map((p) => p.x));
  // pad the y range a little so no line lies on the frame
  const yMin = ys.length === 0 ? 0.1 : Math.min(...ys) / 1.3;
  const yMax = ys.length === 0 ? 1 : Math.max(...ys) * 1.3;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const logSpan = (a: number, b: number): number => (b > a ? Math.log10(b) - Math.log10(a) : 1);
  const sx = (x: number): number => PAD.left + (xMax > xMin ? ((Math.log10(x) - Math.log10(xMin)) / logSpan(xMin, xMax)) * plotW : plotW / 2);
  const sy = (y: number): number => PAD.top + plotH - ((Math.log10(y) - Math.log10(yMin)) / logSpan(yMin, yMax)) * plotH;
  const f = (n: number): string => n.toFixed(1);
  const xLabel = chart.xTickLabel ?? plainNumber;
  const yLabel = chart.yTickLabel ?? seconds;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PAD.left}" y="26" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888888"/>`,
  ];
  for (const t of logTicks(yMin, yMax)) {
    out.push(`<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${escapeXml(yLabel(t))}</text>`);
  }
  for (const t of xs) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${f(sx(t))}" y="${PAD.top + plotH + 18}" text-anchor="middle">${escapeXml(xLabel(t))}</text>`);
  }
  out.push(`<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`);

  chart.series.forEach((s, i) => {
    const colour = COLOURS[(s.colourIndex ?? i) % COLOURS.length] ?? '#000000';
    const valid = s.points.filter((p) => p.x > 0 && p.y > 0).sort((a, b) => a.x - b.x);
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    if (valid.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${valid.map((p) => `${f(sx(p.x))},${f(sy(p.y))}`).join(' ')}"/>`);
    for (const p of valid) {
      if (p.lo !== undefined && p.hi !== undefined && p.lo > 0) out.push(`<line x1="${f(sx(p.x))}" x2="${f(sx(p.x))}" y1="${f(sy(p.lo))}" y2="${f(sy(p.hi))}" stroke="${colour}" stroke-width="1.5"/>`);
      out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="3.5" fill="${colour}"/>`);
    }
    const ly = PAD.top + 10 + i * 22;
    const lx = PAD.left + plotW + 16;
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<circle cx="${lx + 13}" cy="${ly}" r="3.5" fill="${colour}"/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push(`<text x="${PAD.left + plotW + 16}" y="${HEIGHT - 14}" font-size="11" fill="#555555">dot: median; bar: min-max; log-log</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
