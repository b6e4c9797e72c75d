/**
 * npm run bench [-- --files 10000,100000[,1000000] --reps 5 --only push,scale,daemons,watch,bigchange,slots,rollout,badwindow,build --out DIR]
 * npm run bench -- --quick     (the CI smoke run: small, into a temp dir, exit 1 unless it all ran)
 *
 * Side-by-side costs of a deploy, measured in one run on this machine: fanout's git push against
 * the classic script (a full `rsync -rlptgo --delete` per target, one after another), a full rsync
 * to all targets in parallel, and the floor (rsync of exactly the changed files, in parallel, no
 * tool around it; once as a sysadmin runs it, once with fanout's own arguments); the same at 1 to
 * 8 targets; daemons with and without TCP_NODELAY; and `fanout watch` against the classic
 * inotifywait loop and lsyncd. Every scenario ends by checking each approach left its targets
 * equal to its source. Writes DIR/latest.{md,json} and two SVG charts; see README.md, "Benchmark".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pMap from 'p-map';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config.js';
import { MAX_CHANGES } from '../src/deploy-plan.js';
import { filesFromList, planSync, rsyncPasses } from '../src/plan.js';
import { rsyncArgs, rsyncInput } from '../src/rsync-args.js';
import { CLI, createFarm, type Farm } from '../harness/farm.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { assertEqual, canDropCaches, dropCaches, lastDeployMs, pushAll, rsyncTo, timed } from './bench-common.js';
import { daemonScenario } from './bench-daemon.js';
import { watchMatching, watchPid } from './bench-memory.js';
import { CHARTS, markdown, pushChart, scaleChart, type Approach, type MemoryRow, type PushRow, type Results, type ScenarioStatus, type Walk } from './bench-report.js';
import { scaleScenario } from './bench-scale.js';
import { slotsScenario } from './bench-slots.js';
import { badWindowScenario, rolloutLoadScenario } from './bench-rollout.js';
import { buildScenario } from './bench-build.js';
import { phpFpmBinary } from '../harness/phpfpm.js';
import { edit, generateSite, pick } from './bench-site.js';
import { pairedRatio, spread } from './bench-stats.js';
import { watchScenario } from './bench-watch.js';

/** From this many files on, a size is "big": one repetition unless --big-reps says otherwise. */
const BIG = 500_000;

interface Options {
  sizes: number[];
  reps: number;
  bigReps: number;
  coldReps: number;
  changes: number[];
  quick: boolean;
  out: string;
  scenarios: string[];
  scaleFiles: number;
  scaleTargets: number[];
  watchFiles: number;
  burst: number;
  /** target counts for the atomic-releases consistency runs */
  slotTargets: number[];
  /** the site's size in the atomic-releases scenario */
  slotFiles: number;
  /** files one push adds to an already deployed site, in the big-change scenario */
  changeFiles: number[];
}

