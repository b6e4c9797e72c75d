import { humanDuration } from '../engine/units.js';
import type { DeployView } from './farm-view.js';
import { escapeHtml, utcTime } from './html.js';

/**
 * The chart of the last deploys' durations on the farm page: inline SVG (no script, nothing
 * fetched), a bar a deploy, oldest on the left, coloured by outcome, each with a <title> a browser
 * shows on hover; its axis labels are text in the SVG and the same numbers stand in the caption,
 * for a reader whose browser shows no SVG. Refusals are no deploys: they ran nothing, and have no bar.
 */

export const OUTCOME_COLOURS: Readonly<Record<DeployView['outcome'], string>> = { ok: '#2e7d32', partial: '#e65100', failed: '#c62828', refused: '#757575' };

const WIDTH = 760;
const HEIGHT = 220;
const LEFT = 60;
const RIGHT = 10;
const TOP = 14;
const BOTTOM = 34;

/** `deploys` newest first, as the page lists them. */
export function durationChart(deploys: readonly DeployView[]): string {
  const bars = deploys.filter((d) => d.outcome !== 'refused').reverse();
  if (bars.length === 0) return '<p class="empty" data-chart="none">No deploy to chart yet.</p>';
  const top = axisTop(Math.max(...bars.map((d) => d.durationMs)));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / bars.length;
  const barWidth = Math.min(48, slot * 0.7);
  const rects = bars.map((d, i) => {
    const height = Math.max(1, (d.durationMs / top) * plotHeight);
    const x = LEFT + i * slot + (slot - barWidth) / 2;
    const y = TOP + plotHeight - height;
    const tip = `#${d.id} ${d.reason} by ${d.user ?? d.startedBy}, ${utcTime(d.startedAt)}: ${humanDuration(d.durationMs)}, ${d.outcome}`;
    return [
      `<g class="bar" data-deploy="${d.id}" data-outcome="${d.outcome}" data-duration-ms="${d.durationMs}">`,
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${OUTCOME_COLOURS[d.outcome]}"><title>${escapeHtml(tip)}</title></rect>`,
      `<text x="${(x + barWidth / 2).toFixed(1)}" y="${HEIGHT - BOTTOM + 16}" text-anchor="middle" class="axis">#${d.id}</text>`,
      '</g>',
    ].join('');
  });
  const grid = [0, 0.5, 1].map((f) => {
    const y = (TOP + plotHeight * (1 - f)).toFixed(1);
    return `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" class="grid"/><text x="${LEFT - 6}" y="${y}" dy="4" text-anchor="end" class="axis">${f === 0 ? '0' : humanDuration(top * f)}</text>`;
  });
  const caption = bars.map((d) => `#${d.id} ${humanDuration(d.durationMs)} (${d.outcome})`).join(', ');
  return [
    '<figure class="chart">',
    `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" data-chart="durations">`,
    '<title id="chart-title">Deploy durations, oldest on the left</title>',
    `<desc id="chart-desc">${escapeHtml(caption)}</desc>`,
    ...grid,
    ...rects,
    '</svg>',
    `<figcaption>Durations, oldest first: ${escapeHtml(caption)}. ${legend()}</figcaption>`,
    '</figure>',
  ].join('\n');
}

/** The top of the axis: the longest deploy rounded up to a round number of seconds (1 s at least). */
function axisTop(longestMs: number): number {
  const seconds = Math.max(1, longestMs / 1000);
  const step = 10 ** Math.floor(Math.log10(seconds));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((v) => v >= seconds) ?? 10 * step;
  return nice * 1000;
}

function legend(): string {
  return (['ok', 'partial', 'failed'] as const).map((o) => `<span class="swatch" style="background:${OUTCOME_COLOURS[o]}"></span> ${o}`).join(' ');
}
