import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { markGroup, ticksNow } from '../../../src/base/groups.js';
import { acquireLock, lockFileText, parseLockFile } from '../../../src/engine/lock.js';
import { silentLogger as log } from '../../../src/base/log.js';
import { alive, detachedSleep, killStarted, leaderlessSleep } from '../processes.js';

const mark = (pgid: number, start: number): string => JSON.stringify({ pgid, start, boot: 'b' });

describe('parseLockFile', () => {
  it('reads the holder, and each group it marked bounded by its last heartbeat', () => {
    const text = `pid 42, push by git, since 2026-12-02T12:00:00.000Z\n{"alive":5000}\n${mark(100, 5)}\n${mark(101, 6)}\n`;
    expect(parseLockFile(text)).toEqual({
      holder: 'pid 42, push by git, since 2026-12-02T12:00:00.000Z',
      leftovers: [
        { mark: { pgid: 100, start: 5, boot: 'b' }, until: 5200, of: 'pid 42, push by git, since 2026-12-02T12:00:00.000Z' },
        { mark: { pgid: 101, start: 6, boot: 'b' }, until: 5200, of: 'pid 42, push by git, since 2026-12-02T12:00:00.000Z' },
      ],
    });
  });

  it('a group carried from an earlier holder keeps its own bound and owner', () => {
    const text = `pid 43, manual by root\n{"alive":9000}\n{"pgid":100,"start":5,"boot":"b","until":5200,"of":"pid 42, push by git"}\n`;
    expect(parseLockFile(text).leftovers).toEqual([{ mark: { pgid: 100, start: 5, boot: 'b' }, until: 5200, of: 'pid 42, push by git' }]);
  });

  it('skips a line cut short, a tail of an older write and anything that is no mark; with no heartbeat no leaderless member counts', () => {
    const text = `pid 42, push by git\n${mark(100, 5)}\n{"pgid":1\n{"pgid":"7","start":1,"boot":"b"}\nnull\n{"start":1,"boot":"b"}\n`;
    expect(parseLockFile(text).leftovers).toEqual([{ mark: { pgid: 100, start: 5, boot: 'b' }, until: 0, of: 'pid 42, push by git' }]);
  });

  it('a lock released (empty file) names no holder and no groups', () => {
    expect(parseLockFile('')).toEqual({ holder: 'unknown holder', leftovers: [] });
  });

  it('reads back what a holder writes: its own groups bounded by its beat, carried ones as they were', () => {
    const carried = { mark: { pgid: 100, start: 5, boot: 'b' }, until: 5200, of: 'pid 42, push by git' };
    const text = lockFileText('pid 43, manual by root', 9000, [{ pgid: 101, start: 6, boot: 'b' }], [carried]);
    expect(text).toBe(`pid 43, manual by root\n{"alive":9000}\n${mark(101, 6)}\n{"pgid":100,"start":5,"boot":"b","until":5200,"of":"pid 42, push by git"}\n`);
    expect(parseLockFile(text)).toEqual({
      holder: 'pid 43, manual by root',
      leftovers: [{ mark: { pgid: 101, start: 6, boot: 'b' }, until: 9200, of: 'pid 43, manual by root' }, carried],
    });
  });

  it('without a clock to read, no heartbeat line', () => {
    expect(lockFileText('pid 43, manual by root', undefined, [], [])).toBe('pid 43, manual by root\n');
  });
});

describe('acquireLock after a holder that died', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-lock-'));
  });

  afterEach(() => {
    killStarted();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops the groups it marked, says so, names itself meanwhile, and leaves the file empty on release', async () => {
    const pid = detachedSleep();
    fs.writeFileSync(path.join(dir, 'lock'), `pid 1, push by git, since then\n${JSON.stringify({ alive: ticksNow() })}\n${JSON.stringify(markGroup(pid))}\n`, { mode: 0o600 });
    const told: [number, string][] = [];
    const lock = await acquireLock(dir, 5, 'manual by test', log, { onLeftovers: (n, of) => told.push([n, of]) });
    try {
      expect(told).toEqual([[1, 'pid 1, push by git, since then']]);
      expect(alive(pid)).toBe(false);
      const text = fs.readFileSync(path.join(dir, 'lock'), 'utf8');
      expect(text.split('\n')[0]).toMatch(/^pid \d+, manual by test, since /);
      // the stopped group is no longer carried
      expect(parseLockFile(text).leftovers).toEqual([]);
    } finally {
      lock.release();
    }
    expect(fs.readFileSync(path.join(dir, 'lock'), 'utf8')).toBe('');
  });

  it('a mark whose leader has gone leaves alone a process in that group that started after the last heartbeat', async () => {
    // sh leads the group and exits at once; its sleep stays, leaderless
    const { leader, member } = await leaderlessSleep();
    const group = { ...markGroup(member), pgid: leader };
    // the dead holder's last beat was three seconds before the sleep started
    fs.writeFileSync(path.join(dir, 'lock'), `pid 1, push by git\n${JSON.stringify({ alive: (ticksNow() ?? 0) - 500 })}\n${JSON.stringify(group)}\n`, { mode: 0o600 });
    const told: number[] = [];
    const lock = await acquireLock(dir, 5, 'manual by test', log, { onLeftovers: (n) => told.push(n) });
    lock.release();
    expect(told).toEqual([]);
    expect(alive(member)).toBe(true);
  });
});
