import { describe, expect, it } from 'vitest';
import { deployOverheads, runningBetween } from '../../../../bench/lab/overhead.js';

// A fanout log written by hand: what the overhead of a deploy's targets, and how full its slots
// were, is read from.

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const line = (record: Record<string, unknown>): string => JSON.stringify({ level: 30, pid: 100, ...record });

/** A target's slot from `begun` for `took` ms, holding one rsync that started `gap` ms in and lived `lived` ms. */
function target(name: string, begun: number, took: number, gap: number, lived: number): string[] {
  return [
    line({ time: at(begun + gap + lived), msg: 'rsync', target: name, pass: 'send', dryRun: false, startedAt: T0 + begun + gap, lifetimeMs: lived }),
    line({ time: at(begun + took), msg: 'target done', target: name, tookMs: took }),
  ];
}

describe('deployOverheads', () => {
  it('per deploy: the median time a target spends around its rsyncs, and how many ran at once', () => {
    const log = [
      line({ time: at(0), msg: 'deploy started', deployId: 7, concurrency: 2, dryRun: false }),
      // a preflight dry run: not a transfer
      line({ time: at(5), msg: 'rsync', target: 'web1', pass: 'full', dryRun: true, startedAt: T0, lifetimeMs: 5 }),
      ...target('web1', 10, 110, 5, 100),
      ...target('web2', 10, 120, 10, 100),
      ...target('web3', 120, 110, 5, 100),
      // another fanout writing the same log meanwhile
      line({ time: at(50), pid: 200, msg: 'rsync', target: 'web1', pass: 'send', dryRun: false, startedAt: T0 + 50, lifetimeMs: 1000 }),
      line({ time: at(231), msg: 'transfers done', targets: 3, durationMs: 220, eventLoopBusy: 0.25 }),
      line({ time: at(240), msg: 'deploy finished', deployId: 7 }),
      // a deploy that never finished (killed): left out
      line({ time: at(300), msg: 'deploy started', deployId: 8, concurrency: 2 }),
      ...target('web1', 310, 110, 5, 100),
    ].join('\n');
    const [deploy, ...others] = deployOverheads(log);
    expect(others).toEqual([]);
    expect(deploy).toMatchObject({ deployId: 7, concurrency: 2, targets: 3, overheadMs: 10, rsyncMs: 100, slots: 2, eventLoopBusy: 0.25 });
    expect(deploy?.overheadShare).toBeCloseTo(0.1);
    // rsyncs from 15 to 225: 300 ms of them in 210 ms
    expect(deploy?.transferMs).toBe(210);
    expect(deploy?.meanRunning).toBeCloseTo(300 / 210);
    // until web3's slot began (120): web1 15-115 and web2 20-120 in 105 ms
    expect(deploy?.meanRunningWhileQueued).toBeCloseTo(200 / 105);
  });

  it('a deploy with nothing transferred is no sample', () => {
    const log = [line({ time: at(0), msg: 'deploy started', deployId: 1, concurrency: 8 }), line({ time: at(1), msg: 'target done', target: 'web1', tookMs: 0 }), line({ time: at(2), msg: 'deploy finished' })].join('\n');
    expect(deployOverheads(log)).toEqual([]);
  });
});

describe('runningBetween', () => {
  it('counts only the part of each rsync inside the window', () => {
    expect(runningBetween([{ start: 0, lifetime: 10 }, { start: 5, lifetime: 10 }], 5, 10)).toBe(2);
    expect(runningBetween([{ start: 0, lifetime: 10 }], 10, 20)).toBe(0);
  });
});
