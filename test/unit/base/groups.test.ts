import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/base/exec.js';
import { followRunningGroups, markGroup, stopLeftoverGroup, ticksNow, type GroupMark } from '../../../src/base/groups.js';
import { silentLogger as log } from '../../../src/base/log.js';
import { alive, detachedSleep, killStarted, leaderlessSleep, remember, statFields } from '../processes.js';

// Finding a process group again and stopping it, on real processes: a group is stopped only while
// it is the one that was marked, and only this user's processes in it.

afterEach(() => {
  followRunningGroups(undefined);
  killStarted();
});

describe('stopLeftoverGroup', () => {
  it('stops the marked group', async () => {
    const pid = detachedSleep();
    const mark = markGroup(pid);
    expect(mark).toBeDefined();
    if (mark === undefined) return;
    expect(await stopLeftoverGroup(mark)).toEqual({ stopped: 1, left: [] });
    // gone, or a zombie this test has not reaped yet: nothing is left to stop
    expect(await stopLeftoverGroup(mark)).toEqual({ stopped: 0, left: [] });
  });

  it('leaves alone a group whose leader started at another time: the id was taken again', async () => {
    const pid = detachedSleep();
    const mark = markGroup(pid);
    if (mark === undefined) throw new Error('no mark');
    expect((await stopLeftoverGroup({ ...mark, start: mark.start - 1 })).stopped).toBe(0);
    expect((await stopLeftoverGroup({ ...mark, boot: 'another-boot' })).stopped).toBe(0);
    expect(alive(pid)).toBe(true);
  });

  it('with its leader gone, stops only members that started by the tick given: later ones may be a group that took the id since', async () => {
    const { leader, member } = await leaderlessSleep();
    const memberStart = Number(statFields(member)[19]);
    const mark: GroupMark = { pgid: leader, start: memberStart - 1, boot: markGroup(member)?.boot ?? '' };
    // the marking fanout's last word came before the member started: not its group
    expect((await stopLeftoverGroup(mark, memberStart - 1)).stopped).toBe(0);
    expect(alive(member)).toBe(true);
    expect(await stopLeftoverGroup(mark, (ticksNow() ?? 0) + 100)).toEqual({ stopped: 1, left: [] });
    expect(alive(member)).toBe(false);
  });

  it('never stops the group it runs in, even when that group is the one marked', async () => {
    // a fanout (node) in a group led by sh: told to stop that very group, both must live on
    const script = path.join(os.tmpdir(), `fanout-own-group-${process.pid}.mts`);
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';\nimport { markGroup, stopLeftoverGroup } from ${JSON.stringify(path.resolve('src/base/groups.ts'))};\n` +
        `const text = fs.readFileSync('/proc/self/stat', 'latin1');\nconst pgrp = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[2]);\n` +
        `const mark = markGroup(pgrp);\nif (mark === undefined) throw new Error('no mark');\nconsole.log(JSON.stringify(await stopLeftoverGroup(mark)));\n`,
    );
    try {
      const child = spawn('sh', ['-c', `"${process.execPath}" --import tsx "${script}"; echo "sh lived on"`], { detached: true, stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => child.on('close', resolve));
      expect(out).toBe('{"stopped":0,"left":[]}\nsh lived on\n');
    } finally {
      fs.rmSync(script, { force: true });
    }
  });
});

describe('the running groups', () => {
  it('a child run() starts is marked while it runs and unmarked once it has ended', async () => {
    const seen: GroupMark[][] = [];
    followRunningGroups((groups) => seen.push([...groups]));
    const child = run('sleep', ['0.2'], { log });
    await sleep(50);
    const during = seen.at(-1) ?? [];
    expect(during).toHaveLength(1);
    expect(during[0]?.pgid).toBeGreaterThan(1);
    await child;
    expect(seen.at(-1)).toEqual([]);
  });

  it('a listener that throws does not break run(): a child still starts, ends and reports', async () => {
    followRunningGroups(() => {
      throw new Error('disk full');
    });
    expect((await run('sh', ['-c', 'exit 3'], { log })).exitCode).toBe(3);
  });

  it('a command run with killGroup leaves no process behind, and its group is marked until none is left', async () => {
    let background = 0;
    const runningWhenUnmarked: boolean[] = [];
    followRunningGroups((groups) => {
      if (groups.length === 0 && background > 0) runningWhenUnmarked.push(alive(background));
    });
    const result = await run('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], {
      log,
      killGroup: true,
      onLine: (line) => {
        background = Number(line);
        remember(background);
      },
    });
    expect(result.exitCode).toBe(0);
    expect(background).toBeGreaterThan(1);
    expect(alive(background)).toBe(false);
    expect(runningWhenUnmarked).toEqual([false]);
  });
});
