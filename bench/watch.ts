/**
 * The watch scenarios of `npm run bench`: how long one written file takes to reach every target,
 * and what a burst of files costs, for fanout watch, the classic `inotifywait | while read; do
 * rsync --delete ...; done` loop and lsyncd (with delay = 0 and with its default delay). Each
 * approach gets its own source and three rsync daemons on loopback.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { CLI, createFarm, type Farm } from '../harness/farm.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { assertEqual } from './lab/common.js';
import { highWaterMb } from './lab/memory.js';
import { percentile } from './lab/stats.js';

export interface WatchRow {
  approach: string;
  files: number;
  latencyP50Ms: number | undefined;
  latencyP95Ms: number | undefined;
  burstFiles: number;
  /** undefined: the targets were not equal within the time limit */
  burstMs: number | undefined;
  rsyncRuns: number;
  /** false: it was still starting rsync runs when the count was taken */
  runsSettled: boolean;
  peakRssMb: number | undefined;
  /** every probe arrived, the burst completed, and each target equals the source afterwards */
  completed: boolean;
  note: string;
}

export interface WatchBenchOptions {
  files: number;
  latencyTrials: number;
  burstFiles: number;
  burstLimitMs: number;
  generateSite: (root: string, files: number) => string[];
  firstHost: number;
  /** lsyncd at its default delay costs 15 s a probe: worth it in a full run, not in a smoke test */
  lsyncdDefaultDelay: boolean;
}

/** One approach under test: started on a source that already equals its targets. */
interface Peer {
  name: string;
  source: string;
  targets: string[];
  /** the process whose memory is measured */
  pid(): number | undefined;
  rsyncRuns(): number;
  stop(): Promise<void>;
}

async function until(done: () => boolean, limitMs: number): Promise<number | undefined> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > limitMs) return undefined;
    await sleep(2);
  }
  return performance.now() - start;
}

function has(dir: string, rel: string, content: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, rel), 'utf8') === content;
  } catch {
    return false;
  }
}

async function measure(peer: Peer, options: WatchBenchOptions, trials: number, note: string): Promise<WatchRow> {
  const latencies: number[] = [];
  fs.mkdirSync(path.join(peer.source, 'latency'), { recursive: true });
  await sleep(300);
  for (let i = 0; i < trials; i += 1) {
    const rel = `latency/probe${i}.html`;
    const content = `probe ${i} ${Date.now()}`;
    const start = performance.now();
    fs.writeFileSync(path.join(peer.source, rel), content);
    const took = await until(() => peer.targets.every((t) => has(t, rel, content)), 60_000);
    if (took === undefined) break;
    latencies.push(performance.now() - start);
    await sleep(100);
  }

  const runsBefore = peer.rsyncRuns();
  // the high-water mark since the process started: it includes the latency probes and start-up
  let peak = highWaterMb(peer.pid()) ?? 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, highWaterMb(peer.pid()) ?? 0);
  }, 20);
  const burstDir = path.join(peer.source, 'burst');
  fs.mkdirSync(burstDir, { recursive: true });
  const last = `file${options.burstFiles - 1}.html`;
  const start = performance.now();
  for (let i = 0; i < options.burstFiles; i += 1) fs.writeFileSync(path.join(burstDir, `file${i}.html`), `burst ${i}`);
  const done = await until(
    () => peer.targets.every((t) => has(t, `burst/${last}`, `burst ${options.burstFiles - 1}`) && fs.readdirSync(path.join(t, 'burst')).filter((n) => n.endsWith('.html')).length === options.burstFiles),
    options.burstLimitMs,
  );
  const burstMs = done === undefined ? undefined : performance.now() - start;
  // count the runs once the approach goes quiet (the classic loop still has an event queue to work off)
  let runs = peer.rsyncRuns();
  let quietSince = performance.now();
  const countUntil = performance.now() + 10_000;
  while (performance.now() - quietSince < 1500 && performance.now() < countUntil) {
    await sleep(100);
    const now = peer.rsyncRuns();
    if (now !== runs) {
      runs = now;
      quietSince = performance.now();
    }
  }
  clearInterval(sampler);
  let unequal = '';
  for (const target of peer.targets) {
    try {
      await assertEqual(peer.source, target);
    } catch (error) {
      unequal = `; TARGETS NOT EQUAL: ${(error as Error).message.split('\n').slice(0, 3).join(' ')}`;
      break;
    }
  }
  return {
    approach: peer.name,
    files: options.files,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    burstFiles: options.burstFiles,
    burstMs,
    rsyncRuns: runs - runsBefore,
    runsSettled: performance.now() - quietSince >= 1500,
    peakRssMb: peak === 0 ? undefined : peak,
    completed: latencies.length === trials && burstMs !== undefined && unequal === '',
    note: `${latencies.length < trials ? `${note}; ${trials - latencies.length} of ${trials} probes never arrived` : `${note}; ${trials} probes`}${unequal}`,
  };
}

