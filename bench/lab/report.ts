/**
 * What a person reads after `npm run bench`: bench-results/latest.md, its two charts and the
 * "targets met?" summary, all computed from the results object alone (no I/O), so a unit test can
 * check the report says what the numbers say.
 */
import { lineChart, type Series } from './chart.js';
import type { DaemonRow } from '../daemon.js';
import { farmScaleMarkdown, type FarmScaleResults } from '../farm-scale.js';
import type { ScaleRow } from '../scale.js';
import { slotsMarkdown, type SlotsResults } from '../slots.js';
import { switchMarkdown } from '../switch.js';
import type { SwitchScaleResult } from './switch-measure.js';
import { badWindowMarkdown, rolloutLoadMarkdown, type BadWindowRow, type RolloutLoadRow } from '../rollout.js';
import { buildMarkdown, type BuildRow } from '../build.js';
import { pairedRatio, type Spread } from './stats.js';
import { watchMarkdown, type WatchRow } from '../watch.js';
import { overheadMarkdown, type OverheadResults } from '../overhead.js';

export type Approach = 'fanout' | 'gitAlone' | 'hook' | 'classic' | 'parallel' | 'floor' | 'floorWithoutDelay' | 'floorFanoutArgs';

export interface PushRow {
  files: number;
  changed: number;
  approach: Approach;
  cache: 'warm' | 'cold';
  time: Spread;
  /** every repetition, in order: the pairs the ratios are taken from */
  samples: number[];
  /** median over repetitions of (this approach / fanout's push) */
  ratioToFanout: number;
}

export interface MemoryRow {
  files: number;
  what: string;
  ms: number | undefined;
  /** VmHWM of the fanout process, MB; the largest over the runs measured */
  peakMb: number | undefined;
}

export interface Walk {
  files: number;
  fanoutPush: number | undefined;
  classicOneTarget: number | undefined;
}

export interface ScenarioStatus {
  name: string;
  status: 'done' | 'failed' | 'skipped';
  note: string;
}

export interface Results {
  date: string;
  machine: string;
  command: string;
  /** false: warm only, the page cache could not be dropped */
  coldCache: boolean;
  push: PushRow[];
  memory: MemoryRow[];
  walks: Walk[];
  scale: ScaleRow[];
  daemons: DaemonRow[];
  watch: WatchRow[];
  burstLimitMs: number;
  /** the atomic-releases scenario, when it ran */
  slots?: SlotsResults;
  /** the switch at scale, when it ran */
  switch?: SwitchScaleResult[];
  /** the health-gated rollout under load, when it ran */
  rollout?: RolloutLoadRow[];
  /** the bad window of a failed release, with and without a slow onFailure hook, when it ran */
  badWindow?: BadWindowRow[];
  /** the build on the update server, when it ran */
  build?: BuildRow;
  /** fanout's time around each rsync with many targets, when it ran */
  overhead?: OverheadResults;
  /** a thousand hosts: the farm-scale scenario, when it ran */
  farmScale?: FarmScaleResults;
  /** where the run's loopback was: the benchmark's own network namespace, or the host's and why */
  network?: string;
  scenarios: ScenarioStatus[];
}

export const CHARTS = { push: 'push-vs-size.svg', scale: 'scale-out.svg', farm: 'farm-scale.svg' };

const NAMES: Record<Approach, string> = {
  fanout: 'fanout: git push, to all targets done',
  gitAlone: "  git's own part: the same push to a bare repository with no hook",
  hook: '  of which the deploy (lock to last target)',
  classic: 'classic: full rsync --delete, targets one after another',
  parallel: 'full rsync --delete, targets in parallel',
  floor: 'floor: rsync of the changed files only, in parallel',
  floorFanoutArgs: '  the same floor, with the arguments fanout gives rsync',
  floorWithoutDelay: '  the same, but for --delay-updates',
};

