import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { markGroup, stopLeftoverGroup } from '../../src/exec.js';

// Stopping what a build whose fanout died left running, on real processes: a group is found
// again only while its leader is the process that was marked.

const started: number[] = [];

function group(): number {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) throw new Error('sleep did not start');
  started.push(child.pid);
  return child.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('stopLeftoverGroup', () => {
  it('stops the marked group', async () => {
    const pid = group();
    const mark = markGroup(pid);
    expect(mark).toBeDefined();
    if (mark === undefined) return;
    expect(await stopLeftoverGroup(mark)).toBe(1);
    // gone, or a zombie this test has not reaped yet: nothing is left to stop
    expect(await stopLeftoverGroup(mark)).toBe(0);
  });

  it('leaves alone a group whose leader started at another time: the id was taken again', async () => {
    const pid = group();
    const mark = markGroup(pid);
    if (mark === undefined) throw new Error('no mark');
    expect(await stopLeftoverGroup({ ...mark, start: mark.start - 1 })).toBe(0);
    expect(await stopLeftoverGroup({ ...mark, boot: 'another-boot' })).toBe(0);
    expect(alive(pid)).toBe(true);
  });
});
