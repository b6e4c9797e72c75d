/**
 * What a command's whole process tree costs while it runs (git push: git, its hook, fanout's node
 * process and every rsync it starts), read from /proc:
 * - CPU: user + system time of every child this process has waited for, and of theirs (the
 *   kernel's cutime and cstime of this process, in clock ticks), before and after: exact, short
 *   lived rsyncs included, as long as nothing else of ours ends meanwhile;
 * - memory: the largest sum of the tree's resident sets seen (sampled), and the node process's own
 *   high-water mark (VmHWM, which sampling cannot miss);
 * - descriptors: the most the node process held open at a sample.
 */
import fs from 'node:fs';

/** USER_HZ: 100 on every Linux the benchmark runs on (`getconf CLK_TCK`) */
const TICKS_PER_SECOND = 100;
const PAGE = 4096;

/** The fields of /proc/PID/stat after "(comm) ": comm may hold spaces and parentheses. */
function statFields(pid: string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU time of the children this process has reaped, and of their reaped children, in ms. */
export function reapedChildrenCpuMs(): number {
  const f = statFields('self') ?? [];
  // after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  return ((Number(f[13]) + Number(f[14])) * 1000) / TICKS_PER_SECOND;
}

export interface TreeUsage {
  /** largest sum of VmRSS over the tree at one sample, MB */
  peakRssMb: number;
  /** the most processes in the tree at one sample */
  peakProcesses: number;
  /** the node process's VmHWM, MB */
  nodePeakMb: number | undefined;
  /** the most descriptors the node process held at one sample */
  nodePeakFds: number | undefined;
}

function commandLine(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function vmHwmMb(pid: string): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

function openFds(pid: string): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Every process below root, with its resident set in pages. */
function tree(root: number): Map<string, number> {
  const parent = new Map<string, { ppid: string; rss: number }>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const f = statFields(pid);
    if (f !== undefined) parent.set(pid, { ppid: f[1] ?? '', rss: Number(f[21]) });
  }
  const inTree = new Map<string, number>([[String(root), parent.get(String(root))?.rss ?? 0]]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of parent) {
      if (!inTree.has(pid) && inTree.has(p.ppid)) {
        inTree.set(pid, p.rss);
        grew = true;
      }
    }
  }
  return inTree;
}

/** Samples the tree below `root` every `everyMs` until stopped; the node process is the one whose command line holds every needle. */
export function watchTree(root: number, needles: string[], everyMs = 100): { stop(): TreeUsage } {
  const usage: TreeUsage = { peakRssMb: 0, peakProcesses: 0, nodePeakMb: undefined, nodePeakFds: undefined };
  let node: string | undefined;
  const sample = (): void => {
    const pids = tree(root);
    let pages = 0;
    for (const rss of pids.values()) pages += rss;
    usage.peakRssMb = Math.max(usage.peakRssMb, (pages * PAGE) / 2 ** 20);
    usage.peakProcesses = Math.max(usage.peakProcesses, pids.size);
    node ??= [...pids.keys()].find((pid) => needles.every((n) => commandLine(pid).includes(n)));
    if (node === undefined) return;
    const fds = openFds(node);
    if (fds !== undefined) usage.nodePeakFds = Math.max(usage.nodePeakFds ?? 0, fds);
    const hwm = vmHwmMb(node);
    if (hwm !== undefined) usage.nodePeakMb = Math.max(usage.nodePeakMb ?? 0, hwm);
  };
  const timer = setInterval(sample, everyMs);
  sample();
  return {
    stop() {
      clearInterval(timer);
      return usage;
    },
  };
}