const SHORT: Record<Approach, string> = {
  fanout: 'fanout: git push',
  gitAlone: "git's own transfer",
  hook: 'fanout: the deploy alone',
  classic: 'classic: rsync per target in turn',
  parallel: 'full rsync, targets in parallel',
  floor: 'floor: changed files only',
  floorFanoutArgs: "floor, fanout's rsync arguments",
  floorWithoutDelay: "floor, fanout's arguments but --delay-updates",
};

const secs = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;
const ratio = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : '-');
const count = (n: number): string => n.toLocaleString('en-US');

/** A row's time against fanout's whole push; none for the parts of that push (git's, the deploy's). */
function vsFanout(r: { approach: Approach; ratioToFanout: number }): string {
  if (r.approach === 'fanout') return '1';
  return r.approach === 'hook' || r.approach === 'gitAlone' ? '' : ratio(r.ratioToFanout);
}

function pushTable(rows: PushRow[]): string[] {
  const lines = ['| files | changed | approach | median | min-max | vs fanout |', '| ---: | ---: | --- | ---: | ---: | ---: |'];
  for (const r of rows) {
    lines.push(`| ${count(r.files)} | ${count(r.changed)} | ${NAMES[r.approach]} | ${secs(r.time.median)} | ${secs(r.time.min)}-${secs(r.time.max)} | ${vsFanout(r)} |`);
  }
  return lines;
}

function daemonTable(rows: readonly DaemonRow[]): string[] {
  const lines = [
    `## rsync daemons with and without \`socket options = TCP_NODELAY\`: a one-file push on ${count(rows[0]?.files ?? 0)} files to 3 targets`,
    '',
    'Two farms alike but for that line in the global section of each rsyncd.conf, pushed to in turn.',
    '',
    '| daemons | push median | min-max | of which the deploy | vs stock |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(`| ${r.daemons === 'stock' ? 'stock rsyncd.conf' : '`socket options = TCP_NODELAY`'} | ${secs(r.push.median)} | ${secs(r.push.min)}-${secs(r.push.max)} | ${secs(r.deploy.median)} | ${r.daemons === 'stock' ? '1' : ratio(r.pushRatioToStock)} |`);
  }
  return lines;
}

export interface Target {
  target: string;
  measured: string;
  met: 'met' | 'not met' | 'not measured';
}

function row(results: Results, files: number, approach: Approach, changed = 1): PushRow | undefined {
  return results.push.find((r) => r.files === files && r.changed === changed && r.cache === 'warm' && r.approach === approach);
}

/**
 * Issue 27's bound on a push that changes many files, and what the push is made of: git's own
 * transfer, the deploy, and rsync's own cost of the arguments fanout gives it.
 */
function thousandFileTargets(results: Results): Target[] {
  return [10_000, 100_000].map((files): Target => {
    const target = `1,000-file push on ${count(files)} files: within 1.3x of the floor`;
    const [fanout, floor] = [row(results, files, 'fanout', 1000), row(results, files, 'floor', 1000)];
    if (fanout === undefined || floor === undefined) return { target, measured: `no 1,000-file push on ${count(files)} files in this run`, met: 'not measured' };
    const against = (approach: Approach): string => {
      const r = row(results, files, approach, 1000);
      return r === undefined ? '?' : `${pairedRatio(r.samples, floor.samples).toFixed(2)}x`;
    };
    const r = pairedRatio(fanout.samples, floor.samples);
    const git = row(results, files, 'gitAlone', 1000);
    const measured = `the push ${r.toFixed(2)}x the floor (${secs(fanout.time.median)} against ${secs(floor.time.median)}), of which git's own transfer ${git === undefined ? '?' : secs(git.time.median)}; the deploy alone ${against('hook')}; rsync itself with fanout's arguments ${against('floorFanoutArgs')}, and with them but for --delay-updates ${against('floorWithoutDelay')}`;
    return { target, measured, met: r <= 1.3 ? 'met' : 'not met' };
  });
}

