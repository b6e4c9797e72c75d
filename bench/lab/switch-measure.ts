/**
 * The switch of `current` at scale, measured from outside fanout: a deploy with `layout: slots`
 * and rollbacks that are only a switch, each run as `node dist/cli.js ...` by this process, so that
 * its process tree can be watched while it runs. Read from the history: each switch's skew (first
 * target switched to the last) and when the last target switched. Sampled from /proc: the peak of
 * processes in fanout's tree (rsyncs among them), of descriptors open in the node process, and of
 * resident memory summed over the tree. Any farm will do (one daemon a target, or many modules a
 * daemon): the caller has deployed nothing yet and names two commits of its repository.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { HistoryEntry } from '../../src/engine/journal.js';
import { spread, type Spread } from './stats.js';

/** What fanout's process tree held at one moment, or at its peak (each field its own peak). */
export interface TreeSample {
  /** processes below the node process: rsyncs, ssh, git, hooks */
  processes: number;
  rsyncs: number;
  /** descriptors open in the node process */
  fds: number;
  /** resident memory summed over the node process and its tree, MB (shared pages counted in each) */
  rssMb: number;
  /** the same, each shared page divided among the processes that share it (Pss), MB; 0 when not sampled */
  pssMb: number;
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined; // gone while we looked
  }
}

/** Every process below `pid`: its children (of every thread), theirs, and so on. */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const walk = (parent: number): void => {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      for (const child of (read(`/proc/${parent}/task/${task}/children`) ?? '').split(' ').filter((c) => c !== '')) {
        found.push(Number(child));
        walk(Number(child));
      }
    }
  };
  walk(pid);
  return found;
}

const PAGE_MB = 4096 / 2 ** 20;

/** Pss of one process, MB: its own pages, and its share of those it shares (the kernel walks its page tables: not every sample). */
function pssMb(pid: number): number {
  const kb = /^Pss:\s+(\d+) kB/m.exec(read(`/proc/${pid}/smaps_rollup`) ?? '')?.[1];
  return kb === undefined ? 0 : Number(kb) / 1024;
}

/** The tree of `pid` now; with `proportional`, its Pss too. */
export function sampleTree(pid: number, proportional = false): TreeSample {
  const below = descendants(pid);
  let fds = 0;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // exited
  }
  let pages = 0;
  let pss = 0;
  let rsyncs = 0;
  for (const p of [pid, ...below]) {
    pages += Number((read(`/proc/${p}/statm`) ?? '0 0').split(' ')[1] ?? 0);
    if (proportional) pss += pssMb(p);
    if (p !== pid && (read(`/proc/${p}/comm`) ?? '').trim() === 'rsync') rsyncs += 1;
  }
  return { processes: below.length, rsyncs, fds, rssMb: pages * PAGE_MB, pssMb: pss };
}

const NOTHING: TreeSample = { processes: 0, rsyncs: 0, fds: 0, rssMb: 0, pssMb: 0 };

function peakOf(a: TreeSample, b: TreeSample): TreeSample {
  return { processes: Math.max(a.processes, b.processes), rsyncs: Math.max(a.rsyncs, b.rsyncs), fds: Math.max(a.fds, b.fds), rssMb: Math.max(a.rssMb, b.rssMb), pssMb: Math.max(a.pssMb, b.pssMb) };
}

export interface SampledRun {
  /** from the start of the command to its exit */
  ms: number;
  startedAt: number;
  exitCode: number;
  output: string;
  peak: TreeSample;
}

