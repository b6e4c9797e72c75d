/**
 * npm run bench [-- --files 10000,100000 --reps 5 --quick]
 *
 * Side-by-side costs of a deploy, measured in one run on this machine: fanout's git push against
 * the classic script (a full `rsync -rlptgo --delete` per target, one after another), a full rsync
 * to all targets in parallel, and the floor (rsync of exactly the changed files, in parallel, no
 * tool around it). Each approach has its own three rsync daemons on loopback, so every trial starts
 * from targets equal to its source. Writes bench-results/latest.{md,json}.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pMap from 'p-map';
import { createFarm, type Farm } from '../test/support/farm.js';
import { startDaemon, type Daemon } from '../test/support/rsyncd.js';
import { watchMarkdown, watchScenario } from './bench-watch.js';

interface Options {
  sizes: number[];
  reps: number;
  changes: number[];
  quick: boolean;
  out: string;
  scenarios: string[];
  watchFiles: number;
  burst: number;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const quick = argv.includes('--quick');
  const list = (text: string | undefined, fallback: number[]): number[] => (text === undefined ? fallback : text.split(',').map(Number));
  return {
    quick,
    sizes: list(value('files'), quick ? [1000] : [10_000, 100_000]),
    reps: Number(value('reps') ?? (quick ? 2 : 5)),
    changes: list(value('changes'), quick ? [1, 10] : [1, 10, 1000]),
    out: value('out') ?? path.resolve('bench-results'),
    scenarios: (value('only') ?? 'push,watch').split(','),
    watchFiles: Number(value('watch-files') ?? (quick ? 1000 : 10_000)),
    burst: Number(value('burst') ?? (quick ? 500 : 10_000)),
  };
}

/** Deterministic site: nested directories, sizes skewed small like pages, with some assets. */
function generateSite(root: string, files: number): string[] {
  const paths: string[] = [];
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < files; i += 1) {
    const dir = `section${Math.floor(i / 1000)}/part${Math.floor(i / 100) % 10}`;
    const r = random();
    const [ext, size] = r < 0.8 ? ['html', 200 + Math.floor(random() * 4000)] : r < 0.98 ? ['css', 4000 + Math.floor(random() * 16000)] : ['png', 20000 + Math.floor(random() * 80000)];
    const rel = `${dir}/file${i}.${ext}`;
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, rel), `${i} `.padEnd(size, 'abcdefghij'));
    paths.push(rel);
  }
  return paths;
}

function pick(paths: readonly string[], count: number, round: number): string[] {
  const step = Math.max(1, Math.floor(paths.length / count));
  return Array.from({ length: count }, (_, i) => paths[(i * step + round * 7919) % paths.length] ?? '');
}

function edit(root: string, rel: string, round: number): void {
  // written beside and renamed over, as an editor or a checkout does
  const file = path.join(root, rel);
  fs.writeFileSync(`${file}.new`, `${fs.readFileSync(file, 'utf8')}\nedit ${round}`);
  fs.renameSync(`${file}.new`, file);
}

/** The deploy itself, as the history records it: from the lock to the last target. */
function lastDeployMs(farm: Farm): number {
  const lines = fs.readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
  const last = JSON.parse(lines.at(-1) ?? '{}') as { startedAt: string; finishedAt: string };
  return Date.parse(last.finishedAt) - Date.parse(last.startedAt);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function rsyncTo(daemon: Daemon, source: string, extra: string[] = [], input?: string) {
  return execa('rsync', ['-rlptgo', `--password-file=${daemon.passwordFile}`, ...extra, `${source}/`, daemon.dest], { input });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
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

interface Walk {
  files: number;
  fanoutPush: number | undefined;
  classicOneTarget: number | undefined;
}

interface Row {
  files: number;
  changed: number;
  approach: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** median over repetitions of (this approach / fanout), computed pair by pair */
  ratioToFanout: number;
}

async function pushScenario(options: Options, files: number, walks: Walk[]): Promise<Row[]> {
  const farm: Farm = await createFarm({ targets: 3, firstHost: 2 });
  const plainRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-plain-'));
  const plainSource = path.join(plainRoot, 'src');
  const plain: Daemon[] = [];
  try {
    for (let i = 0; i < 3; i += 1) plain.push(await startDaemon({ hostIndex: 5 + i, root: plainRoot, name: `plain${i + 1}` }));
    console.log(`[${files} files] generating the site`);
    const sitePaths = generateSite(farm.clone, files);
    await farm.commit('site');
    await execa('rsync', ['-a', '--exclude=/.git', `${farm.clone}/`, `${plainSource}/`]);
    console.log(`[${files} files] initial push and initial full syncs`);
    const first = await farm.push();
    if (!first.stderr.includes('3/3 targets')) throw new Error(`initial push failed:\n${first.stderr}`);
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));

    const rows: Row[] = [];
    for (const changed of options.changes.filter((c) => c <= files)) {
      const samples: Record<string, number[]> = { fanout: [], hook: [], classic: [], parallel: [], floor: [] };
      for (let rep = 0; rep < options.reps; rep += 1) {
        const round = changed * 1000 + rep;
        const targets = pick(sitePaths, changed, round);
        for (const rel of targets) edit(farm.clone, rel, round);
        await farm.commit(`edit ${round}`);
        samples.fanout?.push(
          await timed(async () => {
            const push = await farm.push();
            if (!push.stderr.includes('3/3 targets')) throw new Error(`push failed:\n${push.stderr}`);
          }),
        );
        samples.hook?.push(lastDeployMs(farm));
        for (const rel of targets) edit(plainSource, rel, round);
        samples.classic?.push(await timed(async () => {
          for (const d of plain) await rsyncTo(d, plainSource, ['--delete']);
        }));
        for (const rel of targets) edit(plainSource, rel, round + 0.5);
        samples.parallel?.push(await timed(() => Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])))));
        for (const rel of targets) edit(plainSource, rel, round + 0.25);
        const list = targets.map((t) => `${t}\0`).join('');
        samples.floor?.push(await timed(() => pMap(plain, (d) => rsyncTo(d, plainSource, ['--files-from=-', '--from0'], list))));
      }
      const fanout = samples.fanout ?? [];
      for (const [approach, values] of Object.entries(samples)) {
        rows.push({
          files,
          changed,
          approach,
          medianMs: median(values),
          minMs: Math.min(...values),
          maxMs: Math.max(...values),
          ratioToFanout: median(values.map((v, i) => v / (fanout[i] ?? v))),
        });
      }
      console.log(`[${files} files, ${changed} changed] ${rows.slice(-5).map((r) => `${r.approach} ${r.medianMs.toFixed(0)}ms`).join(', ')}`);
    }
    const [probe = ''] = pick(sitePaths, 1, 999_999);
    edit(farm.clone, probe, 999_999);
    await farm.commit('walk probe');
    const fanoutPush = await fsCalls('git', ['push', '-q', 'origin', 'HEAD:main'], farm.clone);
    edit(plainSource, probe, 999_999);
    const [onePlain] = plain;
    const classicOneTarget =
      onePlain === undefined ? undefined : await fsCalls('rsync', ['-rlptgo', '--delete', `--password-file=${onePlain.passwordFile}`, `${plainSource}/`, onePlain.dest]);
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));
    walks.push({ files, fanoutPush, classicOneTarget });
    console.log(`[${files} files] file-system calls for a 1-file change: fanout push (3 targets) ${fanoutPush ?? '?'}, classic rsync (1 target) ${classicOneTarget ?? '?'}`);
    await assertEqualTrees(farm, plainSource, plain);
    return rows;
  } finally {
    await Promise.all(plain.map((d) => d.stop()));
    fs.rmSync(plainRoot, { recursive: true, force: true });
    await farm.cleanup();
  }
}