/** Issue 15's targets for atomic releases, each against what this run measured. */
function slotTargets(slots: SlotsResults | undefined): Target[] {
  const out: Target[] = [];
  const runs = slots?.consistency.filter((r) => r.layout === 'slots') ?? [];
  const mixed = runs.reduce((n, r) => n + r.mixed, 0);
  out.push(
    runs.length === 0
      ? { target: 'slots: no mixed read during a deploy', measured: 'the slots scenario did not run', met: 'not measured' }
      : { target: 'slots: no mixed read during a deploy', measured: `${mixed} mixed in ${runs.reduce((n, r) => n + r.samples, 0)} reads on ${runs.map((r) => r.targets).join('/')} targets (in-place: ${(slots?.consistency ?? []).filter((r) => r.layout === 'in-place').map((r) => `${r.mixed} of ${r.samples}`).join(', ')})`, met: mixed === 0 ? 'met' : 'not met' },
  );
  for (const [targets, limit] of [
    [8, 100],
    [32, 200],
  ] as const) {
    const r = runs.find((x) => x.targets === targets);
    out.push(
      r === undefined
        ? { target: `slots: hosts on different versions for under ${limit} ms on ${targets} targets`, measured: `no ${targets}-target run`, met: 'not measured' }
        : { target: `slots: hosts on different versions for under ${limit} ms on ${targets} targets`, measured: `${r.windowMs.toFixed(0)} ms as readers saw it (fanout's switch skew ${r.skewMs ?? '?'} ms)`, met: r.windowMs < limit ? 'met' : 'not met' },
    );
  }
  const one = slots?.time.find((r) => r.changed === 1);
  const thousand = slots?.time.find((r) => r.changed === 1000);
  out.push(one === undefined ? { target: 'slots: a 1-file push no slower than 1.2x in-place', measured: 'not run', met: 'not measured' } : { target: 'slots: a 1-file push no slower than 1.2x in-place', measured: `${one.ratio.toFixed(2)}x`, met: one.ratio <= 1.2 ? 'met' : 'not met' });
  out.push(thousand === undefined ? { target: 'slots: a 1,000-file push faster than in-place', measured: 'not run', met: 'not measured' } : { target: 'slots: a 1,000-file push faster than in-place', measured: `${thousand.ratio.toFixed(2)}x`, met: thousand.ratio < 1 ? 'met' : 'not met' });
  const rollback = slots?.rollback;
  out.push(
    rollback === undefined
      ? { target: 'slots: a rollback by switch on 8 targets under 0.3 s to the last switch', measured: 'not run', met: 'not measured' }
      : { target: `slots: a rollback by switch on 8 targets under 0.3 s to the last switch`, measured: `${(rollback.lastSwitch.median / 1000).toFixed(2)} s on ${rollback.targets} targets (median of ${rollback.lastSwitch.n})`, met: rollback.targets >= 8 ? (rollback.lastSwitch.median < 300 ? 'met' : 'not met') : 'not measured' },
  );
  return out;
}

