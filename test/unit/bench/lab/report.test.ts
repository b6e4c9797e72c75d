import { describe, expect, it } from 'vitest';
import { markdown, targets, type PushRow, type Results } from '../../../../bench/lab/report.js';
import { pairedRatio, spread } from '../../../../bench/lab/stats.js';
import type { WatchRow } from '../../../../bench/watch.js';

function push(files: number, approach: PushRow['approach'], samples: number[], fanout: number[], cache: PushRow['cache'] = 'warm', changed = 1): PushRow {
  return { files, changed, approach, cache, time: spread(samples), samples, ratioToFanout: pairedRatio(samples, fanout) };
}

function watch(approach: string, p50: number, runs: number): WatchRow {
  return { approach, files: 10_000, latencyP50Ms: p50, latencyP95Ms: p50, burstFiles: 10_000, burstMs: 8000, rsyncRuns: runs, runsSettled: true, peakRssMb: 100, completed: true, note: '' };
}

function results(extra: Partial<Results> = {}): Results {
  const fanout = [600, 700, 650];
  return {
    date: '2026-11-24T00:00:00.000Z',
    machine: '2 cores',
    command: 'npm run bench',
    coldCache: false,
    push: [push(100_000, 'fanout', fanout, fanout), push(100_000, 'hook', [100, 120, 110], fanout), push(100_000, 'classic', [4000, 4100, 3900], fanout), push(100_000, 'floor', [200, 210, 190], fanout)],
    memory: [{ files: 100_000, what: 'git push of 1 changed file', ms: 650, peakMb: 90 }],
    walks: [],
    scale: [],
    daemons: [],
    watch: [watch('fanout watch', 100, 12), watch('lsyncd (delay = 0)', 140, 275)],
    burstLimitMs: 120_000,
    scenarios: [{ name: 'push, 100000 files', status: 'done', note: '' }],
    ...extra,
  };
}

describe('bench report', () => {
  it('has one title and one header per table, whatever it holds', () => {
    const md = markdown(results());
    expect(md.match(/^# fanout benchmark$/gm)).toHaveLength(1);
    expect(md.match(/^\| files \| changed \| approach/gm)).toHaveLength(1);
    expect(md.match(/^## Targets met\?$/gm)).toHaveLength(1);
  });

  it('says warm only when caches could not be dropped, and cold when they were', () => {
    expect(markdown(results())).toContain('warm only: cannot drop caches');
    const fanout = [900, 1000, 950];
    const cold = results({ coldCache: true, push: [...results().push, push(100_000, 'fanout', fanout, fanout, 'cold')] });
    expect(markdown(cold)).toContain('## One-file push to 3 targets, cold page cache');
  });

  it('judges each target from the numbers, pair by pair', () => {
    const t = targets(results());
    expect(t.map((x) => x.met).slice(0, 5)).toEqual(['met', 'not met', 'met', 'met', 'not measured']);
    // the 1,000-file pushes and the atomic-releases targets follow, not measured without them
    expect(t.slice(5).map((x) => x.met)).toEqual(Array(8).fill('not measured'));
    expect(t[0]?.measured).toMatch(/^6\.\dx faster/);
    expect(t[4]?.measured).toContain('not run at 1,000,000 files');
  });

  it('memory at a million files is met below 150 MB and not met above', () => {
    const row = { files: 1_000_000, what: 'fanout sync --full', ms: 1, peakMb: 149 };
    expect(targets(results({ memory: [row] }))[4]?.met).toBe('met');
    expect(targets(results({ memory: [row, { ...row, what: 'first deploy', peakMb: 151 }] }))[4]).toMatchObject({ met: 'not met', measured: expect.stringContaining('first deploy') as unknown });
  });

  it('judges the atomic-releases targets: mixed reads, the window at 8 and 32 targets, time ratios, the rollback', () => {
    const spread = (median: number) => ({ median, min: median, max: median, n: 3 });
    const row = (layout: 'in-place' | 'slots', targets: number, mixed: number, windowMs: number) => ({ layout, targets, changed: 4000, samples: 1000, mixed, windowMs, skewMs: layout === 'slots' ? windowMs : undefined });
    const slots = {
      consistency: [row('in-place', 8, 40, 400), row('slots', 8, 0, 60), row('in-place', 32, 90, 900), row('slots', 32, 0, 250)],
      time: [
        { changed: 1, inPlace: spread(100), slots: spread(110), ratio: 1.1 },
        { changed: 1000, inPlace: spread(1000), slots: spread(800), ratio: 0.8 },
      ],
      rollback: { targets: 8, command: spread(400), lastSwitch: spread(280) },
    };
    const t = targets(results({ slots })).slice(7);
    expect(t.map((x) => x.met)).toEqual(['met', 'met', 'not met', 'met', 'met', 'met']);
    expect(t[0]?.measured).toBe('0 mixed in 2000 reads on 8/32 targets (in-place: 40 of 1000, 90 of 1000)');
    expect(markdown(results({ slots }))).toContain('| 32 | slots | 1000 | 0 | 250 ms | 250 ms |');
  });

  it("judges a 1,000-file push against the floor, and says what it is made of: git's transfer, the deploy, rsync's own arguments", () => {
    const fanout = [1300, 1250, 1400];
    const thousand = (files: number, approach: PushRow['approach'], samples: number[]) => push(files, approach, samples, fanout, 'warm', 1000);
    const rows = [thousand(10_000, 'fanout', fanout), thousand(10_000, 'gitAlone', [300, 310, 320]), thousand(10_000, 'hook', [900, 880, 950]), thousand(10_000, 'floor', [1000, 1000, 1000]), thousand(10_000, 'floorFanoutArgs', [1100, 1100, 1100])];
    const [ten, hundred] = targets(results({ push: [...results().push, ...rows] })).slice(5, 7);
    expect(ten).toEqual({
      target: '1,000-file push on 10,000 files: within 1.3x of the floor',
      measured: "the push 1.30x the floor (1.300s against 1.000s), of which git's own transfer 0.310s; the deploy alone 0.90x; rsync itself with fanout's arguments 1.10x, and with them but for --delay-updates ?",
      met: 'met',
    });
    expect(hundred?.met).toBe('not measured');
    const slower = targets(results({ push: [...results().push, ...rows.map((r) => (r.approach === 'fanout' ? thousand(10_000, 'fanout', [1310, 1310, 1310]) : r))] }))[5];
    expect(slower?.met).toBe('not met');
  });

  it('a peer that was skipped is not measured, not failed', () => {
    const skipped: WatchRow = { ...watch('lsyncd (delay = 0)', 0, 0), latencyP50Ms: undefined, completed: false, note: 'skipped: lsyncd is not installed' };
    const t = targets(results({ watch: [watch('fanout watch', 100, 12), skipped] }));
    expect(t[2]).toEqual({ target: 'watch p50 below lsyncd at delay = 0', measured: 'skipped: lsyncd is not installed', met: 'not measured' });
  });
});
