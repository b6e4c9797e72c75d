/**
 * Where a deploy's time went, from fanout's own log (fanout.log in the state directory): each
 * target's line ("target done", or "slot staged" with slots) says when it finished and how long its
 * rsync ran. From them: the span of the transfer (first rsync started to last target done), how
 * busy the `concurrency` slots were with rsync in that span, and what each target cost a slot
 * besides its rsync (journal writes, spawning, scheduling). The reading is pure; only
 * `readLastDeploy` touches the file.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface TargetLine {
  target: string;
  /** when its line was logged: after its rsync, and after the journal recorded it */
  endMs: number;
  /** its rsync passes, as fanout timed them */
  durationMs: number;
}

export interface DeployLines {
  deployId: number;
  startedMs: number;
  finishedMs: number;
  targets: TargetLine[];
}

export interface Occupancy {
  targets: number;
  /** from the first rsync's start to the last target's line */
  transferMs: number;
  /** the deploy outside that span: lock, plan, checkout, preflight, switch, the last journal write */
  outsideMs: number;
  /** rsync's share of the slots' time in the span: sum of rsync durations / (slots × span) */
  occupancy: number;
  /** what a target costs a slot besides its rsync: (slots × span − sum of rsync durations) / targets */
  overheadMs: number;
  /** the median target's rsync */
  rsyncMedianMs: number;
}

interface Record {
  msg?: string;
  time?: string;
  deployId?: number;
  target?: string;
  durationMs?: number;
}

function parsed(line: string): Record | undefined {
  try {
    return JSON.parse(line) as Record;
  } catch {
    return undefined;
  }
}

/** The last deploy in the log's lines, or undefined when no deploy both started and finished. */
export function lastDeploy(lines: readonly string[]): DeployLines | undefined {
  let current: DeployLines | undefined;
  let finished: DeployLines | undefined;
  for (const line of lines) {
    const r = parsed(line);
    if (r?.time === undefined) continue;
    const at = Date.parse(r.time);
    if (r.msg === 'deploy started' && r.deployId !== undefined) current = { deployId: r.deployId, startedMs: at, finishedMs: Number.NaN, targets: [] };
    else if ((r.msg === 'target done' || r.msg === 'slot staged') && current !== undefined && r.target !== undefined) current.targets.push({ target: r.target, endMs: at, durationMs: r.durationMs ?? 0 });
    else if (r.msg === 'deploy finished' && current !== undefined && r.deployId === current.deployId) finished = { ...current, finishedMs: at };
  }
  return finished;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** How busy a deploy kept its `concurrency` slots, from its targets' lines. */
export function occupancyOf(deploy: DeployLines, concurrency: number): Occupancy | undefined {
  const { targets } = deploy;
  if (targets.length === 0) return undefined;
  const first = Math.min(...targets.map((t) => t.endMs - t.durationMs));
  const last = Math.max(...targets.map((t) => t.endMs));
  const transferMs = Math.max(1, last - first);
  const slots = Math.min(concurrency, targets.length);
  const rsyncMs = targets.reduce((sum, t) => sum + t.durationMs, 0);
  return {
    targets: targets.length,
    transferMs,
    outsideMs: deploy.finishedMs - deploy.startedMs - transferMs,
    occupancy: rsyncMs / (slots * transferMs),
    overheadMs: Math.max(0, slots * transferMs - rsyncMs) / targets.length,
    rsyncMedianMs: median(targets.map((t) => t.durationMs)),
  };
}

/** The last deploy in a state directory's log. */
export function readLastDeploy(stateDir: string): DeployLines | undefined {
  return lastDeploy(fs.readFileSync(path.join(stateDir, 'fanout.log'), 'utf8').split('\n'));
}
