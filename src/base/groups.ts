import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Process groups: every child fanout starts runs in a group of its own (so that a pusher's Ctrl-C
 * never cuts a transfer in half), which outlives a fanout killed outright (SIGKILL, the OOM
 * killer). A group is marked so that another fanout process can find it again, and stop it,
 * without ever stopping someone else's processes.
 */

/**
 * Enough to find a process group again from another fanout process: its id, when its leader
 * started (clock ticks since boot), and which boot that was. A pid alone may name someone else's
 * process by then.
 */
export interface GroupMark {
  pgid: number;
  start: number;
  boot: string;
}

/** A signal to a whole process group; one already gone is no error. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group has exited
  }
}

let thisBoot: string | undefined;

function bootId(): string | undefined {
  try {
    thisBoot ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // no /proc to read: no group can be marked, nor found again
  }
  return thisBoot;
}

/** A process's group, start time and state from /proc/PID/stat; undefined once it is gone. */
function processStat(pid: number | 'self'): { pgrp: number; start: number; state: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // the command name (field 2) may hold spaces and parentheses: the fields that follow it are counted from the last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]), start: Number(fields[19]) };
}

export function markGroup(pid: number): GroupMark | undefined {
  const stat = processStat(pid);
  const boot = bootId();
  return stat === undefined || boot === undefined ? undefined : { pgid: pid, start: stat.start, boot };
}

let uptimeRead: { ticks: number; at: number } | undefined;

/**
 * Clock ticks since boot (USER_HZ: 100 on Linux), the unit of a start time in /proc/PID/stat;
 * undefined without /proc. The lock's holder marks its groups as each child starts and ends, so
 * /proc/uptime is read at most every 250 ms and counted on from there in between.
 */
export function ticksNow(): number | undefined {
  const now = performance.now();
  if (uptimeRead === undefined || now - uptimeRead.at > 250) {
    try {
      uptimeRead = { ticks: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100, at: now };
    } catch {
      return undefined;
    }
  }
  return Math.round(uptimeRead.ticks + (now - uptimeRead.at) / 10);
}

/**
 * Whether a mark still names its group, decided once at the first look: undefined when it does
 * not (another boot; a leader of another start time holds the id), else the latest tick a member
 * may have started. While the leader lives with the marked start time the group is the marked one
 * whoever is in it: Linux hands out no pid that is a live group's id. Once the leader has gone the
 * id may have been taken since by a group whose own leader has gone too: its members count only
 * if they started by `leaderlessUntil`.
 */
function latestMemberStart(mark: GroupMark, leaderlessUntil: number | undefined): number | undefined {
  if (mark.boot !== bootId()) return undefined;
  const leader = processStat(mark.pgid);
  if (leader !== undefined) return leader.start === mark.start ? Infinity : undefined;
  return leaderlessUntil ?? Infinity;
}

/** The live processes of a marked group that started in its time: this user's, never fanout itself. */
function groupMembers(mark: GroupMark, startedBy: number): number[] {
  const uid = process.getuid?.();
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = processStat(pid);
      if (stat === undefined || stat.pgrp !== mark.pgid || stat.state === 'Z' || stat.start < mark.start || stat.start > startedBy || pid === process.pid) return false;
      try {
        return fs.statSync(`/proc/${pid}`).uid === uid;
      } catch {
        return false; // gone meanwhile
      }
    });
}

/**
 * Stop what is left of a marked process group (a build or an rsync whose fanout was killed goes on
 * in a group of its own) and wait until it has gone: each of its members above, never the group
 * as such (it may hold someone else's). SIGTERM first, for 5 s: an rsync told so removes the
 * temporary file it was writing, where SIGKILL would leave it among the site's files. Says how
 * many processes it had, and the pids of those still there after SIGKILL (one stuck in the kernel
 * on a dead disk or mount). `leaderlessUntil`: see latestMemberStart (ticks; none: no bound).
 */
export async function stopLeftoverGroup(mark: GroupMark, leaderlessUntil?: number): Promise<{ stopped: number; left: number[] }> {
  // never fanout's own group, nor every process (kill(-1))
  const own = processStat('self')?.pgrp;
  const startedBy = mark.pgid > 1 && mark.pgid !== process.pid && mark.pgid !== own ? latestMemberStart(mark, leaderlessUntil) : undefined;
  const members = startedBy === undefined ? [] : groupMembers(mark, startedBy);
  if (startedBy === undefined || members.length === 0) return { stopped: 0, left: [] };
  const seen = new Set(members);
  let left = members;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    // each once (an rsync told twice may cut its own clean-up short); a member forked since, next round
    const told = new Set<number>();
    for (let waited = 0; waited < 5000 && left.length > 0; waited += 50) {
      for (const pid of left.filter((p) => !told.has(p))) {
        told.add(pid);
        signalProcess(pid, signal);
      }
      await sleep(50);
      left = groupMembers(mark, startedBy);
      for (const pid of left) seen.add(pid);
    }
    if (left.length === 0) break;
  }
  return { stopped: seen.size, left };
}

/** A signal to one process; one already gone is no error. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/**
 * The process groups run() has started and not yet seen end. The deploy lock writes these marks
 * into its file as they change, so that the next holder can stop what a holder killed outright
 * left running, before it writes where those still would.
 */
const runningGroups = new Map<number, GroupMark>();
let onRunningGroups: ((groups: readonly GroupMark[]) => void) | undefined;

/** Be told the running groups on every change (the lock's holder), or no more (undefined). */
export function followRunningGroups(listener: ((groups: readonly GroupMark[]) => void) | undefined): void {
  if (listener !== undefined && onRunningGroups !== undefined) throw new Error('the running process groups are followed already');
  onRunningGroups = listener;
}

export function runningGroupMarks(): GroupMark[] {
  return [...runningGroups.values()];
}

function tellListener(): void {
  try {
    onRunningGroups?.(runningGroupMarks());
  } catch {
    // the listener says what went wrong itself: a child started or ended all the same
  }
}

/** A child run() started: marked (undefined when it has ended already, or /proc cannot say). */
export function startedGroup(pid: number): GroupMark | undefined {
  const mark = markGroup(pid);
  if (mark === undefined) return undefined;
  runningGroups.set(pid, mark);
  tellListener();
  return mark;
}

export function endedGroup(mark: GroupMark): void {
  if (runningGroups.delete(mark.pgid)) tellListener();
}
