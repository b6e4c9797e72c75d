/**
 * The push scenario: fanout's git push of 1, 10 and 1,000 changed files against the classic script,
 * a full rsync to all targets in parallel and the floor, warm and cold, with the hook's memory and
 * the file-system calls each makes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pMap from 'p-map';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../src/base/config.js';
import { planSync, rsyncPasses } from '../src/engine/sync-plan.js';
import { filesFromList } from '../src/transport/rsync-pass.js';
import { rsyncArgs, rsyncInput } from '../src/transport/rsync-args.js';
import { CLI, createFarm, type Farm } from '../harness/farm.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { assertEqual, dropCaches, lastDeployMs, measuredPush, rsyncTo, timed } from './lab/common.js';
import { watchPid } from './lab/memory.js';
import type { Options } from './lab/options.js';
import type { Approach, MemoryRow, PushRow, Walk } from './lab/report.js';
import { edit, generateSite, pick } from './lab/site.js';
import { pairedRatio, spread } from './lab/stats.js';

/** From this many files on, a size is "big": one repetition unless --big-reps says otherwise. */
export const BIG = 500_000;

/**
 * File-system calls (directory reads, stats, opens) made on the update server by one command and
 * its children, counted by strace: the walk a deploy makes, independent of machine noise.
 */
async function fsCalls(command: string, args: string[], cwd?: string): Promise<number | undefined> {
  const out = path.join(os.tmpdir(), `fanout-bench-strace-${process.pid}.txt`);
  try {
    await execa('strace', ['-f', '-c', '-o', out, '-e', 'trace=getdents64,newfstatat,lstat,stat,statx,openat', command, ...args], { cwd });
    const total = /(\d+)\s+\d*\s*total/.exec(fs.readFileSync(out, 'utf8'));
    return total ? Number(total[1]) : undefined;
  } catch {
    return undefined; // strace missing or not permitted here
  } finally {
    fs.rmSync(out, { force: true });
  }
}

export interface PushOutcome {
  rows: PushRow[];
  memory: MemoryRow[];
  walk: Walk;
}

/** The fanout farm and the plain daemons the other approaches write to, with the site in both sources. */
interface PushLab {
  files: number;
  farm: Farm;
  plain: Daemon[];
  plainSource: string;
  /** the plain daemons as fanout's config sees them: for rsync run with fanout's own arguments */
  plainConfig: Config;
  sitePaths: string[];
  /** a bare repository with no hook, configured as `fanout init` configures the farm's: git's own part of a push */
  twinRemote: string;
}

export async function pushScenario(options: Options, files: number, cold: boolean, say: (line: string) => void): Promise<PushOutcome> {
  // a generous I/O timeout: a first full pass of a million files is long and quiet
  const farm: Farm = await createFarm({ targets: 3, firstHost: 2, config: { timeout: 600 } });
  const plainRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-plain-'));
  const plainSource = path.join(plainRoot, 'src');
  const plain: Daemon[] = [];
  try {
    for (let i = 0; i < 3; i += 1) plain.push(await startDaemon({ hostIndex: 5 + i, root: plainRoot, name: `plain${i + 1}` }));
    say(`[${files} files] generating the site`);
    const sitePaths = generateSite(farm.clone, files);
    await farm.commit('site');
    await execa('rsync', ['-a', '--exclude=/.git', `${farm.clone}/`, `${plainSource}/`]);
    const plainConfig = parseConfig(
      stringify({ repo: path.join(plainRoot, 'unused.git'), source: plainSource, timeout: 600, targets: plain.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })) }),
      path.join(plainRoot, 'fanout.yaml'),
    );
    const lab: PushLab = { files, farm, plain, plainSource, plainConfig, sitePaths, twinRemote: await hooklessTwin(farm, plainRoot) };
    say(`[${files} files] first deploy to empty targets, and the plain targets' first full syncs`);
    const first = await measuredPush(farm);
    const memory: MemoryRow[] = [{ files, what: 'git push: first deploy to 3 empty targets (a full pass)', ms: first.ms, peakMb: first.peakMb }];
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));
    const reps = files >= BIG ? options.bigReps : options.reps;
    const changes = await measureChanges(lab, options.changes, reps, cold ? Math.min(options.coldReps, reps) : 0, say);
    memory.push(...changes.memory, await fullPassMemory(lab));
    const walk = await walkProbe(lab, say);
    // the benchmark is only worth reading if every approach left its targets equal to its source
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    for (const d of plain) await assertEqual(plainSource, d.dir);
    return { rows: changes.rows, memory, walk };
  } finally {
    await Promise.all(plain.map((d) => d.stop()));
    fs.rmSync(plainRoot, { recursive: true, force: true });
    await farm.cleanup();
  }
}