function parseOptions(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const quick = argv.includes('--quick');
  const list = (text: string | undefined, fallback: number[]): number[] => (text === undefined ? fallback : text.split(',').map(Number));
  const reps = Number(value('reps') ?? (quick ? 2 : 5));
  return {
    quick,
    sizes: list(value('files'), quick ? [1000] : [10_000, 100_000]).sort((a, b) => a - b),
    reps,
    bigReps: Number(value('big-reps') ?? 1),
    coldReps: Number(value('cold-reps') ?? (quick ? 1 : 3)),
    changes: list(value('changes'), quick ? [1, 10] : [1, 10, 1000]),
    // a smoke run must never overwrite the checked-in results
    out: value('out') ?? (quick ? fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-quick-')) : path.resolve('bench-results')),
    scenarios: (value('only') ?? 'push,scale,daemons,watch,bigchange,slots,rollout,badwindow,build').split(','),
    scaleFiles: Number(value('scale-files') ?? (quick ? 1000 : 10_000)),
    scaleTargets: list(value('targets'), quick ? [1, 2] : [1, 2, 4, 8]),
    watchFiles: Number(value('watch-files') ?? (quick ? 1000 : 10_000)),
    burst: Number(value('burst') ?? (quick ? 500 : 10_000)),
    // just past MAX_CHANGES in a smoke run, so CI takes the path a huge push takes
    slotTargets: list(value('slot-targets'), quick ? [3] : [3, 8, 32]),
    slotFiles: Number(value('slot-files') ?? (quick ? 500 : 5000)),
    changeFiles: list(value('change-files'), quick ? [MAX_CHANGES + 1000] : [MAX_CHANGES - 1000, MAX_CHANGES + 1000]),
  };
}

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

/** A push, with the peak memory of the hook's fanout process (started by git, found by its config path). */
async function measuredPush(farm: Farm): Promise<{ ms: number; peakMb: number | undefined }> {
  const memory = watchMatching([farm.configFile, 'hook']);
  try {
    const ms = await timed(() => pushAll(farm, farm.daemons.length));
    return { ms, peakMb: memory.stop() };
  } catch (error) {
    memory.stop();
    throw error;
  }
}

/**
 * The memory of the hook for one push that adds `files` files to a deployed site: named path by
 * path up to MAX_CHANGES, past it git's own two-tree switch and a full pass per target.
 */
async function bigChangeScenario(files: number, say: (line: string) => void): Promise<MemoryRow> {
  const farm: Farm = await createFarm({ targets: 3, firstHost: 160, config: { timeout: 600 } });
  try {
    farm.write({ 'index.html': 'home' });
    await farm.commit('home');
    await pushAll(farm, 3);
    say(`[big change, ${files} files] generating`);
    generateSite(farm.clone, files);
    await farm.commit('a big change');
    say(`[big change, ${files} files] pushing`);
    const push = await measuredPush(farm);
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    const how = files > MAX_CHANGES ? `more than ${MAX_CHANGES}: git's own switch, then a full pass per target` : 'named path by path';
    say(`[big change, ${files} files] ${(push.ms / 1000).toFixed(1)} s, hook peak ${push.peakMb?.toFixed(0) ?? '?'} MB`);
    return { files, what: `git push adding ${files} files to a deployed site (${how})`, ms: push.ms, peakMb: push.peakMb };
  } finally {
    await farm.cleanup();
  }
}

interface PushOutcome {
  rows: PushRow[];
  memory: MemoryRow[];
  walk: Walk;
}

async function pushScenario(options: Options, files: number, cold: boolean, say: (line: string) => void): Promise<PushOutcome> {
  // a generous I/O timeout: a first full pass of a million files is long and quiet
  const farm: Farm = await createFarm({ targets: 3, firstHost: 2, config: { timeout: 600 } });
  const plainRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-plain-'));
  const plainSource = path.join(plainRoot, 'src');
  const plain: Daemon[] = [];
  const memory: MemoryRow[] = [];
  const reps = files >= BIG ? options.bigReps : options.reps;
  const coldReps = cold ? Math.min(options.coldReps, reps) : 0;
  try {
    for (let i = 0; i < 3; i += 1) plain.push(await startDaemon({ hostIndex: 5 + i, root: plainRoot, name: `plain${i + 1}` }));
    say(`[${files} files] generating the site`);
    const sitePaths = generateSite(farm.clone, files);
    await farm.commit('site');
    await execa('rsync', ['-a', '--exclude=/.git', `${farm.clone}/`, `${plainSource}/`]);
    // the plain daemons as fanout's config sees them: for rsync run with fanout's own arguments
    const plainConfig = parseConfig(
      stringify({ repo: path.join(plainRoot, 'unused.git'), source: plainSource, timeout: 600, targets: plain.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })) }),
      path.join(plainRoot, 'fanout.yaml'),
    );
    say(`[${files} files] first deploy to empty targets, and the plain targets' first full syncs`);
    const first = await measuredPush(farm);
    memory.push({ files, what: 'git push: first deploy to 3 empty targets (a full pass)', ms: first.ms, peakMb: first.peakMb });
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));

    const rows: PushRow[] = [];
    for (const changed of options.changes.filter((c) => c <= files)) {
      for (const cache of ['warm', 'cold'] as const) {
        const trials = cache === 'warm' ? reps : changed === 1 ? coldReps : 0;
        if (trials === 0) continue;
        const samples: Record<Approach, number[]> = { fanout: [], hook: [], classic: [], parallel: [], floor: [], floorFanoutArgs: [] };
        let peakMb: number | undefined;
        // a cold trial starts from an empty page cache: the tool, git and every inode read from disk
        const prepare = cache === 'cold' ? dropCaches : async (): Promise<void> => {};
        for (let rep = 0; rep < trials; rep += 1) {
          const round = changed * 1000 + rep + (cache === 'cold' ? 500 : 0);
          const targets = pick(sitePaths, changed, round);
          for (const rel of targets) edit(farm.clone, rel, round);
          await farm.commit(`edit ${round}`);
          await prepare();
          const push = await measuredPush(farm);
          samples.fanout.push(push.ms);
          if (push.peakMb !== undefined) peakMb = Math.max(peakMb ?? 0, push.peakMb);
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
          samples.floorFanoutArgs.push(
            await timed(() => pMap(plainConfig.targets, (target) => execa('rsync', rsyncArgs({ config: plainConfig, target, pass, dryRun: false }), { input: rsyncInput(pass) }))),
          );
        }
        for (const [approach, values] of Object.entries(samples) as [Approach, number[]][]) {
          rows.push({ files, changed, approach, cache, time: spread(values), samples: values, ratioToFanout: pairedRatio(values, samples.fanout) });
        }
        if (cache === 'warm') memory.push({ files, what: `git push of ${changed} changed file${changed === 1 ? '' : 's'} (largest of ${trials})`, ms: spread(samples.fanout).median, peakMb });
        say(`[${files} files, ${changed} changed, ${cache}] ${rows.slice(-Object.keys(samples).length).map((r) => `${r.approach} ${r.time.median.toFixed(0)}ms`).join(', ')}`);
      }
    }

    // a full pass over targets that are already equal: the walk of the whole tree, fanout's worst case
    const full = execa(process.execPath, [CLI, '--config', farm.configFile, 'sync', '--full'], { reject: false });
    const fullMemory = watchPid(full.pid);
    const fullMs = await timed(() => full);
    const fullResult = await full;
    if (fullResult.exitCode !== 0) throw new Error(`fanout sync --full failed:\n${fullResult.stderr}`);
    memory.push({ files, what: 'fanout sync --full (a full pass over equal targets)', ms: fullMs, peakMb: fullMemory.stop() });

    const [probe = ''] = pick(sitePaths, 1, 999_999);
    edit(farm.clone, probe, 999_999);
    await farm.commit('walk probe');
    const fanoutPush = await fsCalls('git', ['push', '-q', 'origin', 'HEAD:main'], farm.clone);
    edit(plainSource, probe, 999_999);
    const [onePlain] = plain;
    const classicOneTarget =
      onePlain === undefined ? undefined : await fsCalls('rsync', ['-rlptgo', '--delete', `--password-file=${onePlain.passwordFile}`, `${plainSource}/`, onePlain.dest]);
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));
    say(`[${files} files] file-system calls for a 1-file change: fanout push (3 targets) ${fanoutPush ?? '?'}, classic rsync (1 target) ${classicOneTarget ?? '?'}`);
    // the benchmark is only worth reading if every approach left its targets equal to its source
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    for (const d of plain) await assertEqual(plainSource, d.dir);
    return { rows, memory, walk: { files, fanoutPush, classicOneTarget } };
  } finally {
    await Promise.all(plain.map((d) => d.stop()));
    fs.rmSync(plainRoot, { recursive: true, force: true });
    await farm.cleanup();
  }
}