/** Run fanout with these arguments, its tree sampled every `everyMs` (Pss every fifth time) until it exits. */
export async function runSampled(cli: string, args: readonly string[], everyMs = 20): Promise<SampledRun> {
  const startedAt = Date.now();
  const child = execa(process.execPath, [cli, ...args], { reject: false, all: true });
  const pid = child.pid;
  let peak = NOTHING;
  let tick = 0;
  const timer = setInterval(() => {
    tick += 1;
    if (pid !== undefined) peak = peakOf(peak, sampleTree(pid, tick % 5 === 0));
  }, everyMs);
  try {
    const done = await child;
    return { ms: Date.now() - startedAt, startedAt, exitCode: done.exitCode ?? -1, output: done.all, peak };
  } finally {
    clearInterval(timer);
  }
}

export interface SwitchScaleInput {
  /** dist/cli.js of the fanout to measure */
  cli: string;
  configFile: string;
  /** the state directory, where history.ndjson is */
  stateDir: string;
  targets: number;
  /** two commits of the repository: `a` is deployed, then `b`, then rollbacks go between them */
  commits: { a: string; b: string };
  /** rollbacks measured */
  reps: number;
  say: (line: string) => void;
}

export interface SwitchScaleResult {
  targets: number;
  /** the deploy of `b` (staging into the second slot, then the switch) */
  deploy: { ms: number; skewMs: number | undefined; peak: TreeSample };
  /** rollbacks that are only a switch: the command, its start to the last target switched, the skew */
  rollback: { command: Spread; lastSwitch: Spread; skew: Spread; peak: TreeSample };
}

function lastEntry(stateDir: string): HistoryEntry | undefined {
  const lines = fs.readFileSync(path.join(stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
  const last = lines.at(-1);
  return last === undefined || last === '' ? undefined : (JSON.parse(last) as HistoryEntry);
}

/** A run that must have switched every target: its history entry, or an error saying what it printed. */
function switchedAll(input: SwitchScaleInput, run: SampledRun, what: string): NonNullable<HistoryEntry['switch']> {
  const entry = lastEntry(input.stateDir);
  const switched = entry?.switch;
  if (run.exitCode !== 0 || switched === undefined || switched.switched !== input.targets) throw new Error(`${what} on ${input.targets} targets did not switch them all (exit ${run.exitCode}):\n${run.output.slice(-3000)}`);
  return switched;
}

/** Deploy a, deploy b (measured), then `reps` rollbacks alternating between them (measured). */
export async function measureSwitchAtScale(input: SwitchScaleInput): Promise<SwitchScaleResult> {
  const { cli, configFile, targets, commits, say } = input;
  const fanout = (args: string[]): Promise<SampledRun> => runSampled(cli, ['--config', configFile, ...args]);
  say(`[switch] ${targets} targets: first deploy (slot 1 on every target)`);
  switchedAll(input, await fanout(['deploy', commits.a]), 'the first deploy');
  say(`[switch] ${targets} targets: a deploy staging slot 2, then the switch`);
  const deploy = await fanout(['deploy', commits.b]);
  const deploySwitch = switchedAll(input, deploy, 'the deploy');
  const command: number[] = [];
  const lastSwitch: number[] = [];
  const skew: number[] = [];
  let peak = NOTHING;
  say(`[switch] ${targets} targets: ${input.reps} rollbacks that are only a switch`);
  for (let rep = 0; rep < input.reps; rep += 1) {
    const to = rep % 2 === 0 ? commits.a : commits.b;
    const run = await fanout(['rollback', to]);
    const switched = switchedAll(input, run, `the rollback to ${to.slice(0, 10)}`);
    if ((lastEntry(input.stateDir)?.targets ?? []).some((t) => t.sent > 0)) throw new Error(`the rollback to ${to.slice(0, 10)} sent files: not a switch alone`);
    command.push(run.ms);
    lastSwitch.push(Date.parse(switched.at) + switched.skewMs - run.startedAt);
    skew.push(switched.skewMs);
    peak = peakOf(peak, run.peak);
  }
  return { targets, deploy: { ms: deploy.ms, skewMs: deploySwitch.skewMs, peak: deploy.peak }, rollback: { command: spread(command), lastSwitch: spread(lastSwitch), skew: spread(skew), peak } };
}