/** The issue's four targets, each against what this run measured. */
export function targets(results: Results): Target[] {
  const out: Target[] = [];
  const fanout = row(results, 100_000, 'fanout');
  const classic = row(results, 100_000, 'classic');
  const floor = row(results, 100_000, 'floor');
  const hook = row(results, 100_000, 'hook');
  if (fanout && classic) {
    const r = pairedRatio(classic.samples, fanout.samples);
    out.push({ target: '1-file push on 100,000 files: at least 5x faster than the classic script', measured: `${r.toFixed(1)}x faster (${secs(fanout.time.median)} against ${secs(classic.time.median)})`, met: r >= 5 ? 'met' : 'not met' });
  } else out.push({ target: '1-file push on 100,000 files: at least 5x faster than the classic script', measured: 'no 100,000-file push in this run', met: 'not measured' });
  if (fanout && floor) {
    const r = pairedRatio(fanout.samples, floor.samples);
    const deploy = hook ? `; the deploy alone ${pairedRatio(hook.samples, floor.samples).toFixed(2)}x the floor (${secs(hook.time.median)}): the rest is git's transfer and process start-up` : '';
    const same = row(results, 100_000, 'floorFanoutArgs');
    const sameArgs = same ? `. Against rsync run with fanout's own arguments (${secs(same.time.median)}): the push ${pairedRatio(fanout.samples, same.samples).toFixed(2)}x${hook ? `, the deploy ${pairedRatio(hook.samples, same.samples).toFixed(2)}x` : ''}` : '';
    out.push({ target: '1-file push on 100,000 files: within 1.5x of the floor', measured: `the push ${r.toFixed(2)}x the floor (${secs(fanout.time.median)} against ${secs(floor.time.median)})${deploy}${sameArgs}`, met: r <= 1.5 ? 'met' : 'not met' });
  } else out.push({ target: '1-file push on 100,000 files: within 1.5x of the floor', measured: 'no 100,000-file push in this run', met: 'not measured' });

  const watch = results.watch.find((w) => w.approach === 'fanout watch');
  const lsyncd = results.watch.find((w) => w.approach === 'lsyncd (delay = 0)');
  if (watch?.latencyP50Ms !== undefined && lsyncd?.latencyP50Ms !== undefined) {
    out.push({ target: 'watch p50 below lsyncd at delay = 0', measured: `${watch.latencyP50Ms.toFixed(0)} ms against ${lsyncd.latencyP50Ms.toFixed(0)} ms`, met: watch.latencyP50Ms < lsyncd.latencyP50Ms ? 'met' : 'not met' });
  } else out.push({ target: 'watch p50 below lsyncd at delay = 0', measured: lsyncd?.note ?? 'the watch scenario did not run', met: 'not measured' });

  if (watch !== undefined && watch.burstMs !== undefined) {
    out.push({
      target: `burst of ${count(watch.burstFiles)} files completes with fewer than 20 rsync runs`,
      measured: `${watch.rsyncRuns} rsync runs over 3 targets, done in ${(watch.burstMs / 1000).toFixed(1)} s`,
      met: watch.rsyncRuns < 20 ? 'met' : 'not met',
    });
  } else out.push({ target: 'burst completes with fewer than 20 rsync runs', measured: watch ? 'the burst did not complete in time' : 'the watch scenario did not run', met: watch ? 'not met' : 'not measured' });

  const million = results.memory.filter((m) => m.files >= 1_000_000 && m.peakMb !== undefined);
  if (million.length > 0) {
    const worst = million.reduce((a, b) => ((b.peakMb ?? 0) > (a.peakMb ?? 0) ? b : a));
    out.push({ target: 'memory of the fanout process below 150 MB at 1,000,000 files', measured: `${(worst.peakMb ?? 0).toFixed(0)} MB at most (${worst.what})`, met: (worst.peakMb ?? 0) < 150 ? 'met' : 'not met' });
  } else {
    const measured = results.memory.filter((m) => m.peakMb !== undefined);
    const largest = measured.reduce<MemoryRow | undefined>((a, b) => (a === undefined || b.files > a.files || (b.files === a.files && (b.peakMb ?? 0) > (a.peakMb ?? 0)) ? b : a), undefined);
    out.push({
      target: 'memory of the fanout process below 150 MB at 1,000,000 files',
      measured: largest ? `not run at 1,000,000 files (add --files 1000000); at ${count(largest.files)} files: ${(largest.peakMb ?? 0).toFixed(0)} MB at most` : 'not run at 1,000,000 files',
      met: 'not measured',
    });
  }
  out.push(...thousandFileTargets(results), ...slotTargets(results.slots));
  return out;
}

