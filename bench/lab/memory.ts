/**
 * Peak memory of a process, read from the kernel's own high-water mark (VmHWM in
 * /proc/PID/status). Polling the high-water mark, unlike polling the current RSS, cannot miss a
 * spike between two samples; it can only miss growth in the last interval before the process exits.
 */
import fs from 'node:fs';

function statusField(pid: number, field: string): number | undefined {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined; // gone, or never there
  }
}

/** MB; undefined when the process is gone. */
export function highWaterMb(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : statusField(pid, 'VmHWM');
}

export interface PeakWatch {
  /** stop polling; the largest high-water mark seen over every matching process, in MB */
  stop(): number | undefined;
}

/** Poll one known process. */
export function watchPid(pid: number | undefined, everyMs = 10): PeakWatch {
  let peak: number | undefined;
  const sample = (): void => {
    const now = highWaterMb(pid);
    if (now !== undefined) peak = Math.max(peak ?? 0, now);
  };
  const timer = setInterval(sample, everyMs);
  sample();
  return {
    stop() {
      sample();
      clearInterval(timer);
      return peak;
    },
  };
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Poll every process whose command line contains all of `needles`, including ones started after
 * the watch began: the hook is started by git, not by us, so its pid is not known in advance.
 * Processes already running when the watch starts are ignored. A newer process is looked at again
 * on every scan until it matches: the hook is first `sh`, and only becomes node when it execs.
 */
export function watchMatching(needles: string[], everyMs = 10): PeakWatch {
  const before = new Set<number>();
  const matched = new Set<number>();
  let peak: number | undefined;
  const scan = (): void => {
    for (const name of fs.readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || before.has(pid) || matched.has(pid)) continue;
      const line = commandLine(pid);
      if (needles.every((n) => line.includes(n))) matched.add(pid);
    }
    for (const pid of matched) {
      const now = highWaterMb(pid);
      if (now !== undefined) peak = Math.max(peak ?? 0, now);
    }
  };
  for (const name of fs.readdirSync('/proc')) if (/^\d+$/.test(name)) before.add(Number(name));
  const timer = setInterval(scan, everyMs);
  return {
    stop() {
      scan();
      clearInterval(timer);
      return peak;
    },
  };
}