async function machine(): Promise<string> {
  const lscpu = await execa('lscpu', [], { reject: false });
  const model = /^Model name:\s*(.+)$/m.exec(lscpu.stdout)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'cpu';
  return `${os.cpus().length} cores (nproc) of ${model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`;
}

/** Replaced whole, never appended to: a reader (or an interrupted run) never sees half a report twice. */
function writeAtomically(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function writeReport(out: string, results: Results): void {
  fs.mkdirSync(out, { recursive: true });
  const push = pushChart(results);
  if (push !== undefined) writeAtomically(path.join(out, CHARTS.push), push);
  const scale = scaleChart(results);
  if (scale !== undefined) writeAtomically(path.join(out, CHARTS.scale), scale);
  writeAtomically(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeAtomically(path.join(out, 'latest.md'), markdown(results));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const say = (line: string): void => {
    console.log(line);
  };
  const cold = await canDropCaches();
  const results: Results = {
    date: new Date().toISOString(),
    machine: await machine(),
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
    coldCache: cold,
    push: [],
    memory: [],
    walks: [],
    scale: [],
    daemons: [],
    watch: [],
    burstLimitMs: options.quick ? 60_000 : 120_000,
    scenarios: [],
  };
  const scenario = async (name: string, enabled: boolean, body: () => Promise<string>): Promise<void> => {
    if (!enabled) {
      results.scenarios.push({ name, status: 'skipped', note: 'not selected (--only)' });
      return;
    }
    const started = performance.now();
    let status: ScenarioStatus;
    try {
      const note = await body();
      status = { name, status: 'done', note: `${note}${note === '' ? '' : '; '}${((performance.now() - started) / 1000).toFixed(0)} s` };
    } catch (error) {
      status = { name, status: 'failed', note: error instanceof Error ? error.message : String(error) };
      say(`[${name}] FAILED: ${status.note}`);
    }
    results.scenarios.push(status);
    writeReport(options.out, results);
  };
  const push = async (files: number): Promise<string> => {
    const outcome = await pushScenario(options, files, cold, say);
    results.push.push(...outcome.rows);
    results.memory.push(...outcome.memory);
    results.walks.push(outcome.walk);
    return 'every target equal to its source';
  };
  const wanted = (name: string): boolean => options.scenarios.includes(name);

  // big sites last: the small ones, scale-out and watch are in the report even if a million files do not finish
  for (const files of options.sizes.filter((f) => f < BIG)) await scenario(`push, ${files} files`, wanted('push'), () => push(files));
  await scenario(`scale-out, ${options.scaleFiles} files, ${options.scaleTargets.join('/')} targets`, wanted('scale'), async () => {
    results.scale = await scaleScenario({ files: options.scaleFiles, counts: options.scaleTargets, reps: options.reps, firstHost: 30 }, say);
    return 'every target equal to its source';
  });
  await scenario(`daemon socket options, ${options.scaleFiles} files`, wanted('daemons'), async () => {
    results.daemons = await daemonScenario({ files: options.scaleFiles, reps: options.reps * 2, firstHost: 50 }, say);
    return 'every target equal to its source';
  });
  await scenario(`watch, ${options.watchFiles} files, burst of ${options.burst}`, wanted('watch'), async () => {
    results.watch = await watchScenario(
      {
        files: options.watchFiles,
        latencyTrials: options.quick ? 3 : 20,
        burstFiles: options.burst,
        burstLimitMs: results.burstLimitMs,
        generateSite,
        firstHost: 10,
        lsyncdDefaultDelay: !options.quick,
      },
      say,
    );
    const broken = results.watch.filter((w) => !w.completed && !w.note.startsWith('skipped'));
    if (broken.length > 0) throw new Error(`did not complete: ${broken.map((w) => `${w.approach} (${w.note})`).join('; ')}`);
    return results.watch.filter((w) => w.note.startsWith('skipped')).map((w) => `${w.approach} ${w.note}`).join('; ');
  });
  for (const files of options.sizes.filter((f) => f >= BIG)) await scenario(`push, ${files} files`, wanted('push'), () => push(files));
  await scenario(`atomic releases, ${options.slotTargets.join('/')} targets`, wanted('slots'), async () => {
    results.slots = await slotsScenario(
      { files: options.slotFiles, changed: Math.min(options.quick ? 400 : 4000, Math.floor(options.slotFiles * 0.8)), counts: options.slotTargets, reps: options.reps, firstHost: 200, rollbackTargets: options.quick ? 3 : 8 },
      say,
    );
    const mixed = results.slots.consistency.filter((r) => r.layout === 'slots' && r.mixed > 0);
    if (mixed.length > 0) throw new Error(`mixed reads with slots: ${mixed.map((r) => `${r.mixed} on ${r.targets} targets`).join(', ')}`);
    return 'every target equal to its source; no mixed read with slots';
  });
  await scenario(`health-gated rollout under load, ${options.quick ? 3 : 20} deploys`, wanted('rollout'), async () => {
    if (phpFpmBinary() === undefined) throw new Error('php-fpm is not installed (scripts/setup installs it)');
    results.rollout = await rolloutLoadScenario({ deploys: options.quick ? 3 : 20, firstHost: 233 }, say);
    const bad = results.rollout.filter((r) => r.non2xx + r.mixed + r.stale > 0);
    if (bad.length > 0) throw new Error(`under load: ${bad.map((r) => `${r.opcache}: ${r.non2xx} not 2xx, ${r.mixed} mixed, ${r.stale} stale`).join('; ')}`);
    return 'every response 2xx and from a live release';
  });
  await scenario(`the bad window of a failed release, ${options.quick ? 1 : 5} each way`, wanted('badwindow'), async () => {
    results.badWindow = await badWindowScenario({ deploys: options.quick ? 1 : 5, firstHost: 230 }, say);
    return 'every failed release rolled back from every host';
  });
  await scenario(`build on the update server, ${options.quick ? 500 : 10_000} pages`, wanted('build'), async () => {
    results.build = await buildScenario({ pages: options.quick ? 500 : 10_000, reps: options.quick ? 1 : 3, firstHost: 236 }, say);
    if (results.build.fanoutSent !== 1) throw new Error(`fanout sent ${results.build.fanoutSent} files for one edited page`);
    return 'every target equal to its source; one page edited, one file sent';
  });
  for (const files of options.changeFiles) {
    await scenario(`one push adding ${files} files`, wanted('bigchange'), async () => {
      results.memory.push(await bigChangeScenario(files, say));
      return 'every target equal to its source';
    });
  }

  writeReport(options.out, results);
  console.log(`\n${markdown(results)}\nwritten to ${options.out}`);
  const failed = results.scenarios.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    console.error(`benchmark: ${failed.length} scenario(s) failed: ${failed.map((s) => s.name).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