/** A bare repository beside the farm's, with its receive settings but no hook, holding what the farm's holds: its remote's name in the clone. */
async function hooklessTwin(farm: Farm, root: string): Promise<string> {
  const twin = path.join(root, 'twin.git');
  await execa('git', ['init', '-q', '--bare', twin]);
  const fsck = await execa('git', ['-C', farm.repo, 'config', '--get', 'receive.fsckObjects'], { reject: false });
  if (fsck.stdout.trim() !== '') await execa('git', ['-C', twin, 'config', 'receive.fsckObjects', fsck.stdout.trim()]);
  await farm.git(['remote', 'add', 'twin', twin]);
  await pushToTwin(farm, 'twin');
  return 'twin';
}

/** The clone's HEAD pushed to the hookless twin, failing loudly: a failed push would be a fast one. */
async function pushToTwin(farm: Farm, remote: string): Promise<void> {
  const pushed = await farm.git(['push', '-q', remote, 'HEAD:main']);
  if (pushed.exitCode !== 0) throw new Error(`push to the hookless twin failed: ${pushed.stderr}`);
}

/** Every approach for 1, 10 and 1,000 changed files, warm and (for one file) cold: the rows, and the hook's memory. */
async function measureChanges(lab: PushLab, changes: readonly number[], reps: number, coldReps: number, say: (line: string) => void): Promise<{ rows: PushRow[]; memory: MemoryRow[] }> {
  const { files } = lab;
  const rows: PushRow[] = [];
  const memory: MemoryRow[] = [];
  for (const changed of changes.filter((c) => c <= files)) {
    for (const cache of ['warm', 'cold'] as const) {
      const trials = cache === 'warm' ? reps : changed === 1 ? coldReps : 0;
      if (trials === 0) continue;
      const samples: Record<Approach, number[]> = { fanout: [], gitAlone: [], hook: [], classic: [], parallel: [], floor: [], floorFanoutArgs: [], floorWithoutDelay: [] };
      let peakMb: number | undefined;
      for (let rep = 0; rep < trials; rep += 1) {
        const peak = await oneRound(lab, samples, changed * 1000 + rep + (cache === 'cold' ? 500 : 0), changed, cache);
        if (peak !== undefined) peakMb = Math.max(peakMb ?? 0, peak);
      }
      for (const [approach, values] of Object.entries(samples) as [Approach, number[]][]) {
        rows.push({ files, changed, approach, cache, time: spread(values), samples: values, ratioToFanout: pairedRatio(values, samples.fanout) });
      }
      if (cache === 'warm') memory.push({ files, what: `git push of ${changed} changed file${changed === 1 ? '' : 's'} (largest of ${trials})`, ms: spread(samples.fanout).median, peakMb });
      say(`[${files} files, ${changed} changed, ${cache}] ${rows.slice(-Object.keys(samples).length).map((r) => `${r.approach} ${r.time.median.toFixed(0)}ms`).join(', ')}`);
    }
  }
  return { rows, memory };
}

