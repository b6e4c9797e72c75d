import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from './errors.js';
import { run } from './exec.js';
import { followRunningGroups, runningGroupMarks, stopLeftoverGroup, type GroupMark } from './groups.js';
import { ensureDir } from './journal.js';
import { openOwnFile } from './trust.js';
import type { Logger } from './log.js';

export interface Lock {
  release(): void;
}

/** What a deploy waiting for the lock, or taking it after a holder that died, is told. */
export interface LockEvents {
  /** another deploy holds it: whom this one waits for */
  onWait?: (holder: string) => void;
  /** the last holder died with children running; they were stopped (how many processes) */
  onLeftovers?: (stopped: number, holder: string) => void;
}

/**
 * The deploy lock: flock(2) on `<stateDir>/lock`, taken by util-linux `flock` on a descriptor this
 * process keeps open. The kernel drops the lock when the process dies, however it dies (SIGKILL
 * included), so a stale lock cannot exist and needs no detection. The file's first line names the
 * holder, for the message a waiting deploy prints; the lines after it mark the process groups the
 * holder has running. Those outlive a holder that is killed outright, and would go on writing
 * into the slot or the files the next deploy writes; the next holder stops them first.
 */
export async function acquireLock(stateDir: string, waitSeconds: number, purpose: string, log: Logger, events: LockEvents = {}): Promise<Lock> {
  ensureDir(stateDir);
  const file = path.join(stateDir, 'lock');
  const fd = openOwnFile(file, 'update');
  try {
    let result = await run('flock', ['--exclusive', '--nonblock', '3'], { fd3: fd, log });
    if (result.exitCode === 1) {
      const holder = readLockFile(fd).holder;
      events.onWait?.(holder);
      log.info({ holder }, 'waiting for the deploy lock');
      result = await run('flock', ['--exclusive', '--timeout', String(waitSeconds), '3'], { fd3: fd, log });
      if (result.exitCode === 1) {
        throw new FanoutError(`another deploy (${readLockFile(fd).holder}) still holds ${file} after ${waitSeconds}s (lockTimeout); try again later`, 1);
      }
    }
    if (result.exitCode !== 0) {
      throw new FanoutError(`cannot lock ${file}: ${result.spawnError ?? result.stderr.trim()}${result.spawnError?.includes('not found') === true ? ' (flock comes with util-linux: apt-get install util-linux)' : ''}`, 1);
    }
    // the last holder's own last word: a group of its whose leader has gone is one of its members
    // only if it started before then (the id may be someone else's since)
    const leaderlessUntil = fs.fstatSync(fd).mtimeMs + 1000;
    const last = readLockFile(fd);
    const holder = `pid ${process.pid}, ${purpose}, since ${new Date().toISOString()}`;
    // written in place, then cut to length: a holder killed between the two leaves its new marks
    // and a tail of old ones, never fewer marks than it has running
    const write = (groups: readonly GroupMark[]): void => {
      const text = Buffer.from([holder, ...groups.map((g) => JSON.stringify(g))].map((line) => `${line}\n`).join(''));
      fs.writeSync(fd, text, 0, text.length, 0);
      fs.ftruncateSync(fd, text.length);
    };
    // this holder's name first, for those who wait; the last holder's marks stay until their
    // groups have gone, for the next holder should this one die too
    write(last.groups);
    const stops = await Promise.all(last.groups.map((group) => stopLeftoverGroup(group, leaderlessUntil)));
    const stopped = stops.reduce((sum, s) => sum + s.stopped, 0);
    const left = stops.flatMap((s) => s.left);
    if (stopped > 0) {
      log.warn({ holder: last.holder, processes: stopped, left }, 'stopped what a deploy that died left running');
      if (left.length > 0) {
        throw new FanoutError(
          `${left.length} process${left.length === 1 ? '' : 'es'} left running by a fanout that died (${last.holder}) would not stop, even on SIGKILL (pid ${left.join(', ')}; stuck on a disk or a mount?); nothing was touched, try again once ${left.length === 1 ? 'it has' : 'they have'} gone`,
          1,
        );
      }
      events.onLeftovers?.(stopped, last.holder);
    }
    write(runningGroupMarks());
    let failed = false;
    followRunningGroups((groups) => {
      try {
        write(groups);
      } catch (error) {
        // a full disk: the deploy goes on, only a kill of this one would leave its children unknown
        if (!failed) log.warn({ file, error: String(error) }, 'cannot mark the running process groups in the lock file');
        failed = true;
      }
    });
    log.info({ purpose }, 'deploy lock taken');
    return {
      release: () => {
        followRunningGroups(undefined);
        try {
          fs.ftruncateSync(fd, 0);
        } finally {
          fs.closeSync(fd);
        }
      },
    };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** The holder's line, and the groups it marked, read back; lines that are no mark are skipped. */
export function parseLockFile(text: string): { holder: string; groups: GroupMark[] } {
  const [first = '', ...rest] = text.split('\n');
  const groups: GroupMark[] = [];
  for (const line of rest) {
    try {
      const mark = JSON.parse(line) as Partial<GroupMark> | null;
      if (Number.isInteger(mark?.pgid) && Number.isInteger(mark?.start) && typeof mark?.boot === 'string') groups.push(mark as GroupMark);
    } catch {
      // a line cut short by a holder killed mid-write, or a tail of older marks
    }
  }
  return { holder: first.trim() || 'unknown holder', groups };
}

function readLockFile(fd: number): { holder: string; groups: GroupMark[] } {
  const chunks: Buffer[] = [];
  for (let position = 0; ; ) {
    const buffer = Buffer.alloc(64 * 1024);
    const length = fs.readSync(fd, buffer, 0, buffer.length, position);
    if (length === 0) break;
    chunks.push(buffer.subarray(0, length));
    position += length;
  }
  return parseLockFile(Buffer.concat(chunks).toString('utf8'));
}
