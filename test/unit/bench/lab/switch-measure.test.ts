import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { descendants, sampleTree } from '../../../../bench/lab/switch-measure.js';

// The process tree the switch benchmark watches, read from /proc: a real child, no mock.

describe('sampleTree: what a process holds, from /proc', () => {
  it('counts the processes below it, its descriptors and its memory', async () => {
    // a shell whose child sleeps: two processes below this one, neither of them rsync
    const child = execa('sh', ['-c', 'sleep 30 & wait'], { reject: false, detached: true });
    try {
      const pid = process.pid;
      const deadline = Date.now() + 10_000;
      while (descendants(pid).length < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      const sample = sampleTree(pid, true);
      expect(sample.processes).toBeGreaterThanOrEqual(2);
      expect(sample.rsyncs).toBe(0);
      expect(sample.fds).toBeGreaterThan(3);
      expect(sample.rssMb).toBeGreaterThan(sample.pssMb / 2);
      expect(sample.pssMb).toBeGreaterThan(0);
      expect(sampleTree(pid).pssMb).toBe(0);
    } finally {
      // the shell and its sleep, by the group the shell leads
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      await child;
    }
  });

  it('a process that is gone holds nothing', () => {
    expect(sampleTree(2 ** 22 + 7)).toEqual({ processes: 0, rsyncs: 0, fds: 0, rssMb: 0, pssMb: 0 });
  });
});