/** One round: the same `changed` files edited, then sent by each approach in turn; the hook's peak memory. */
async function oneRound(lab: PushLab, samples: Record<Approach, number[]>, round: number, changed: number, cache: 'warm' | 'cold'): Promise<number | undefined> {
  const { farm, plain, plainSource, plainConfig } = lab;
  // a cold trial starts from an empty page cache: the tool, git and every inode read from disk
  const prepare = cache === 'cold' ? dropCaches : async (): Promise<void> => {};
  const targets = pick(lab.sitePaths, changed, round);
  for (const rel of targets) edit(farm.clone, rel, round);
  await farm.commit(`edit ${round}`);
  await prepare();
  samples.gitAlone.push(await timed(() => pushToTwin(farm, lab.twinRemote)));
  await prepare();
  const push = await measuredPush(farm);
  samples.fanout.push(push.ms);
  samples.hook.push(lastDeployMs(farm));
  for (const rel of targets) edit(plainSource, rel, round);
  await prepare();
  samples.classic.push(
    await timed(async () => {
      for (const d of plain) await rsyncTo(d, plainSource, ['--delete']);
    }),
  );
  for (const rel of targets) edit(plainSource, rel, round + 0.5);
  await prepare();
  samples.parallel.push(await timed(() => Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])))));
  for (const rel of targets) edit(plainSource, rel, round + 0.25);
  const list = filesFromList({ kind: 'send', paths: targets });
  await prepare();
  samples.floor.push(await timed(() => pMap(plain, (d) => rsyncTo(d, plainSource, ['--files-from=-', '--from0'], list))));
  for (const rel of targets) edit(plainSource, rel, round + 0.125);
  const plan = planSync({ changes: targets.map((rel) => ({ status: 'M', path: rel })) });
  if (plan.kind !== 'paths') throw new Error(`no paths plan for ${targets.join(', ')}`);
  const [pass] = rsyncPasses(plan);
  if (pass === undefined) throw new Error(`no rsync pass for ${targets.join(', ')}`);
  await prepare();
  const fanoutArgs = (target: Config['targets'][number]): string[] => rsyncArgs({ config: plainConfig, target, pass, dryRun: false });
  samples.floorFanoutArgs.push(await timed(() => pMap(plainConfig.targets, (target) => execa('rsync', fanoutArgs(target), { input: rsyncInput(pass) }))));
  // what the narrower window of a tree that is served costs: the files put in place together at the end
  for (const rel of targets) edit(plainSource, rel, round + 0.375);
  await prepare();
  samples.floorWithoutDelay.push(await timed(() => pMap(plainConfig.targets, (target) => execa('rsync', fanoutArgs(target).filter((arg) => arg !== '--delay-updates'), { input: rsyncInput(pass) }))));
  return push.peakMb;
}

/** A full pass over targets that are already equal: the walk of the whole tree, fanout's worst case. */
async function fullPassMemory({ files, farm }: PushLab): Promise<MemoryRow> {
  const full = execa(process.execPath, [CLI, '--config', farm.configFile, 'sync', '--full'], { reject: false });
  const fullMemory = watchPid(full.pid);
  const fullMs = await timed(() => full);
  const fullResult = await full;
  if (fullResult.exitCode !== 0) throw new Error(`fanout sync --full failed:\n${fullResult.stderr}`);
  return { files, what: 'fanout sync --full (a full pass over equal targets)', ms: fullMs, peakMb: fullMemory.stop() };
}

/** The file-system calls a 1-file change costs: fanout's push to 3 targets, the classic rsync to one. */
async function walkProbe({ files, farm, plain, plainSource, sitePaths }: PushLab, say: (line: string) => void): Promise<Walk> {
  const [probe = ''] = pick(sitePaths, 1, 999_999);
  edit(farm.clone, probe, 999_999);
  await farm.commit('walk probe');
  const fanoutPush = await fsCalls('git', ['push', '-q', 'origin', 'HEAD:main'], farm.clone);
  edit(plainSource, probe, 999_999);
  const [onePlain] = plain;
  const classicOneTarget = onePlain === undefined ? undefined : await fsCalls('rsync', ['-rlptgo', '--delete', `--password-file=${onePlain.passwordFile}`, `${plainSource}/`, onePlain.dest]);
  await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));
  say(`[${files} files] file-system calls for a 1-file change: fanout push (3 targets) ${fanoutPush ?? '?'}, classic rsync (1 target) ${classicOneTarget ?? '?'}`);
  return { files, fanoutPush, classicOneTarget };
}
