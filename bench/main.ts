/**
 * npm run bench [-- --files 10000,100000[,1000000] --reps 5 --only push,scale,overhead,daemons,watch,bigchange,slots,switch,rollout,badwindow,build,farm --out DIR]
 * npm run bench -- --quick     (the CI smoke run: small, into a temp dir, exit 1 unless it all ran)
 *
 * Side-by-side costs of a deploy, measured in one run on this machine: fanout's git push against
 * the classic script (a full `rsync -rlptgo --delete` per target, one after another), a full rsync
 * to all targets in parallel, and the floor (rsync of exactly the changed files, in parallel, no
 * tool around it; once as a sysadmin runs it, once with fanout's own arguments); the same at 1 to
 * 8 targets; fanout's own time around each rsync at 50 targets (read from its log); daemons with
 * and without TCP_NODELAY; and `fanout watch` against the classic
 * inotifywait loop and lsyncd. Every scenario ends by checking each approach left its targets
 * equal to its source. Writes DIR/latest.{md,json} and two SVG charts; see docs/benchmark.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { phpFpmBinary } from '../harness/phpfpm.js';
import { bigChangeScenario } from './bigchange.js';
import { buildScenario } from './build.js';
import { daemonScenario } from './daemon.js';
import { farmScaleScenario } from './farm-scale.js';
import { canDropCaches } from './lab/common.js';
import { inPrivateNetns, loopbackUp, reexecInNetns } from './lab/netns.js';
import { parseOptions, type Options } from './lab/options.js';
import { CHARTS, farmChart, markdown, pushChart, scaleChart, type Results, type ScenarioStatus } from './lab/report.js';
import { generateSite } from './lab/site.js';
import { BIG, pushScenario } from './push.js';
import { badWindowScenario, rolloutLoadScenario } from './rollout.js';
import { overheadScenario } from './overhead.js';
import { scaleScenario } from './scale.js';
import { slotsScenario } from './slots.js';
import { switchScenario } from './switch.js';
import { watchScenario } from './watch.js';

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
  const farm = farmChart(results);
  if (farm !== undefined) writeAtomically(path.join(out, CHARTS.farm), farm);
  writeAtomically(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeAtomically(path.join(out, 'latest.md'), markdown(results));
}

type Say = (line: string) => void;

/** Runs one scenario unless --only leaves it out, and records how it went in the report, written anew after each. */
function scenarioRunner(options: Options, results: Results, say: Say) {
  return async (name: string, enabled: boolean, body: () => Promise<string>): Promise<void> => {
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
}

async function runWatch(options: Options, results: Results, say: Say): Promise<string> {
  results.watch = await watchScenario(
    { files: options.watchFiles, latencyTrials: options.quick ? 3 : 20, burstFiles: options.burst, burstLimitMs: results.burstLimitMs, generateSite, firstHost: 10, lsyncdDefaultDelay: !options.quick },
    say,
  );
  const broken = results.watch.filter((w) => !w.completed && !w.note.startsWith('skipped'));
  if (broken.length > 0) throw new Error(`did not complete: ${broken.map((w) => `${w.approach} (${w.note})`).join('; ')}`);
  return results.watch.filter((w) => w.note.startsWith('skipped')).map((w) => `${w.approach} ${w.note}`).join('; ');
}

async function runSlots(options: Options, results: Results, say: Say): Promise<string> {
  results.slots = await slotsScenario(
    { files: options.slotFiles, changed: Math.min(options.quick ? 400 : 4000, Math.floor(options.slotFiles * 0.8)), counts: options.slotTargets, reps: options.reps, firstHost: 200, rollbackTargets: options.quick ? 3 : 8 },
    say,
  );
  const mixed = results.slots.consistency.filter((r) => r.layout === 'slots' && r.mixed > 0);
  if (mixed.length > 0) throw new Error(`mixed reads with slots: ${mixed.map((r) => `${r.mixed} on ${r.targets} targets`).join(', ')}`);
  return 'every target equal to its source; no mixed read with slots';
}

async function runRollout(options: Options, results: Results, say: Say): Promise<string> {
  if (phpFpmBinary() === undefined) throw new Error('php-fpm is not installed (scripts/setup installs it)');
  results.rollout = await rolloutLoadScenario({ deploys: options.quick ? 3 : 20, firstHost: 233 }, say);
  const bad = results.rollout.filter((r) => r.non2xx + r.mixed + r.stale > 0);
  if (bad.length > 0) throw new Error(`under load: ${bad.map((r) => `${r.opcache}: ${r.non2xx} not 2xx, ${r.mixed} mixed, ${r.stale} stale`).join('; ')}`);
  return 'every response 2xx and from a live release';
}

async function runBuild(options: Options, results: Results, say: Say): Promise<string> {
  results.build = await buildScenario({ pages: options.quick ? 500 : 10_000, reps: options.quick ? 1 : 3, firstHost: 236 }, say);
  if (results.build.fanoutSent !== 1) throw new Error(`fanout sent ${results.build.fanoutSent} files for one edited page`);
  return 'every target equal to its source; one page edited, one file sent';
}

async function runFarm(options: Options, results: Results, say: Say): Promise<string> {
  const f = options.farm;
  results.farmScale = await farmScaleScenario(
    { files: f.files, counts: f.targets, slotCounts: f.slotTargets, classicCounts: f.classicTargets, reps: f.reps, concurrency: f.concurrency, daemons: f.daemons, approaches: f.approaches, perZone: 50, requireNetns: !options.quick },
    say,
  );
  return `every target equal to its source; ${results.farmScale.bytesHow.startsWith('not measured') ? results.farmScale.bytesHow : 'bytes counted by nftables'}`;
}

/** In the benchmark's own network namespace (bench/lab/netns.ts), or on the host's loopback and saying why. */
async function network(): Promise<{ exitCode: number } | { note: string }> {
  const reexec = await reexecInNetns();
  if (reexec.exitCode !== undefined) return { exitCode: reexec.exitCode };
  await loopbackUp();
  return { note: inPrivateNetns() ? 'a private network namespace (loopback only)' : `the host's loopback (no namespace: ${reexec.why ?? 'unknown'})` };
}

async function runOverhead(options: Options, results: Results, say: Say): Promise<string> {
  results.overhead = await overheadScenario({ targets: options.overheadTargets, files: options.overheadFiles, reps: options.reps, concurrency: 8, firstHost: 100 }, say);
  return 'every target equal to its source';
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const netns = await network();
  if ('exitCode' in netns) {
    process.exitCode = netns.exitCode;
    return;
  }
  const options = parseOptions(argv);
  const say: Say = (line) => {
    console.log(line);
  };
  say(`benchmark: in ${netns.note}`);
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
    network: netns.note,
    scenarios: [],
  };
  const scenario = scenarioRunner(options, results, say);
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
  await scenario(`around each rsync, ${options.overheadTargets} targets`, wanted('overhead'), () => runOverhead(options, results, say));
  await scenario(`daemon socket options, ${options.scaleFiles} files`, wanted('daemons'), async () => {
    results.daemons = await daemonScenario({ files: options.scaleFiles, reps: options.reps * 2, firstHost: 50 }, say);
    return 'every target equal to its source';
  });
  await scenario(`watch, ${options.watchFiles} files, burst of ${options.burst}`, wanted('watch'), () => runWatch(options, results, say));
  for (const files of options.sizes.filter((f) => f >= BIG)) await scenario(`push, ${files} files`, wanted('push'), () => push(files));
  await scenario(`atomic releases, ${options.slotTargets.join('/')} targets`, wanted('slots'), () => runSlots(options, results, say));
  await scenario(`the switch at scale, ${options.switchTargets.join('/')} targets`, wanted('switch'), async () => {
    results.switch = await switchScenario({ counts: options.switchTargets, files: options.quick ? 50 : 200, reps: options.reps, firstHost: 2, ...(options.switchCli === undefined ? {} : { cli: options.switchCli }) }, say);
    return 'every target switched, each time; the first and last targets equal to their source';
  });
  await scenario(`health-gated rollout under load, ${options.quick ? 3 : 20} deploys`, wanted('rollout'), () => runRollout(options, results, say));
  await scenario(`the bad window of a failed release, ${options.quick ? 1 : 5} each way`, wanted('badwindow'), async () => {
    results.badWindow = await badWindowScenario({ deploys: options.quick ? 1 : 5, firstHost: 230 }, say);
    return 'every failed release rolled back from every host';
  });
  await scenario(`build on the update server, ${options.quick ? 500 : 10_000} pages`, wanted('build'), () => runBuild(options, results, say));
  await scenario(`a thousand hosts: ${options.farm.files} files to ${options.farm.targets.join('/')} targets`, wanted('farm'), () => runFarm(options, results, say));
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
