import { describe, expect, it } from 'vitest';
import { spread } from '../../../bench/lab/stats.js';
import { switchMarkdown } from '../../../bench/switch.js';

describe('switchMarkdown: the switch at scale in the report', () => {
  it('a row per target count: the skews, the rollback to its last switch, the peaks of deploy and rollbacks together', () => {
    const peak = (processes: number, fds: number) => ({ processes, rsyncs: processes - 1, fds, rssMb: 900, pssMb: 120 });
    const rows = switchMarkdown([{ targets: 1000, deploy: { ms: 90_000, skewMs: 4200, peak: peak(137, 450) }, rollback: { command: spread([30_000]), lastSwitch: spread([29_000, 31_000]), skew: spread([5000, 6000]), peak: peak(129, 440) } }]);
    expect(rows[0]).toBe('## The switch at scale: layout: slots, daemon targets, a small site');
    expect(rows).toContain('| 1000 | 4200 ms | 30.00 s (29.00 s-31.00 s) | 5500 ms (5000-6000) | 30.00 s | 137 (136) | 450 | 900 MB (120 MB) |');
    expect(switchMarkdown([])).toEqual([]);
  });
});
