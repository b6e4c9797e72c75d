import { describe, expect, it } from 'vitest';
import { escapeXml, lineChart, logTicks } from '../../../../bench/lab/chart.js';

describe('bench chart', () => {
  it('log ticks are 1, 2 and 5 times each power of ten within the range', () => {
    expect(logTicks(0.15, 6)).toEqual([0.2, 0.5, 1, 2, 5]);
    expect(logTicks(1000, 100000)).toEqual([1000, 2000, 5000, 10000, 20000, 50000, 100000]);
  });

  it('escapes what XML would read as markup', () => {
    expect(escapeXml('a < b & "c" > d')).toBe('a &lt; b &amp; &quot;c&quot; &gt; d');
  });

  it('draws one line, one legend entry and a min-max bar per point for each series', () => {
    const svg = lineChart({
      title: 'push <time>',
      xLabel: 'files',
      yLabel: 'seconds',
      series: [
        { name: 'fanout', points: [{ x: 10_000, y: 0.6, lo: 0.5, hi: 0.7 }, { x: 100_000, y: 0.65, lo: 0.55, hi: 0.8 }] },
        { name: 'classic', points: [{ x: 10_000, y: 0.8 }, { x: 100_000, y: 4 }], dashed: true },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('push &lt;time&gt;');
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(2); // the dashed line and its legend swatch
    expect(svg).toContain('>10k<');
    expect(svg).toContain('>100k<');
    expect(svg).toContain('>fanout<');
    expect(svg).not.toContain('NaN');
  });

  it('places a larger value higher and a larger x further right', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [{ x: 1, y: 0.1 }, { x: 8, y: 10 }] }] });
    const [first, second] = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(second?.[0]).toBeGreaterThan(first?.[0] ?? Infinity);
    expect(second?.[1]).toBeLessThan(first?.[1] ?? -Infinity);
  });

  it('a single x value or a series without points still gives a valid chart', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'one', points: [{ x: 1000, y: 0.3 }] }, { name: 'none', points: [] }] });
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('Infinity');
  });
});
