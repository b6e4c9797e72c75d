import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesOf, type RelPath } from '../../../src/base/paths.js';
import type { Change } from '../../../src/watch/batcher.js';
import { UnwatchedDirectories, UnwatchedPoller } from '../../../src/watch/unwatched-poller.js';

let source: string;

beforeEach(() => {
  source = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-unwatched-'));
  fs.mkdirSync(path.join(source, 'd'));
  fs.writeFileSync(path.join(source, 'd', 'a.html'), 'a');
});

afterEach(() => {
  fs.rmSync(source, { recursive: true, force: true });
});

const ADVICE = 'raise the inotify watch limit (now 8192): sysctl fs.inotify.max_user_watches=65536, and put that line in /etc/sysctl.d/90-fanout.conf to keep it';

/** What each change note asked for, with its paths sorted (a directory's listing has no order). */
function sorted(notes: Change[]): { paths?: RelPath[]; full?: boolean }[] {
  return notes.map(({ paths, ...rest }) => (paths === undefined ? rest : { ...rest, paths: [...paths].sort() }));
}

/** The handler over a real source, with its timer, its notes, its lines and its log kept. */
function setUp(limit = 1000) {
  const notes: Change[] = [];
  const lines: string[] = [];
  const degraded: string[] = [];
  const logs: { msg: string; lost?: number }[] = [];
  const timers: { ms: number; fn: () => void; stopped: boolean }[] = [];
  const unwatched = new UnwatchedDirectories({
    source,
    limit,
    keep: (rel) => !rel.endsWith('.swp'),
    note: (change) => notes.push(change),
    degraded: (why) => degraded.push(why),
    log: pino({}, { write: (text: string) => logs.push(JSON.parse(text) as { msg: string }) }),
    write: (line) => lines.push(line),
    clock: {
      every: (ms, fn) => {
        const timer = { ms, fn, stopped: false };
        timers.push(timer);
        return () => {
          timer.stopped = true;
        };
      },
    },
    watchLimit: () => 8192,
  });
  /** the timer's tick, as the clock would run it */
  const poll = (): void => {
    for (const t of timers) if (!t.stopped) t.fn();
  };
  return { unwatched, notes, lines, degraded, logs, timers, poll };
}

