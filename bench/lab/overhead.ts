/**
 * What fanout spends around its rsyncs, read from its own log (`<stateDir>/fanout.log`): per deploy,
 * the time each target held a slot of `concurrency` against the lifetimes of the rsyncs it ran
 * there, and how many rsyncs ran at once while the transfers lasted. Pure: the log's text in,
 * numbers out, so that any scenario (or another lab) can call it after its pushes and a unit test
 * can check it.
 *
 * The log lines it reads: `deploy started` (deployId, concurrency), `rsync` (target, pass, dryRun,
 * startedAt in epoch ms, lifetimeMs: from its start to fanout seeing it exit), `target done` or
 * `slot staged` (target, tookMs: its whole part of the deploy) and `deploy finished`, each with the
 * pid of the fanout process that wrote it.
 */
import { median } from './stats.js';

export interface DeployOverhead {
  deployId: number;
  concurrency: number;
  /** targets that ran at least one rsync in their slot */
  targets: number;
  /** median over those targets of (slot time - the lifetimes of its rsyncs) / those lifetimes */
  overheadShare: number;
  /** the same, in milliseconds */
  overheadMs: number;
  /** median over targets of the lifetimes of its rsyncs, ms */
  rsyncMs: number;
  /** from the first transfer rsync's start to the last one's end, ms */
  transferMs: number;
  /** the rsyncs of the transfers running at once, on average over the transfer phase */
  meanRunning: number;
  /** the same, while a target still waited for a slot (first start to the last target's start) */
  meanRunningWhileQueued: number;
  /** what could run at once: concurrency, or fewer targets */
  slots: number;
  /**
   * the share of the transfer phase fanout's event loop was busy (node's own eventLoopUtilization):
   * an rsync that exits meanwhile is seen to, and its lifetime counted, only once it is free
   */
  eventLoopBusy: number | undefined;
}

interface RsyncLine {
  target: string;
  start: number;
  lifetime: number;
}

interface TargetLine {
  target: string;
  end: number;
  took: number;
}

interface DeployLines {
  deployId: number;
  concurrency: number;
  rsyncs: RsyncLine[];
  done: TargetLine[];
  /** each transfer phase's eventLoopBusy, with its length */
  phases: { busy: number; ms: number }[];
}

/** How late a log time (ms resolution) may put an rsync's start before its target's slot began. */
const SLACK_MS = 2;

/** Every finished deploy in the log, with what its transfers cost around their rsyncs; deploys without a transfer left out. */
export function deployOverheads(logText: string): DeployOverhead[] {
  return deploysIn(logText)
    .map(overheadOf)
    .filter((d): d is DeployOverhead => d !== undefined);
}

function deploysIn(logText: string): DeployLines[] {
  const open = new Map<number, DeployLines>();
  const finished: DeployLines[] = [];
  for (const line of logText.split('\n')) {
    const record = parsed(line);
    if (record === undefined) continue;
    const pid = Number(record.pid);
    if (record.msg === 'deploy started' && record.dryRun !== true) {
      open.set(pid, { deployId: Number(record.deployId), concurrency: Number(record.concurrency ?? 8), rsyncs: [], done: [], phases: [] });
      continue;
    }
    const deploy = open.get(pid);
    if (deploy === undefined) continue;
    if (record.msg === 'rsync' && record.dryRun !== true) deploy.rsyncs.push({ target: String(record.target), start: Number(record.startedAt), lifetime: Number(record.lifetimeMs) });
    else if ((record.msg === 'target done' || record.msg === 'slot staged') && record.tookMs !== undefined) deploy.done.push({ target: String(record.target), end: Date.parse(String(record.time)), took: Number(record.tookMs) });
    else if (record.msg === 'transfers done' && record.eventLoopBusy !== undefined) deploy.phases.push({ busy: Number(record.eventLoopBusy), ms: Number(record.durationMs) });
    else if (record.msg === 'deploy finished') {
      finished.push(deploy);
      open.delete(pid);
    }
  }
  return finished;
}

function parsed(line: string): Record<string, unknown> | undefined {
  if (line.trim() === '') return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function overheadOf(deploy: DeployLines): DeployOverhead | undefined {
  const slots = deploy.done
    .map((done) => {
      const begun = done.end - done.took;
      const rsyncs = deploy.rsyncs.filter((r) => r.target === done.target && r.start >= begun - SLACK_MS && r.start <= done.end);
      return { begun, took: done.took, rsyncs };
    })
    .filter((s) => s.rsyncs.length > 0);
  if (slots.length === 0) return undefined;
  const lived = (s: (typeof slots)[number]): number => s.rsyncs.reduce((sum, r) => sum + r.lifetime, 0);
  const transfers = slots.flatMap((s) => s.rsyncs);
  const first = Math.min(...transfers.map((r) => r.start));
  const last = Math.max(...transfers.map((r) => r.start + r.lifetime));
  const lastQueued = Math.max(...slots.map((s) => s.begun));
  return {
    deployId: deploy.deployId,
    concurrency: deploy.concurrency,
    targets: slots.length,
    overheadShare: median(slots.map((s) => (s.took - lived(s)) / lived(s))),
    overheadMs: median(slots.map((s) => s.took - lived(s))),
    rsyncMs: median(slots.map(lived)),
    transferMs: last - first,
    meanRunning: runningBetween(transfers, first, last),
    meanRunningWhileQueued: lastQueued > first ? runningBetween(transfers, first, lastQueued) : runningBetween(transfers, first, last),
    slots: Math.min(deploy.concurrency, slots.length),
    eventLoopBusy: busyShare(deploy.phases),
  };
}

/** The event loop's busy share over the transfer phases, weighted by their lengths. */
function busyShare(phases: readonly { busy: number; ms: number }[]): number | undefined {
  const ms = phases.reduce((sum, p) => sum + p.ms, 0);
  return ms > 0 ? phases.reduce((sum, p) => sum + p.busy * p.ms, 0) / ms : undefined;
}

/** The rsyncs running at once, on average between two times: the time each spent in the window, over its length. */
export function runningBetween(rsyncs: readonly { start: number; lifetime: number }[], from: number, to: number): number {
  if (to <= from) return Number.NaN;
  const inside = rsyncs.reduce((sum, r) => sum + Math.max(0, Math.min(to, r.start + r.lifetime) - Math.max(from, r.start)), 0);
  return inside / (to - from);
}