async function fanoutPeer(farm: Farm): Promise<Peer> {
  const child = execa(process.execPath, [CLI, '--config', farm.configFile, 'watch'], { reject: false, buffer: false, stdin: 'ignore' });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  const ready = await until(() => out.includes('watching '), 120_000);
  if (ready === undefined) throw new Error(`fanout watch did not start: ${out}`);
  const runs = (): number => {
    // each batch runs one rsync per target that had something to do
    const history = fs.readFileSync(path.join(farm.stateDir, 'history.ndjson'), 'utf8').trim().split('\n');
    let count = 0;
    for (const line of history) {
      const entry = JSON.parse(line) as { reason: string; targets: { mode: string; attempts: number }[] };
      if (entry.reason === 'watch') for (const t of entry.targets) if (t.mode !== 'none') count += t.attempts;
    }
    return count;
  };
  return {
    name: 'fanout watch',
    source: farm.source,
    targets: farm.daemons.map((d) => d.dir),
    pid: () => child.pid,
    rsyncRuns: runs,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}

/** A plain source with its own three daemons, equal to each other before the peer starts. */
async function plainSite(root: string, options: WatchBenchOptions, firstHost: number, tag: string): Promise<{ source: string; daemons: Daemon[] }> {
  const source = path.join(root, `${tag}-src`);
  fs.mkdirSync(source, { recursive: true });
  options.generateSite(source, options.files);
  const daemons: Daemon[] = [];
  for (let i = 0; i < 3; i += 1) daemons.push(await startDaemon({ hostIndex: firstHost + i, root, name: `${tag}${i + 1}` }));
  await Promise.all(daemons.map((d) => execa('rsync', ['-rlptgo', '--delete', `--password-file=${d.passwordFile}`, `${source}/`, d.dest])));
  return { source, daemons };
}

/**
 * The classic loop as a sysadmin writes it: every event runs a full rsync --delete to each
 * target, one after another. It is a shell pipeline by nature; the script is fixed text and every
 * path reaches it as a positional argument, never spliced into it.
 */
const CLASSIC_LOOP = `
src=$1; counter=$2; shift 2
inotifywait -mrq -e modify,delete,create,attrib,close_write,move --format '%w%f' "$src" |
while read -r changed; do
  for pair in "$@"; do
    echo run >> "$counter"
    rsync -rlptgo --delete --password-file="\${pair%%|*}" "$src/" "\${pair#*|}"
  done
done`;

async function classicPeer(root: string, options: WatchBenchOptions, firstHost: number): Promise<Peer> {
  const { source, daemons } = await plainSite(root, options, firstHost, 'classic');
  const counter = path.join(root, 'classic-runs');
  fs.writeFileSync(counter, '');
  const pairs = daemons.map((d) => `${d.passwordFile}|${d.dest}`);
  const child = execa('bash', ['-c', CLASSIC_LOOP, 'classic', source, counter, ...pairs], { reject: false, buffer: false, stdin: 'ignore', detached: true });
  await sleep(1500); // inotifywait -r has no "ready" line with -q
  return {
    name: 'classic inotifywait | rsync loop',
    source,
    targets: daemons.map((d) => d.dir),
    pid: () => child.pid,
    rsyncRuns: () => fs.readFileSync(counter, 'utf8').split('\n').filter((l) => l === 'run').length,
    stop: async () => {
      // the loop's whole process group: bash, inotifywait and any rsync it is running
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      await child;
      await Promise.all(daemons.map((d) => d.stop()));
    },
  };
}

async function lsyncdPeer(root: string, options: WatchBenchOptions, firstHost: number, delay: number | undefined): Promise<Peer> {
  const tag = delay === undefined ? 'lsyncdd' : 'lsyncd0';
  const { source, daemons } = await plainSite(root, options, firstHost, tag);
  const log = path.join(root, `${tag}.log`);
  const config = path.join(root, `${tag}.lua`);
  const syncs = daemons.map(
    (d) =>
      `sync { default.rsync, source = ${JSON.stringify(source)}, target = ${JSON.stringify(d.dest)},${delay === undefined ? '' : ` delay = ${delay},`} rsync = { archive = true, password_file = ${JSON.stringify(d.passwordFile)} } }`,
  );
  fs.writeFileSync(config, `settings { logfile = ${JSON.stringify(log)}, nodaemon = true, insist = true }\n${syncs.join('\n')}\n`);
  const child = execa('lsyncd', [config], { reject: false, buffer: false, stdin: 'ignore' });
  // lsyncd starts with a full rsync per target; wait for all of them
  const started = await until(() => fs.existsSync(log) && (fs.readFileSync(log, 'utf8').match(/Startup of .* finished/g)?.length ?? 0) >= daemons.length, 120_000);
  if (started === undefined) throw new Error(`lsyncd did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : 'no log'}`);
  return {
    name: delay === undefined ? 'lsyncd (default delay)' : `lsyncd (delay = ${delay})`,
    source,
    targets: daemons.map((d) => d.dir),
    pid: () => child.pid,
    rsyncRuns: () => (fs.readFileSync(log, 'utf8').match(/Calling rsync/g) ?? []).length,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
      await Promise.all(daemons.map((d) => d.stop()));
    },
  };
}