describe('UnwatchedDirectories', () => {
  it('a directory inotify cannot watch: said with the sysctl, degraded, a full pass now, then polled every second', () => {
    const { unwatched, notes, lines, degraded, logs, timers, poll } = setUp();
    unwatched.lostWatch(`${bytesOf(source)}/d/`);
    const why = `a new directory cannot be watched (d): the inotify watch limit is reached; fanout polls it every 1s instead; ${ADVICE}, then restart fanout watch`;
    expect(lines).toEqual([`warning: ${why}`]);
    expect(logs).toMatchObject([{ msg: why, lost: 1 }]);
    expect(degraded).toEqual([why]);
    expect(notes).toEqual([{ full: true }]);
    expect(timers.map((t) => t.ms)).toEqual([1000]);

    poll();
    expect(notes).toHaveLength(1); // nothing changed: nothing noted
    fs.writeFileSync(path.join(source, 'd', 'a.html'), 'a longer a');
    fs.writeFileSync(path.join(source, 'd', 'b.html'), 'b');
    fs.writeFileSync(path.join(source, 'd', '.b.html.swp'), 'editor');
    fs.mkdirSync(path.join(source, 'd', 'sub'));
    fs.writeFileSync(path.join(source, 'd', 'sub', 'c.html'), 'c');
    fs.writeFileSync(path.join(source, 'elsewhere.html'), 'not polled');
    poll();
    expect(sorted(notes.slice(1))).toEqual([{ paths: ['d/a.html', 'd/b.html', 'd/sub', 'd/sub/c.html'], full: false }]);
    fs.rmSync(path.join(source, 'd', 'b.html'));
    poll();
    expect(sorted(notes.slice(2))).toEqual([{ paths: ['d/b.html'], full: false }]);
  });

  it('one outside the source, or one too large to poll: seen only by a full pass, and said so', () => {
    const { unwatched, notes, lines, timers } = setUp(3);
    unwatched.lostWatch('/elsewhere/x/');
    for (const name of ['1', '2', '3']) fs.writeFileSync(path.join(source, 'd', name), name);
    unwatched.lostWatch(`${bytesOf(source)}/d`);
    expect(lines).toEqual([
      `warning: a new directory cannot be watched (): the inotify watch limit is reached; changes in it are seen only by a full pass (fanout sync); ${ADVICE}, then restart fanout watch`,
      `warning: a new directory cannot be watched (d): the inotify watch limit is reached; changes in it are seen only by a full pass (fanout sync); ${ADVICE}, then restart fanout watch`,
    ]);
    expect(notes).toEqual([{ full: true }, { full: true }]);
    expect(timers).toHaveLength(1);
  });

  it('says the first five, then one line every hundred; the poll timer is started once', () => {
    const { unwatched, lines, degraded, logs, timers } = setUp();
    for (let i = 1; i <= 200; i += 1) unwatched.lostWatch(`${bytesOf(source)}/d/sub${i}`);
    expect(lines).toHaveLength(7);
    expect(lines.slice(0, 5).every((l) => l.startsWith('warning: a new directory cannot be watched (d/sub'))).toBe(true);
    expect(lines.slice(5)).toEqual([`warning: 100 directories cannot be watched so far (the inotify watch limit); ${ADVICE}`, `warning: 200 directories cannot be watched so far (the inotify watch limit); ${ADVICE}`]);
    expect(logs).toHaveLength(200);
    expect(logs.at(-1)?.lost).toBe(200);
    expect(degraded).toHaveLength(200);
    expect(timers).toHaveLength(1);
  });

  it('a polled directory grown past the bound is dropped: a full pass, and no more polling of it', () => {
    const { unwatched, notes, poll } = setUp(3);
    unwatched.lostWatch(`${bytesOf(source)}/d`);
    for (const name of ['1', '2', '3']) fs.writeFileSync(path.join(source, 'd', name), name);
    poll();
    expect(notes.slice(1)).toEqual([{ paths: [], full: true }]);
    fs.writeFileSync(path.join(source, 'd', '4'), '4');
    poll();
    expect(notes).toHaveLength(2);
  });

  it('stop ends the polling', () => {
    const { unwatched, timers } = setUp();
    unwatched.lostWatch(`${bytesOf(source)}/d`);
    unwatched.stop();
    expect(timers.map((t) => t.stopped)).toEqual([true]);
  });
});

describe('UnwatchedPoller', () => {
  it('a link is a name, never followed: what changes where it points is not its to see', () => {
    const poller = new UnwatchedPoller(source, 1000);
    fs.symlinkSync('..', path.join(source, 'd', 'loop'));
    expect(poller.add('d')).toBe(true);
    fs.writeFileSync(path.join(source, 'elsewhere.html'), 'x');
    expect(poller.poll()).toEqual({ changed: [], dropped: [] });
    fs.rmSync(path.join(source, 'd', 'loop'));
    expect(poller.poll()).toEqual({ changed: ['d/loop'], dropped: [] });
  });

  it('names what appeared, changed (here its mode) or went away since the last poll', () => {
    const poller = new UnwatchedPoller(source, 1000);
    poller.add('d');
    fs.chmodSync(path.join(source, 'd', 'a.html'), 0o600);
    fs.writeFileSync(path.join(source, 'd', 'new.html'), 'n');
    expect(poller.poll().changed.sort()).toEqual(['d/a.html', 'd/new.html']);
    fs.rmSync(path.join(source, 'd', 'new.html'));
    expect(poller.poll().changed).toEqual(['d/new.html']);
  });

  it('a directory below one polled already is not listed twice; one too large is refused', () => {
    fs.mkdirSync(path.join(source, 'd', 'sub'));
    const poller = new UnwatchedPoller(source, 2);
    expect(poller.add('d')).toBe(true);
    expect(poller.add('d/sub')).toBe(true);
    expect(poller.directories).toEqual(['d']);
    fs.mkdirSync(path.join(source, 'big'));
    for (const name of ['1', '2', '3']) fs.writeFileSync(path.join(source, 'big', name), name);
    expect(poller.add('big')).toBe(false);
    expect(poller.directories).toEqual(['d']);
  });
});
