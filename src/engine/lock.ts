import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from '../base/errors.js';
import { run } from '../base/exec.js';
import { followRunningGroups, runningGroupMarks, stopLeftoverGroup, ticksNow, type GroupMark } from '../base/groups.js';
import { ensureDir } from './journal.js';
import { openOwnFile } from '../base/trust.js';
import type { Logger } from '../base/log.js';

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
 * holder, for the message a waiting deploy prints; the lines after it are the holder's heartbeat
 * and marks of the process groups it has running (see parseLockFile). Those outlive a holder that
 * is killed outright, and would go on writing into the slot or the files the next deploy writes;
 * the next holder stops them first.
 */
export async function acquireLock(stateDir: string, waitSeconds: number, purpose: string, log: Logger, events: LockEvents = {}): Promise<Lock> {
  ensureDir(stateDir);
  const file = path.join(stateDir, 'lock');
  const fd = openOwnFile(file, 'update');
  try {
    await takeFlock(fd, file, waitSeconds, log, events);
    const last = readLockFile(fd);
    const holder = `pid ${process.pid}, ${purpose}, since ${new Date().toISOString()}`;
    // this holder's name first, for those who wait; the last holder's marks stay (with their
    // bounds and whose they were) until their groups have gone, for the next holder should this
    // one die too, or refuse
    writeLockFile(fd, holder, runningGroupMarks(), last.leftovers);
    await stopLeftovers(last.leftovers, log, events);
    const lock = markWhileHeld(fd, file, holder, log);
    log.info({ purpose }, 'deploy lock taken');
    return lock;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** flock(2) on the descriptor: at once when it is free, else once its holder lets go, waiting `waitSeconds` at most. */
async function takeFlock(fd: number, file: string, waitSeconds: number, log: Logger, events: LockEvents): Promise<void> {
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
}

/**
 * The lock file's text (parseLockFile reads it back): the holder, its heartbeat when the clock
 * can be read, the groups it has running, and those it carries from a holder that died.
 */
export function lockFileText(holder: string, alive: number | undefined, groups: readonly GroupMark[], carried: readonly Leftover[]): string {
  const lines = [holder, ...(alive === undefined ? [] : [JSON.stringify({ alive })]), ...groups.map((g) => JSON.stringify(g)), ...carried.map((l) => JSON.stringify({ ...l.mark, until: l.until, of: l.of }))];
  return lines.map((line) => `${line}\n`).join('');
}

/**
 * Written in place, then cut to length: a holder killed between the two leaves its new marks and a
 * tail of old ones, never fewer marks than it has running.
 */
function writeLockFile(fd: number, holder: string, groups: readonly GroupMark[], carried: readonly Leftover[]): void {
  const text = Buffer.from(lockFileText(holder, ticksNow(), groups, carried));
  fs.writeSync(fd, text, 0, text.length, 0);
  fs.ftruncateSync(fd, text.length);
}

/**
 * Stops the groups the last holder left running, should it have died with children. Refuses
 * (throws) when one of them would not stop: the next deploy would write beside it.
 */
async function stopLeftovers(leftovers: readonly Leftover[], log: Logger, events: LockEvents): Promise<void> {
  const stops = await Promise.all(leftovers.map((l) => stopLeftoverGroup(l.mark, l.until)));
  const stopped = stops.reduce((sum, s) => sum + s.stopped, 0);
  const left = stops.flatMap((s) => s.left);
  if (stopped > 0) {
    const of = [...new Set(leftovers.filter((_, n) => (stops[n]?.stopped ?? 0) > 0).map((l) => l.of))].join('; ');
    log.warn({ of, processes: stopped, left }, 'stopped what a deploy that died left running');
    if (left.length > 0) {
      throw new FanoutError(
        `${left.length} process${left.length === 1 ? '' : 'es'} left running by a fanout that died (${of}) would not stop, even on SIGKILL (pid ${left.join(', ')}; stuck on a disk or a mount?); nothing was touched, try again once ${left.length === 1 ? 'it has' : 'they have'} gone`,
        1,
      );
    }
    events.onLeftovers?.(stopped, of);
  }
}

/**
 * The lock, held: its file names this holder and marks the groups it has running, anew whenever
 * they change and on every heartbeat, until release empties the file and lets go.
 */
function markWhileHeld(fd: number, file: string, holder: string, log: Logger): Lock {
  let failed = false;
  const mark = (): void => {
    try {
      writeLockFile(fd, holder, runningGroupMarks(), []);
    } catch (error) {
      // a full disk: the deploy goes on, only a kill of this one would leave its children unknown
      if (!failed) log.warn({ file, error: String(error) }, 'cannot mark the running process groups in the lock file');
      failed = true;
    }
  };
  writeLockFile(fd, holder, runningGroupMarks(), []);
  followRunningGroups(mark);
  // the holder's heartbeat: a group whose leader has gone is taken for this holder's only if its
  // members started by the last beat (and a little more)
  const heartbeat = setInterval(mark, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    release: () => {
      clearInterval(heartbeat);
      followRunningGroups(undefined);
      try {
        fs.ftruncateSync(fd, 0);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

const HEARTBEAT_MS = 1000;
/** How long after its last beat a holder may have lived on, in clock ticks (a slow machine's timers lag). */
const BEAT_SLACK_TICKS = 200;

/**
 * A group a holder that died left running: its mark; the latest tick a member of it may have
 * started, should its leader have gone (see stopLeftoverGroup); and whose it was.
 */
export interface Leftover {
  mark: GroupMark;
  until: number;
  of: string;
}

/**
 * The lock file read back: the holder's line, its last heartbeat (`{"alive": ticks}`), the groups
 * it marked, and those it carried from a holder before it (with `until` and `of`). Lines that are
 * none of these (cut short, a tail of an older write) are skipped.
 */
export function parseLockFile(text: string): { holder: string; leftovers: Leftover[] } {
  const [first = '', ...rest] = text.split('\n');
  const holder = first.trim() || 'unknown holder';
  const lines: Record<string, unknown>[] = [];
  for (const line of rest) {
    try {
      const parsed = JSON.parse(line) as unknown;
      if (typeof parsed === 'object' && parsed !== null) lines.push(parsed as Record<string, unknown>);
    } catch {
      // not a line of this format
    }
  }
  const alive = lines.map((l) => l.alive).find(Number.isInteger) as number | undefined;
  const leftovers: Leftover[] = [];
  for (const { pgid, start, boot, until, of } of lines) {
    if (!Number.isInteger(pgid) || !Number.isInteger(start) || typeof boot !== 'string') continue;
    const mark = { pgid: pgid as number, start: start as number, boot };
    // without a beat nothing says how late a leaderless member may have started: none counts
    leftovers.push({ mark, until: Number.isInteger(until) ? (until as number) : alive !== undefined ? alive + BEAT_SLACK_TICKS : 0, of: typeof of === 'string' ? of : holder });
  }
  return { holder, leftovers };
}

function readLockFile(fd: number): { holder: string; leftovers: Leftover[] } {
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