export function pushChart(results: Results): string | undefined {
  const approaches: Approach[] = ['fanout', 'hook', 'classic', 'parallel', 'floor'];
  const series: Series[] = [];
  for (const cache of ['warm', 'cold'] as const) {
    approaches.forEach((a, i) => {
      if (cache === 'cold' && a !== 'fanout' && a !== 'classic') return;
      const points = results.push
        .filter((r) => r.changed === 1 && r.cache === cache && r.approach === a)
        .map((r) => ({ x: r.files, y: r.time.median / 1000, lo: r.time.min / 1000, hi: r.time.max / 1000 }));
      // a cold line is dashed, in its warm line's colour
      if (points.length > 0) series.push({ name: cache === 'cold' ? `${a === 'fanout' ? 'fanout: git push' : 'classic'}, cold cache` : SHORT[a], points, dashed: cache === 'cold', colourIndex: i });
    });
  }
  if (series.length === 0) return undefined;
  return lineChart({ title: 'A one-file deploy to 3 targets: time against site size', xLabel: 'files in the site', yLabel: 'time to all targets done', series });
}

export function scaleChart(results: Results): string | undefined {
  if (results.scale.length === 0) return undefined;
  const files = results.scale[0]?.files ?? 0;
  const series: Series[] = (['fanout', 'hook', 'classic', 'parallel'] as const).map((a) => ({
    name: SHORT[a],
    points: results.scale.filter((r) => r.approach === a).map((r) => ({ x: r.targets, y: r.time.median / 1000, lo: r.time.min / 1000, hi: r.time.max / 1000 })),
  }));
  return lineChart({ title: `A one-file deploy on ${count(files)} files: time against targets`, xLabel: 'rsync daemon targets', yLabel: 'time to all targets done', series, xTickLabel: (x) => `${x}` });
}

/** The farm-scale runs against the target count: in place, slots, the classic loop. */
export function farmChart(results: Results): string | undefined {
  const rows = results.farmScale?.rows ?? [];
  const line = (name: string, pick: (r: (typeof rows)[number]) => boolean): Series => ({
    name,
    points: rows.filter(pick).map((r) => ({ x: r.targets, y: r.time.median / 1000, lo: r.time.min / 1000, hi: r.time.max / 1000 })),
  });
  const series = [
    line('fanout, in place: 1-file push', (r) => r.approach === 'direct' && r.layout === 'in-place' && r.run === '1-file push'),
    line('fanout, slots: 1-file push', (r) => r.layout === 'slots' && r.run === '1-file push'),
    line('fanout, slots: rollback (a switch)', (r) => r.run === 'rollback, a switch'),
    line('classic: rsync per target in turn', (r) => r.run === 'classic loop'),
    line('fanout, relays: 1-file push', (r) => r.approach === 'relays' && r.run === '1-file push'),
  ].filter((s) => s.points.length > 0);
  if (series.length === 0) return undefined;
  return lineChart({ title: `A one-file push on ${count(results.farmScale?.files ?? 0)} files: time against hosts`, xLabel: 'targets (rsync daemon modules)', yLabel: 'whole push', series, xTickLabel: (x) => count(x) });
}