/** The benchmark is only worth reading if every approach left its targets equal to its source. */
async function assertEqualTrees(farm: Farm, plainSource: string, plain: Daemon[]): Promise<void> {
  const check = async (source: string, dir: string): Promise<void> => {
    const result = await execa('rsync', ['-rlpc', '--dry-run', '--delete', '--itemize-changes', '--exclude=.~tmp~', `${source}/`, `${dir}/`]);
    if (result.stdout.trim() !== '') throw new Error(`${dir} differs from ${source}:\n${result.stdout.slice(0, 2000)}`);
  };
  for (const d of farm.daemons) await check(farm.source, d.dir);
  for (const d of plain) await check(plainSource, d.dir);
}

function markdown(rows: Row[], walks: Walk[], machine: string): string {
  const lines = [
    `Machine: ${machine}. Warm page cache. Three rsync daemon targets on loopback per approach; median (min-max) over repetitions; ratio = approach / fanout, median of per-repetition pairs.`,
    '',
    '| files | changed | approach | median | min-max | vs fanout |',
    '| ---: | ---: | --- | ---: | ---: | ---: |',
  ];
  const name: Record<string, string> = {
    fanout: 'fanout: git push, to all targets done',
    hook: '  of which the deploy (lock to last target)',
    classic: 'classic: full rsync --delete, targets one after another',
    parallel: 'full rsync --delete, targets in parallel',
    floor: 'floor: rsync of the changed files only, in parallel',
  };
  for (const r of rows) {
    lines.push(
      `| ${r.files} | ${r.changed} | ${name[r.approach] ?? r.approach} | ${(r.medianMs / 1000).toFixed(3)}s | ${(r.minMs / 1000).toFixed(3)}-${(r.maxMs / 1000).toFixed(3)}s | ${r.approach === 'fanout' ? '1' : r.approach === 'hook' ? '' : `${r.ratioToFanout.toFixed(2)}x`} |`,
    );
  }
  if (walks.some((w) => w.fanoutPush !== undefined)) {
    lines.push('', 'File-system calls on the update server (strace -f -c: getdents64, stat family, openat) for a 1-file change:', '');
    lines.push('| files | fanout: git push, hook, 3 targets | classic: full rsync --delete, 1 target |', '| ---: | ---: | ---: |');
    for (const w of walks) lines.push(`| ${w.files} | ${w.fanoutPush ?? '-'} | ${w.classicOneTarget ?? '-'} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`;
  const rows: Row[] = [];
  const walks: Walk[] = [];
  if (options.scenarios.includes('push')) for (const files of options.sizes) rows.push(...(await pushScenario(options, files, walks)));
  const burstLimitMs = options.quick ? 60_000 : 120_000;
  const watchRows = options.scenarios.includes('watch')
    ? await watchScenario(
        { files: options.watchFiles, latencyTrials: options.quick ? 3 : 20, burstFiles: options.burst, burstLimitMs, generateSite, firstHost: 10 },
        (line) => {
          console.log(line);
        },
      )
    : [];
  fs.mkdirSync(options.out, { recursive: true });
  const md = `${markdown(rows, walks, machine)}\n${watchRows.length > 0 ? watchMarkdown(watchRows, burstLimitMs) : ''}`;
  fs.writeFileSync(path.join(options.out, options.quick ? 'quick.md' : 'latest.md'), md);
  fs.writeFileSync(path.join(options.out, options.quick ? 'quick.json' : 'latest.json'), `${JSON.stringify({ machine, date: new Date().toISOString(), rows, walks, watch: watchRows }, null, 2)}\n`);
  console.log(`\n${md}`);
}

await main();
