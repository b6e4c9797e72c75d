import { describe, expect, it } from 'vitest';
import { advance, farmProgress, IDLE, phaseEvent, phaseLine, progressEvent, progressLine, remaining, type Amount, type Progress, type ProgressEvent } from '../../../src/engine/progress.js';

/** The progress after these events, each at its time (ms). */
function after(...timed: [number, ProgressEvent][]): Progress {
  return timed.reduce((p, [at, event]) => advance(p, event, at), IDLE);
}

const totals = (entries: [string, Amount | undefined][]): ProgressEvent => ({ kind: 'totals', totals: new Map(entries) });
const sent = (target: string, files: number, bytes: number): ProgressEvent => ({ kind: 'sent', target, sent: { files, bytes } });
const transfer: ProgressEvent = { kind: 'phase', name: 'transfer', targets: ['web1', 'web2'] };
const TWO: ProgressEvent = totals([
  ['web1', { files: 1000, bytes: 4_000_000 }],
  ['web2', { files: 1000, bytes: 4_000_000 }],
]);

describe('advance', () => {
  it('a phase starts its targets afresh, each left with nothing sent', () => {
    const p = after([0, TWO], [100, transfer]);
    expect(p.phase).toEqual({ name: 'transfer', detail: undefined, since: 100 });
    expect(p.targets).toEqual([
      { name: 'web1', sent: { files: 0, bytes: 0 }, state: 'left' },
      { name: 'web2', sent: { files: 0, bytes: 0 }, state: 'left' },
    ]);
  });

  it('keeps the totals from phase to phase, until the deploy is over', () => {
    const p = after([0, TWO], [1, transfer], [2, { kind: 'phase', name: 'switch' }], [3, { kind: 'phase', name: 'canary', targets: ['web1'] }]);
    expect(p.totals.get('web1')).toEqual({ files: 1000, bytes: 4_000_000 });
    expect(after([0, TWO], [1, transfer], [2, { kind: 'idle' }])).toEqual(IDLE);
  });

  it('takes what a target sent while it is left, and ignores targets the phase does not write', () => {
    const p = after([0, transfer], [1, sent('web1', 3, 300)], [2, sent('web3', 9, 900)]);
    expect(p.targets.map((t) => t.sent)).toEqual([
      { files: 3, bytes: 300 },
      { files: 0, bytes: 0 },
    ]);
  });

  it('a finished target keeps what it sent: a late count does not move it', () => {
    const p = after([0, transfer], [1, sent('web1', 3, 300)], [2, { kind: 'finished', target: 'web1', ok: false }], [3, sent('web1', 5, 500)]);
    expect(p.targets[0]).toEqual({ name: 'web1', sent: { files: 3, bytes: 300 }, state: 'failed' });
  });
});