export function markdown(results: Results): string {
  const cacheNote = results.coldCache
    ? 'warm and cold page cache (cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before each cold trial)'
    : 'warm only: cannot drop caches (not root, or /proc/sys/vm/drop_caches is not writable here)';
  const lines: string[] = [
    '# fanout benchmark',
    '',
    `Run ${results.date} on ${results.machine}, with \`${results.command}\`, in ${results.network ?? "the host's loopback"}. Cache: ${cacheNote}.`,
    'Each approach has its own source and its own rsync daemons on loopback; median and min-max over repetitions; a ratio is approach / fanout, the median of per-repetition pairs.',
    '',
  ];
  const charts = [
    results.push.length > 0 ? `![push time against site size](${CHARTS.push})` : '',
    results.scale.length > 0 ? `![push time against target count](${CHARTS.scale})` : '',
    (results.farmScale?.rows.length ?? 0) > 0 ? `![push time against hosts, to 1,000](${CHARTS.farm})` : '',
  ].filter((c) => c !== '');
  if (charts.length > 0) lines.push(charts.join('\n'), '');

  lines.push('## Targets met?', '', '| target | measured | |', '| --- | --- | --- |');
  for (const t of targets(results)) lines.push(`| ${t.target} | ${t.measured} | ${t.met} |`);
  lines.push('');

  const warm = results.push.filter((r) => r.cache === 'warm');
  if (warm.length > 0) lines.push('## Push to 3 targets, warm page cache', '', ...pushTable(warm), '');
  const cold = results.push.filter((r) => r.cache === 'cold');
  if (cold.length > 0) lines.push('## One-file push to 3 targets, cold page cache (dropped before each trial of each approach)', '', ...pushTable(cold), '');
  else if (warm.length > 0) lines.push(results.coldCache ? 'No cold-cache trials in this run (`--cold-reps 0`).' : 'Cold cache: not measured; warm only: cannot drop caches.', '');

  if (results.memory.length > 0) {
    lines.push('## Memory of the fanout process', '', 'Peak resident memory (VmHWM, the kernel\'s high-water mark, polled every 10 ms) of the `fanout` node process: the hook during a push, or the command itself.', '');
    lines.push('| files | run | time | peak memory |', '| ---: | --- | ---: | ---: |');
    for (const m of results.memory) lines.push(`| ${count(m.files)} | ${m.what} | ${m.ms === undefined ? '-' : secs(m.ms)} | ${m.peakMb === undefined ? '-' : `${m.peakMb.toFixed(0)} MB`} |`);
    lines.push('');
  }

  if (results.walks.some((w) => w.fanoutPush !== undefined)) {
    lines.push('## File-system calls on the update server for a 1-file change', '', 'strace -f -c: getdents64, the stat family, openat; the walk each approach makes, whatever the machine\'s noise.', '');
    lines.push('| files | fanout: git push, hook, 3 targets | classic: full rsync --delete, 1 target |', '| ---: | ---: | ---: |');
    for (const w of results.walks) lines.push(`| ${count(w.files)} | ${w.fanoutPush === undefined ? '-' : count(w.fanoutPush)} | ${w.classicOneTarget === undefined ? '-' : count(w.classicOneTarget)} |`);
    lines.push('');
  }

  if (results.scale.length > 0) {
    lines.push(`## Scale-out: a one-file push on ${count(results.scale[0]?.files ?? 0)} files to N targets, warm page cache`, '');
    lines.push('| targets | approach | median | min-max | vs fanout |', '| ---: | --- | ---: | ---: | ---: |');
    for (const r of results.scale) {
      lines.push(`| ${r.targets} | ${NAMES[r.approach]} | ${secs(r.time.median)} | ${secs(r.time.min)}-${secs(r.time.max)} | ${vsFanout(r)} |`);
    }
    lines.push('');
  }

  if (results.daemons.length > 0) lines.push(...daemonTable(results.daemons), '');
  lines.push(...overheadMarkdown(results.overhead));

  if (results.watch.length > 0) lines.push('## Watch: one file, then a burst, to 3 targets', '', watchMarkdown(results.watch, results.burstLimitMs));

  if (results.slots !== undefined) lines.push(...slotsMarkdown(results.slots));
  if (results.switch !== undefined) lines.push(...switchMarkdown(results.switch));
  if (results.rollout !== undefined) lines.push(...rolloutLoadMarkdown(results.rollout));
  if (results.badWindow !== undefined) lines.push(...badWindowMarkdown(results.badWindow));
  lines.push(...buildMarkdown(results.build));
  if (results.farmScale !== undefined) lines.push(...farmScaleMarkdown(results.farmScale));

  lines.push('## Scenarios', '', '| scenario | status | note |', '| --- | --- | --- |');
  for (const s of results.scenarios) lines.push(`| ${s.name} | ${s.status} | ${s.note.replaceAll('|', '\\|').replaceAll('\n', ' ')} |`);
  return `${lines.join('\n')}\n`;
}