async function installed(command: string): Promise<boolean> {
  const result = await execa('sh', ['-c', 'command -v "$1"', 'sh', command], { reject: false });
  return result.exitCode === 0;
}

export async function watchScenario(options: WatchBenchOptions, say: (line: string) => void): Promise<WatchRow[]> {
  const rows: WatchRow[] = [];
  const skipped = (approach: string, why: string): WatchRow => ({
    approach,
    files: options.files,
    latencyP50Ms: undefined,
    latencyP95Ms: undefined,
    burstFiles: options.burstFiles,
    burstMs: undefined,
    rsyncRuns: 0,
    runsSettled: true,
    peakRssMb: undefined,
    completed: false,
    note: `skipped: ${why}`,
  });
  const run = async (make: () => Promise<Peer>, note: string, trials = options.latencyTrials): Promise<void> => {
    const peer = await make();
    try {
      say(`[watch, ${options.files} files] ${peer.name}`);
      const row = await measure(peer, options, trials, note);
      rows.push(row);
      say(`[watch, ${options.files} files] ${peer.name}: p50 ${row.latencyP50Ms?.toFixed(0) ?? '-'}ms, burst ${row.burstMs === undefined ? 'not equal in time' : `${row.burstMs.toFixed(0)}ms`}, ${row.rsyncRuns} rsync runs`);
    } finally {
      await peer.stop();
    }
  };

  const farm = await createFarm({ targets: 3, firstHost: options.firstHost, config: { retries: 0 } });
  try {
    options.generateSite(farm.clone, options.files);
    await farm.commit('site');
    await farm.push();
    await run(() => fanoutPeer(farm), 'batches through the deploy engine');
  } finally {
    await farm.cleanup();
  }

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-watch-'));
  try {
    if (await installed('inotifywait')) await run(() => classicPeer(root, options, options.firstHost + 3), 'a full rsync --delete per event and target');
    else rows.push(skipped('classic inotifywait | rsync loop', 'inotifywait is not installed'));
    if (await installed('lsyncd')) {
      await run(() => lsyncdPeer(root, options, options.firstHost + 6, 0), 'delay = 0');
      if (options.lsyncdDefaultDelay) await run(() => lsyncdPeer(root, options, options.firstHost + 9, undefined), 'its default delay (15 s)', Math.min(3, options.latencyTrials));
      else rows.push(skipped('lsyncd (default delay)', 'in --quick: 15 s a probe'));
    } else {
      rows.push(skipped('lsyncd (delay = 0)', 'lsyncd is not installed (apt-get install lsyncd)'));
      rows.push(skipped('lsyncd (default delay)', 'lsyncd is not installed (apt-get install lsyncd)'));
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

export function watchMarkdown(rows: WatchRow[], burstLimitMs: number): string {
  const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(0)} ms`);
  const lines = [
    '| approach | site files | write-to-all-targets p50 | p95 | burst of files | burst done | rsync runs | peak memory | note |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const burst = r.burstMs === undefined ? (r.note.startsWith('skipped') ? '-' : `not equal after ${(burstLimitMs / 1000).toFixed(0)} s`) : `${(r.burstMs / 1000).toFixed(2)} s`;
    lines.push(
      `| ${r.approach.replaceAll('|', '\\|')} | ${r.files} | ${ms(r.latencyP50Ms)} | ${ms(r.latencyP95Ms)} | ${r.burstFiles} | ${burst} | ${r.runsSettled ? '' : 'at least '}${r.rsyncRuns}${r.runsSettled ? '' : ', still going'} | ${r.peakRssMb === undefined ? '-' : `${r.peakRssMb.toFixed(0)} MB`} | ${r.note} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