describe('farmProgress', () => {
  it('sums the targets: done of the total, counted by bytes', () => {
    const farm = farmProgress(after([0, TWO], [0, transfer], [1000, sent('web1', 500, 1_000_000)], [1000, sent('web2', 100, 1_000_000)]), 4000);
    expect(farm).toMatchObject({ phase: 'transfer', elapsedMs: 4000, targets: 2, ok: 0, failed: 0, left: 2, done: { files: 600, bytes: 2_000_000 }, total: { files: 2000, bytes: 8_000_000 }, fraction: 0.25 });
    // a quarter in 4 s: three quarters in 12 s more
    expect(farm?.remainingMs).toBe(12_000);
  });

  it('counts a finished target as all it had to send, whether it sent all of it or failed', () => {
    const farm = farmProgress(after([0, TWO], [0, transfer], [1, sent('web1', 10, 40_000)], [2, { kind: 'finished', target: 'web1', ok: true }], [3, { kind: 'finished', target: 'web2', ok: false }]), 5);
    expect(farm).toMatchObject({ ok: 1, failed: 1, left: 0, done: { files: 2000, bytes: 8_000_000 }, fraction: 1, remainingMs: undefined });
  });

  it('never counts more than a target had to send (a retry sends again)', () => {
    const farm = farmProgress(after([0, TWO], [0, transfer], [1, sent('web1', 1500, 9_000_000)]), 10);
    expect(farm?.done).toEqual({ files: 1000, bytes: 4_000_000 });
  });

  it('has no total, fraction or estimate when a target has a full pass', () => {
    const p = after([0, totals([['web1', { files: 10, bytes: 100 }], ['web2', undefined]])], [0, transfer], [1, sent('web1', 5, 50)], [1, sent('web2', 700, 7000)]);
    expect(farmProgress(p, 60_000)).toMatchObject({ done: { files: 705, bytes: 7050 }, total: undefined, fraction: undefined, remainingMs: undefined });
  });

  it('treats a target the totals do not name as unknown', () => {
    expect(farmProgress(after([0, transfer]), 1)?.total).toBeUndefined();
  });

  it('counts by files when nothing sent has a size (symlinks, empty files)', () => {
    const p = after([0, totals([['web1', { files: 4, bytes: 0 }]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }], [1, sent('web1', 1, 0)]);
    expect(farmProgress(p, 1)?.fraction).toBe(0.25);
  });

  it('has no fraction when there is nothing to send (removals only)', () => {
    const p = after([0, totals([['web1', { files: 0, bytes: 0 }]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }]);
    expect(farmProgress(p, 1)).toMatchObject({ total: { files: 0, bytes: 0 }, fraction: undefined });
  });

  it('is undefined between deploys', () => {
    expect(farmProgress(IDLE, 0)).toBeUndefined();
  });
});

describe('remaining', () => {
  it('waits for 5% of the work and 2 s', () => {
    expect(remaining(0.04, 10_000)).toBeUndefined();
    expect(remaining(0.5, 1999)).toBeUndefined();
    expect(remaining(0.05, 2000)).toBe(38_000);
  });

  it('has nothing to say once all is done, or without a fraction', () => {
    expect(remaining(1, 10_000)).toBeUndefined();
    expect(remaining(undefined, 10_000)).toBeUndefined();
  });
});

describe('progressLine', () => {
  it('reads like scap: the percentage, the targets, files and bytes of the total, the time and the estimate', () => {
    const p = after([0, TWO], [0, { kind: 'phase', name: 'staging', targets: ['web1', 'web2'] }], [1, sent('web2', 812, 3_200_000)], [2, { kind: 'finished', target: 'web1', ok: true }]);
    expect(progressLine(p, 5100)).toBe('staging: 90% (ok 1, failed 0, left 1; 1812/2000 files, 7.2 MB/8.0 MB; 5.1s, about 1s left)');
  });

  it('gives no estimate before there is enough to judge the pace by', () => {
    const p = after([0, TWO], [0, transfer], [1, sent('web1', 10, 40_000)]);
    expect(progressLine(p, 1500)).toBe('transfer: 0% (ok 0, failed 0, left 2; 10/2000 files, 40 kB/8.0 MB; 1.5s)');
    expect(progressLine(p, 30_000)).toBe('transfer: 0% (ok 0, failed 0, left 2; 10/2000 files, 40 kB/8.0 MB; 30.0s)');
  });

  it('rounds a long estimate to minutes and seconds', () => {
    const p = after([0, TWO], [0, transfer], [1, sent('web1', 100, 400_000)]);
    expect(progressLine(p, 20_000)).toBe('transfer: 5% (ok 0, failed 0, left 2; 100/2000 files, 400 kB/8.0 MB; 20.0s, about 6m20s left)');
  });

  it('without a total (a full pass), what is sent so far and no percentage', () => {
    const p = after([0, totals([['web1', undefined]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }], [1, sent('web1', 812, 3_200_000)]);
    expect(progressLine(p, 4000)).toBe('transfer: ok 0, failed 0, left 1; 812 files, 3.2 MB sent so far; 4.0s');
  });

  it('with nothing to send, the targets and the time', () => {
    const p = after([0, totals([['web1', { files: 0, bytes: 0 }]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }]);
    expect(progressLine(p, 1200)).toBe('transfer: ok 0, failed 0, left 1; 1.2s');
  });

  it('leaves out bytes when the files have none', () => {
    const p = after([0, totals([['web1', { files: 4, bytes: 0 }]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }], [1, sent('web1', 2, 0)]);
    expect(progressLine(p, 1000)).toBe('transfer: 50% (ok 0, failed 0, left 1; 2/4 files; 1.0s)');
  });

  it('a phase that writes no target: what it does, and for how long', () => {
    expect(progressLine(after([0, { kind: 'phase', name: 'checkout', detail: '1a2b3c4d5e, 42 paths' }]), 55_000)).toBe('checkout: 1a2b3c4d5e, 42 paths; 55.0s');
    expect(progressLine(after([0, { kind: 'phase', name: 'switch' }]), 300)).toBe('switch: 0.30s');
  });

  it('says nothing between deploys', () => {
    expect(progressLine(IDLE, 0)).toBeUndefined();
  });

  it('within a terminal\'s width, loses the time taken, then the count of files, and keeps the estimate', () => {
    const p = after([0, TWO], [0, transfer], [1, sent('web1', 500, 2_000_000)]);
    const full = 'transfer: 25% (ok 0, failed 0, left 2; 500/2000 files, 2.0 MB/8.0 MB; 4.0s, about 12s left)';
    expect(progressLine(p, 4000, full.length)).toBe(full);
    expect(progressLine(p, 4000, full.length - 1)).toBe('transfer: 25% (ok 0, failed 0, left 2; 500/2000 files, 2.0 MB/8.0 MB; about 12s left)');
    expect(progressLine(p, 4000, 77)).toBe('transfer: 25% (ok 0, failed 0, left 2; 2.0 MB/8.0 MB; about 12s left)');
    // narrower still: the shortest, which the terminal's line then cuts
    expect(progressLine(p, 4000, 20)).toBe('transfer: 25% (ok 0, failed 0, left 2; 2.0 MB/8.0 MB; about 12s left)');
  });

  it('keeps the time taken when there is no estimate to show instead', () => {
    const p = after([0, TWO], [0, transfer], [1, sent('web1', 10, 40_000)]);
    expect(progressLine(p, 1000, 60)).toBe('transfer: 0% (ok 0, failed 0, left 2; 40 kB/8.0 MB; 1.0s)');
  });
});

describe('phaseLine', () => {
  it('a phase that writes targets: how many, and what they are to be sent', () => {
    expect(phaseLine(after([0, TWO], [0, transfer]))).toBe('transfer: 2 targets, 2000 files (8.0 MB) to send');
    expect(phaseLine(after([0, totals([['web1', { files: 1, bytes: 5 }]])], [0, { kind: 'phase', name: 'canary', detail: 'web1', targets: ['web1'] }]))).toBe('canary: web1, 1 target, 1 file (5 B) to send');
  });

  it('says when there is nothing to send, or when it is found only as the pass goes', () => {
    expect(phaseLine(after([0, totals([['web1', { files: 0, bytes: 0 }]])], [0, { kind: 'phase', name: 'transfer', targets: ['web1'] }]))).toBe('transfer: 1 target, no file to send');
    expect(phaseLine(after([0, totals([['web1', undefined]])], [0, transfer]))).toBe('transfer: 2 targets, a full pass (what it sends is found as it goes)');
  });

  it('a phase that writes none: its name and what it does', () => {
    expect(phaseLine(after([0, { kind: 'phase', name: 'checkout', detail: '1a2b3c4d5e, 42 paths' }]))).toBe('checkout: 1a2b3c4d5e, 42 paths');
    expect(phaseLine(after([0, { kind: 'phase', name: 'switch' }]))).toBe('switch');
    expect(phaseLine(IDLE)).toBeUndefined();
  });
});

describe('the --json events', () => {
  it('a phase: its name, what it does and each target with its total', () => {
    const event = phaseEvent(after([0, TWO], [0, { ...transfer, detail: 'in place' }]), Date.UTC(2026, 0, 1));
    expect(JSON.parse(JSON.stringify(event))).toEqual({
      event: 'phase',
      at: '2026-01-01T00:00:00.000Z',
      phase: 'transfer',
      detail: 'in place',
      targets: [
        { name: 'web1', total: { files: 1000, bytes: 4_000_000 } },
        { name: 'web2', total: { files: 1000, bytes: 4_000_000 } },
      ],
    });
  });

  it('progress: the numbers of the line, and each target; what is not known is left out', () => {
    const p = after([0, TWO], [0, transfer], [1, sent('web1', 500, 2_000_000)]);
    const event = JSON.parse(JSON.stringify(progressEvent(p, 4000))) as Record<string, unknown>;
    expect(event).toMatchObject({ event: 'progress', phase: 'transfer', elapsedMs: 4000, ok: 0, failed: 0, left: 2, done: { files: 500, bytes: 2_000_000 }, total: { files: 2000, bytes: 8_000_000 }, percent: 25, remainingMs: 12_000 });
    expect(event.targets).toEqual([
      { name: 'web1', state: 'left', sent: { files: 500, bytes: 2_000_000 }, total: { files: 1000, bytes: 4_000_000 } },
      { name: 'web2', state: 'left', sent: { files: 0, bytes: 0 }, total: { files: 1000, bytes: 4_000_000 } },
    ]);
    const full = JSON.parse(JSON.stringify(progressEvent(after([0, transfer]), 1))) as Record<string, unknown>;
    expect(Object.keys(full)).not.toContain('total');
    expect(Object.keys(full)).not.toContain('percent');
    expect(progressEvent(IDLE, 0)).toBeUndefined();
  });
});
