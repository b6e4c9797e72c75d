import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../base/exec.js';
import type { Logger } from '../base/log.js';
import { ioCounters, stallTick, StallClock, type IoCounters } from '../base/stall.js';
import { remoteCommand, sshRunning } from './ssh.js';

// A target frozen behind a relay (docs/guides/many-hosts.md): the relay's rsync keeps its
// keepalives going to a host whose kernel still takes them, so its own --timeout never fires, and
// the process on the update server is an ssh client that moves no bytes of its own. So each pass
// through a relay says its pid on the relay first; once its output has gone quiet, fanout reads
// that rsync's /proc/<pid>/io there (one `grep` through the relay's connection for all its quiet
// passes at once), and stops it there, through the same connection, once it has stalled.

const PID_LINE = /^fanout-relay-pid (\d+)$/;

/**
 * What ssh runs on the relay for one pass: a shell that says its pid, then becomes rsync (the pid
 * is then rsync's). Each shell execs the next, so that rsync's parent is sshd's process for the
 * session, and setpriv (util-linux) has the kernel kill rsync when that process is gone: a session
 * sshd ends (its update server killed, or cut off: ClientAliveInterval) would otherwise leave
 * rsync running on, sending beside whoever sends to that target next.
 */
export function announcedRsync(args: readonly string[]): string {
  const script = 'echo fanout-relay-pid $$; command -v setpriv >/dev/null && exec setpriv --pdeathsig KILL -- "$0" "$@"; exec "$0" "$@"';
  return `exec ${remoteCommand('sh', ['-c', script, 'rsync', ...args])}`;
}

/** One pass's watch, fed its output lines. */
export interface PassWatch {
  /** a line of the pass's output; true if it was the pid's (the pass's own, not rsync's), which starts the watch */
  announced(line: string): boolean;
  /** the pass's rsync read and wrote nothing for its stall time, and was stopped on the relay */
  readonly stalled: boolean;
  /** the pass has ended */
  stop(): void;
}

export interface RelayWatch {
  /** a watch for one pass to `target`, stopped on the relay once quiet for stallMs */
  pass(target: string, stallMs: number): PassWatch;
}

interface Watched {
  target: string;
  pid: number;
  stallMs: number;
  clock: StallClock;
  heardAt: number;
}

/** How often a quiet pass is looked at: at most every 250 ms, at least every 5 s (a `grep` over ssh each time). */
const tickOf = (w: Watched): number => stallTick(w.stallMs, { least: 250, most: 5000 });

type OnRelay = (program: string, args: string[]) => Promise<{ stdout: string }>;

/** Watches the passes of one relay, `ssh` its argument array riding the relay's connection, up to the remote command. */
export function relayWatch(ssh: readonly string[], log: Logger): RelayWatch {
  const onRelay: OnRelay = (program, args) => {
    const over = sshRunning(ssh, remoteCommand(program, args));
    return run(over.command, over.args, { log, timeoutMs: 10_000 });
  };
  const watcher = new Watcher(onRelay, log);
  return { pass: (target, stallMs) => watcher.pass(target, stallMs) };
}

class Watcher {
  private readonly watched = new Set<Watched>();
  // each pass that stalled and has not yet ended, by its pid: told when it ends, so that the
  // second, harder signal goes only to a process that is still its pass's
  private readonly stalled = new Map<number, () => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onRelay: OnRelay,
    private readonly log: Logger,
  ) {}

  pass(target: string, stallMs: number): PassWatch {
    let mine: Watched | undefined;
    let endedStalled = false;
    return {
      announced: (line) => {
        const now = Date.now();
        if (mine !== undefined) {
          mine.heardAt = now;
          mine.clock.heard(now);
          return false;
        }
        const pid = PID_LINE.exec(line)?.[1];
        if (pid === undefined) return false;
        mine = { target, pid: Number(pid), stallMs, clock: new StallClock(stallMs, now), heardAt: now };
        this.watched.add(mine);
        this.schedule();
        return true;
      },
      get stalled() {
        return endedStalled;
      },
      stop: () => {
        if (mine === undefined) return;
        this.watched.delete(mine);
        const ended = this.stalled.get(mine.pid);
        this.stalled.delete(mine.pid);
        endedStalled = ended !== undefined;
        ended?.();
      },
    };
  }

  private schedule(): void {
    if (this.timer !== undefined || this.watched.size === 0) return;
    this.timer = setTimeout(() => void this.look(), Math.min(...[...this.watched].map(tickOf)));
    this.timer.unref();
  }

  /** Samples the passes that have gone quiet, and stops those that have stalled. */
  private async look(): Promise<void> {
    const now = Date.now();
    const quiet = [...this.watched].filter((w) => now - w.heardAt >= tickOf(w));
    const io = quiet.length === 0 ? new Map<number, IoCounters>() : await readIo(this.onRelay, quiet.map((w) => w.pid));
    const at = Date.now();
    for (const w of quiet) {
      const counters = io.get(w.pid);
      if (!this.watched.has(w) || counters === undefined || !w.clock.sample(counters, at)) continue;
      this.watched.delete(w);
      const ended = new Promise<void>((resolve) => this.stalled.set(w.pid, resolve));
      this.log.warn({ target: w.target, relayPid: w.pid, stallMs: w.stallMs }, 'no I/O from the rsync the relay runs for this target; stopping it there');
      void stopThere(this.onRelay, w.pid, ended);
    }
    this.timer = undefined;
    this.schedule();
  }
}

/** /proc/<pid>/io on the relay for each pid still there, in one command. */
async function readIo(onRelay: OnRelay, pids: readonly number[]): Promise<Map<number, IoCounters>> {
  const ran = await onRelay('grep', ['-H', '-s', '-E', '^(rchar|wchar):', ...pids.map((pid) => `/proc/${pid}/io`)]);
  const texts = new Map<number, string>();
  for (const line of ran.stdout.split('\n')) {
    const found = /^\/proc\/(\d+)\/io:(.*)$/.exec(line);
    if (found?.[1] === undefined) continue;
    const pid = Number(found[1]);
    texts.set(pid, `${texts.get(pid) ?? ''}${found[2] ?? ''}\n`);
  }
  return new Map([...texts].map(([pid, text]) => [pid, ioCounters(text)]));
}

/**
 * SIGTERM to the relay's rsync, as fanout stops a local one; SIGKILL every 5 s after that until its
 * pass has ended: a `kill` the relay's sshd refused (its MaxSessions reached) is sent again.
 */
async function stopThere(onRelay: OnRelay, pid: number, ended: Promise<void>): Promise<void> {
  for (let signal = '-TERM'; ; signal = '-KILL') {
    await onRelay('kill', [signal, String(pid)]);
    if (await Promise.race([ended.then(() => true), sleep(5000, false, { ref: false })])) return;
  }
}
