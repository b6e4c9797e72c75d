// Whether a process still talks to its peer, from Linux's /proc/<pid>/io, which counts every byte
// it read and wrote, pipes and sockets included. rsync's --timeout counts its own keepalive writes
// as activity: a peer whose rsync is frozen (SIGSTOP, a wedged disk) while its kernel still
// acknowledges the few bytes sent each second never times out. A live peer answers a keepalive
// within the timeout, so a process that has read nothing and written no more than keepalives for
// the stall time has lost its peer. Read here for a local rsync (exec.ts), and on a relay for the
// rsync it runs there (transport/relay-watch.ts).

export interface IoCounters {
  read: number;
  written: number;
}

/** rsync's keepalives, and a little more, written while waiting on a silent peer */
const KEEPALIVE_BYTES = 256;

/** The counters in the text of /proc/<pid>/io (`rchar: N`, `wchar: N`, a line each). */
export function ioCounters(text: string): IoCounters {
  return { read: Number(/^rchar: (\d+)/m.exec(text)?.[1] ?? 0), written: Number(/^wchar: (\d+)/m.exec(text)?.[1] ?? 0) };
}

/** How often a process whose stall time is `stallMs` is looked at: a quarter of it, within bounds. */
export function stallTick(stallMs: number, bounds: { least: number; most: number }): number {
  return Math.min(bounds.most, Math.max(bounds.least, stallMs / 4));
}

/**
 * One process's I/O, sampled now and then: `sample` answers whether it has gone quiet for longer
 * than `stallMs`. The first sample is the baseline and counts as progress (what it did before is
 * not known).
 */
export class StallClock {
  private last: IoCounters | undefined;
  private progressAt: number;

  constructor(
    private readonly stallMs: number,
    now: number,
  ) {
    this.progressAt = now;
  }

  /** something else showed the process alive at `now` (a line of its output) */
  heard(now: number): void {
    this.progressAt = Math.max(this.progressAt, now);
  }

  /** true once the process has read nothing and written no more than keepalives for stallMs */
  sample(io: IoCounters, now: number): boolean {
    const last = this.last;
    if (last === undefined || io.read > last.read || io.written - last.written > KEEPALIVE_BYTES) {
      this.last = io;
      this.heard(now);
      return false;
    }
    return now - this.progressAt > this.stallMs;
  }
}
