import { describe, expect, it } from 'vitest';
import { lastDeploy, occupancyOf } from '../../../../bench/lab/deploy-log.js';

const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const line = (ms: number, fields: Record<string, unknown>): string => JSON.stringify({ level: 30, time: at(ms), pid: 7, ...fields });

describe("a deploy's targets, from fanout's log", () => {
  it('takes the last deploy that both started and finished, with its targets and slots staged', () => {
    const lines = [
      line(0, { msg: 'deploy started', deployId: 1 }),
      line(50, { msg: 'target done', target: 'old', durationMs: 40 }),
      line(60, { msg: 'deploy finished', deployId: 1 }),
      line(1000, { msg: 'deploy started', deployId: 2 }),
      line(1200, { msg: 'target done', target: 'web1', durationMs: 150 }),
      'not json',
      line(1300, { msg: 'slot staged', target: 'web2', durationMs: 100 }),
      line(1350, { msg: 'deploy finished', deployId: 2 }),
      line(2000, { msg: 'deploy started', deployId: 3 }),
      line(2100, { msg: 'target done', target: 'web1', durationMs: 90 }),
    ];
    expect(lastDeploy(lines)).toEqual({
      deployId: 2,
      startedMs: Date.parse(at(1000)),
      finishedMs: Date.parse(at(1350)),
      targets: [
        { target: 'web1', endMs: Date.parse(at(1200)), durationMs: 150 },
        { target: 'web2', endMs: Date.parse(at(1300)), durationMs: 100 },
      ],
    });
    expect(lastDeploy([line(0, { msg: 'deploy started', deployId: 1 })])).toBeUndefined();
  });

  it('counts slots busy with rsync over the transfer span, and what each target cost a slot besides', () => {
    // two slots, four targets of 100 ms rsync each, 20 ms between one target's end and the next's rsync
    const targets = [
      { target: 'a', endMs: 100, durationMs: 100 },
      { target: 'b', endMs: 100, durationMs: 100 },
      { target: 'c', endMs: 220, durationMs: 100 },
      { target: 'd', endMs: 220, durationMs: 100 },
    ];
    const o = occupancyOf({ deployId: 1, startedMs: -300, finishedMs: 250, targets }, 2);
    expect(o?.transferMs).toBe(220);
    expect(o?.outsideMs).toBe(550 - 220);
    expect(o?.occupancy).toBeCloseTo(400 / 440);
    expect(o?.overheadMs).toBeCloseTo(40 / 4);
    expect(o?.rsyncMedianMs).toBe(100);
    // fewer targets than the concurrency: only as many slots as targets are counted
    expect(occupancyOf({ deployId: 1, startedMs: 0, finishedMs: 100, targets: targets.slice(0, 1) }, 8)?.occupancy).toBeCloseTo(1);
    expect(occupancyOf({ deployId: 1, startedMs: 0, finishedMs: 1, targets: [] }, 8)).toBeUndefined();
  });
});
