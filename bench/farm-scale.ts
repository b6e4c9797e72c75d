/**
 * The farm-scale scenario of `npm run bench`: a small site pushed to 10, 100 and 1,000 targets on
 * this machine (a few dozen rsync daemons serving many modules each, bench/lab/farm-lab.ts), in the
 * benchmark's own network namespace. Measured per count: the whole push (git push until every
 * target is done), the update server's bytes sent (nftables counters on the loopback, by
 * destination), the CPU of the push's process tree and of the daemons, the peak memory of the tree,
 * the node process's peak descriptors, and from fanout's log each target's overhead and how busy
 * the concurrency slots were; with `layout: slots`, the switch skew and a rollback that is only a
 * switch; and the classic loop (a full rsync --delete per target, in turn) for reference. Ends by
 * checking every target equals the source.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pMap from 'p-map';
import { CLI, GIT_IDENTITY } from '../harness/farm.js';
import type { DaemonModule } from '../harness/rsyncd.js';
import { assertEqual } from './lab/common.js';
import { occupancyOf, readLastDeploy, type Occupancy } from './lab/deploy-log.js';
import { journalRewrite, type JournalCost } from './lab/journal-cost.js';
import { directTargets, HOSTS_RANGE, RELAYS_RANGE, startLab, startRelays, stopRelays, wipe, zonedConfig, type Approach, type Lab, type Relay } from './lab/farm-lab.js';
import { inPrivateNetns } from './lab/netns.js';
import { edit, generateSite, pick } from './lab/site.js';
import { median, spread, type Spread } from './lab/stats.js';
import { countTraffic, type TrafficCounters } from './lab/traffic.js';
import { fitInputs, JOURNAL_WRITES, modelRow, peerToPeerFromBytes, type ModelInputs } from './lab/scale-model.js';
import { reapedChildrenCpuMs, watchTree } from './lab/tree-usage.js';

export type FarmRun = 'first full sync' | 'second slot filled' | '1-file push' | 'rollback, a switch' | 'classic loop';

export interface FarmScaleRow {
  approach: Approach;
  layout: 'in-place' | 'slots';
  run: FarmRun;
  targets: number;
  concurrency: number;
  /** the whole push (or command, or loop), wall time */
  time: Spread;
  /** the deploy alone, lock to last target, as the history records it */
  deployMs: number | undefined;
  /** the update server's bytes sent (IP packets, to the hosts or, tiered, to the relays), median */
  sentBytes: number | undefined;
  /** bytes the hosts received in all (tiered: from the relays), median */
  hostBytes: number | undefined;
  /** user + system CPU of the push's process tree (git, hook, node, rsync clients), median, ms */
  cpuMs: number;
  /** user + system CPU of the rsync daemons serving the targets, median, ms */
  targetsCpuMs: number;
  peakRssMb: number | undefined;
  peakProcesses: number | undefined;
  nodePeakMb: number | undefined;
  nodePeakFds: number | undefined;
  /** from fanout's log, median over repetitions */
  occupancy: Occupancy | undefined;
  /** slots: fanout's switch skew, first target switched to last, median */
  skewMs: number | undefined;
}

export interface FarmScaleOptions {
  files: number;
  counts: number[];
  slotCounts: number[];
  classicCounts: number[];
  reps: number;
  concurrency: number;
  daemons: number;
  approaches: Approach[];
  /** hosts per relay, tiered */
  perZone: number;
  /** the full run needs the namespace (1,000 targets, counters); the smoke run may go without */
  requireNetns: boolean;
}

export interface FarmScaleResults {
  files: number;
  siteBytes: number;
  daemons: number;
  daemonLines: string[];
  bytesHow: string;
  load: string;
  /** hosts a zone, via relays */
  perZone?: number;
  rows: FarmScaleRow[];
  /** one rewrite of fanout's journal (state.json) at each count, and at 10,000 targets (the lab's entries again) */
  journal?: JournalCost[];
}

/** One run of a row: the row's measures as they came, before the median over repetitions. */
type Sample = Pick<FarmScaleRow, 'deployMs' | 'hostBytes' | 'cpuMs' | 'targetsCpuMs' | 'peakRssMb' | 'peakProcesses' | 'nodePeakMb' | 'nodePeakFds' | 'occupancy' | 'skewMs'> & {
  ms: number;
  sent: number | undefined;
};

interface Context {
  lab: Lab;
  journal: JournalCost[];
  options: FarmScaleOptions;
  counters: TrafficCounters | undefined;
  say: (line: string) => void;
  round: number;
  sitePaths: string[];
}

/** CPU the daemons and the connections they forked (and reaped) have used, ms. */
function daemonsCpuMs(lab: Lab): number {
  let ticks = 0;
  for (const d of lab.daemons) {
    try {
      const stat = fs.readFileSync(`/proc/${d.pid() ?? 0}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // stopped
    }
  }
  return ticks * 10;
}

async function bytes(counters: TrafficCounters | undefined): Promise<Record<string, number>> {
  return counters === undefined ? {} : await counters.read();
}

/** Runs `body` and measures everything a row reports around it; `root` is the pid of the tree to watch. */
async function measured(ctx: Context, approach: Approach, body: (watch: (pid: number | undefined) => void) => Promise<void>): Promise<Omit<Sample, 'deployMs' | 'occupancy' | 'skewMs'>> {
  const before = await bytes(ctx.counters);
  const cpu = reapedChildrenCpuMs();
  const targetsCpu = daemonsCpuMs(ctx.lab);
  let tree: ReturnType<typeof watchTree> | undefined;
  const started = performance.now();
  await body((pid) => {
    if (pid !== undefined) tree = watchTree(pid, [ctx.lab.farm.configFile, 'hook post-receive']);
  });
  const ms = performance.now() - started;
  const usage = tree?.stop();
  const after = await bytes(ctx.counters);
  const delta = (name: string): number | undefined => (after[name] === undefined ? undefined : (after[name] ?? 0) - (before[name] ?? 0));
  return {
    ms,
    sent: delta(approach === 'direct' ? 'hosts' : 'relays'),
    hostBytes: delta('hosts'),
    cpuMs: reapedChildrenCpuMs() - cpu,
    targetsCpuMs: daemonsCpuMs(ctx.lab) - targetsCpu,
    peakRssMb: usage?.peakRssMb,
    peakProcesses: usage?.peakProcesses,
    nodePeakMb: usage?.nodePeakMb,
    nodePeakFds: usage?.nodePeakFds,
  };
}

/** One push of the next commit, measured; fails loudly unless every target reported done. */
async function push(ctx: Context, approach: Approach, n: number, changed: number): Promise<Sample> {
  const { farm } = ctx.lab;
  ctx.round += 1;
  for (const rel of pick(ctx.sitePaths, changed, ctx.round)) edit(farm.clone, rel, ctx.round);
  await farm.commit(`farm-scale ${ctx.round}`);
  let stderr = '';
  const sample = await measured(ctx, approach, async (watch) => {
    const child = execa('git', ['push', 'origin', 'HEAD:main'], { cwd: farm.clone, env: GIT_IDENTITY, reject: false });
    watch(child.pid);
    stderr = (await child).stderr;
  });
  if (!stderr.includes(`${n}/${n} targets`)) throw new Error(`push did not reach all ${n} targets:\n${stderr.slice(-3000)}`);
  const entry = farm.history().at(-1);
  const lines = readLastDeploy(farm.stateDir);
  return {
    ...sample,
    deployMs: entry === undefined ? undefined : Date.parse(entry.finishedAt) - Date.parse(entry.startedAt),
    // through relays, each relay sends to its zone in a lane of its own, `concurrency` wide
    occupancy: lines === undefined ? undefined : occupancyOf(lines, ctx.options.concurrency * (approach === 'relays' ? Math.ceil(n / ctx.options.perZone) : 1)),
    skewMs: entry?.switch?.skewMs,
  };
}

function medianOf(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

function medianOccupancy(samples: Sample[]): Occupancy | undefined {
  const known = samples.map((s) => s.occupancy).filter((o): o is Occupancy => o !== undefined);
  const first = known[0];
  if (first === undefined) return undefined;
  const at = (key: keyof Occupancy): number => median(known.map((o) => o[key]));
  return { targets: first.targets, transferMs: at('transferMs'), outsideMs: at('outsideMs'), occupancy: at('occupancy'), overheadMs: at('overheadMs'), rsyncMedianMs: at('rsyncMedianMs') };
}

function row(ctx: Context, base: Pick<FarmScaleRow, 'approach' | 'layout' | 'run' | 'targets'>, samples: Sample[]): FarmScaleRow {
  const max = (values: (number | undefined)[]): number | undefined => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length === 0 ? undefined : Math.max(...known);
  };
  const r: FarmScaleRow = {
    ...base,
    concurrency: ctx.options.concurrency,
    time: spread(samples.map((s) => s.ms)),
    deployMs: medianOf(samples.map((s) => s.deployMs)),
    sentBytes: medianOf(samples.map((s) => s.sent)),
    hostBytes: medianOf(samples.map((s) => s.hostBytes)),
    cpuMs: median(samples.map((s) => s.cpuMs)),
    targetsCpuMs: median(samples.map((s) => s.targetsCpuMs)),
    peakRssMb: max(samples.map((s) => s.peakRssMb)),
    peakProcesses: max(samples.map((s) => s.peakProcesses)),
    nodePeakMb: max(samples.map((s) => s.nodePeakMb)),
    nodePeakFds: max(samples.map((s) => s.nodePeakFds)),
    occupancy: medianOccupancy(samples),
    skewMs: medianOf(samples.map((s) => s.skewMs)),
  };
  ctx.say(`[farm-scale] ${r.layout} ${r.approach}, ${r.run}, ${r.targets} targets: ${(r.time.median / 1000).toFixed(2)} s, ${r.sentBytes === undefined ? '?' : (r.sentBytes / 2 ** 20).toFixed(2)} MiB sent, cpu ${(r.cpuMs / 1000).toFixed(1)} s${r.skewMs === undefined ? '' : `, skew ${r.skewMs} ms`}`);
  return r;
}

async function configure(ctx: Context, approach: Approach, layout: 'in-place' | 'slots', modules: readonly DaemonModule[], relays: readonly Relay[]): Promise<void> {
  const common = { timeout: 600, retries: 0, concurrency: ctx.options.concurrency, layout, slotGrace: 0 };
  if (approach === 'direct') ctx.lab.farm.writeConfig(common, directTargets(modules));
  else {
    const { targets, zones } = zonedConfig(modules, relays, ctx.options.perZone);
    ctx.lab.farm.writeConfig({ ...common, zones }, targets);
  }
  await Promise.resolve();
}

/** Repetitions at a count: two at most from 1,000 targets on, where one push takes minutes on two cores. */
function repsAt(ctx: Context, n: number): number {
  return n >= 1000 ? Math.min(2, ctx.options.reps) : ctx.options.reps;
}

async function repeated(ctx: Context, approach: Approach, n: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let rep = 0; rep < repsAt(ctx, n); rep += 1) samples.push(await push(ctx, approach, n, 1));
  return samples;
}

/**
 * Largest first: each smaller count's targets are among those every earlier push reached, so no
 * trial carries a catch-up, and none is needed between counts.
 */
function descending(counts: readonly number[]): number[] {
  return [...counts].sort((a, b) => b - a);
}

/** In place: the first full sync to the most targets, then 1-file pushes at each count; each count's targets checked. */
async function inPlace(ctx: Context, approach: Approach, relays: readonly Relay[]): Promise<FarmScaleRow[]> {
  const hosts = ctx.lab.groups.h ?? [];
  const counts = descending(ctx.options.counts);
  const most = Math.max(...counts);
  const rows: FarmScaleRow[] = [];
  await configure(ctx, approach, 'in-place', hosts.slice(0, most), relays);
  ctx.say(`[farm-scale] in-place ${approach}: the first full sync of ${ctx.options.files} files to ${most} targets`);
  rows.push(row(ctx, { approach, layout: 'in-place', run: 'first full sync', targets: most }, [await push(ctx, approach, most, 1)]));
  for (const n of counts) {
    await configure(ctx, approach, 'in-place', hosts.slice(0, n), relays);
    rows.push(row(ctx, { approach, layout: 'in-place', run: '1-file push', targets: n }, await repeated(ctx, approach, n)));
    await assertAllEqual(ctx.lab.farm.source, hosts.slice(0, n).map((m) => m.dir));
  }
  // the journal now holds every target of the most: what rewriting it costs, at each size
  if (ctx.journal.length === 0) for (const n of [...counts, 10_000]) ctx.journal.push(journalRewrite(ctx.lab.farm.stateDir, n));
  return rows;
}

/** A rollback to the release the other slot holds: no file sent, `current` flipped everywhere. */
async function rollbackBySwitch(ctx: Context): Promise<Sample> {
  const { farm } = ctx.lab;
  // the release before the last: the other slot holds it on every target of this count
  const to = farm.history().filter((e) => e.refused === undefined).at(-2)?.commit;
  if (to === undefined) throw new Error('no earlier deploy to roll back to');
  let ran: { exitCode?: number; stdout: string; stderr: string } = { stdout: '', stderr: '' };
  const sample = await measured(ctx, 'direct', async (watch) => {
    const child = execa(process.execPath, [CLI, '--config', farm.configFile, 'rollback', to], { reject: false });
    watch(child.pid);
    ran = await child;
  });
  const entry = farm.history().at(-1);
  if (ran.exitCode !== 0 || entry?.commit !== to || entry.switch === undefined || entry.targets.some((t) => t.sent > 0)) throw new Error(`rollback to ${to.slice(0, 10)} was not a switch alone:\n${ran.stdout}${ran.stderr.slice(-2000)}`);
  return { ...sample, deployMs: Date.parse(entry.finishedAt) - Date.parse(entry.startedAt), occupancy: undefined, skewMs: entry.switch.skewMs };
}

/** Slots: the first release to the most targets, the second slot filled, then each count's pushes and rollbacks. */
async function slots(ctx: Context): Promise<FarmScaleRow[]> {
  const hosts = ctx.lab.groups.s ?? [];
  const counts = descending(ctx.options.slotCounts);
  const most = Math.max(...counts);
  const rows: FarmScaleRow[] = [];
  const base = { approach: 'direct' as const, layout: 'slots' as const };
  await configure(ctx, 'direct', 'slots', hosts.slice(0, most), []);
  ctx.say(`[farm-scale] slots: the first release of ${ctx.options.files} files to ${most} targets, then the second slot`);
  rows.push(row(ctx, { ...base, run: 'first full sync', targets: most }, [await push(ctx, 'direct', most, 1)]));
  rows.push(row(ctx, { ...base, run: 'second slot filled', targets: most }, [await push(ctx, 'direct', most, 1)]));
  for (const n of counts) {
    await configure(ctx, 'direct', 'slots', hosts.slice(0, n), []);
    rows.push(row(ctx, { ...base, run: '1-file push', targets: n }, await repeated(ctx, 'direct', n)));
    const rollbacks: Sample[] = [];
    for (let rep = 0; rep < repsAt(ctx, n); rep += 1) rollbacks.push(await rollbackBySwitch(ctx));
    rows.push(row(ctx, { ...base, run: 'rollback, a switch', targets: n }, rollbacks));
    // every target serves what the source holds: the release the last rollback put back
    await assertAllEqual(ctx.lab.farm.source, hosts.slice(0, n).map((m) => fs.realpathSync(path.join(m.dir, 'current'))));
  }
  return rows;
}

/** The classic script at each count: a full rsync --delete to each target, one after another. */
async function classic(ctx: Context): Promise<FarmScaleRow[]> {
  const plain = ctx.lab.groups.p ?? [];
  const source = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-farm-classic-'));
  const rsync = (m: DaemonModule) => execa('rsync', ['-rlptgo', '--delete', `--password-file=${m.passwordFile}`, `${source}/`, m.dest]);
  const rows: FarmScaleRow[] = [];
  try {
    await execa('rsync', ['-a', '--exclude=/.git', `${ctx.lab.farm.clone}/`, `${source}/`]);
    ctx.say(`[farm-scale] classic: seeding ${plain.length} targets`);
    await pMap(plain, rsync, { concurrency: 4 });
    for (const n of [...ctx.options.classicCounts].sort((a, b) => a - b)) {
      const samples: Sample[] = [];
      for (let rep = 0; rep < ctx.options.reps; rep += 1) {
        ctx.round += 1;
        for (const rel of pick(ctx.sitePaths, 1, ctx.round)) edit(source, rel, ctx.round);
        const sample = await measured(ctx, 'direct', async () => {
          for (const m of plain.slice(0, n)) await rsync(m);
        });
        samples.push({ ...sample, deployMs: undefined, occupancy: undefined, skewMs: undefined });
      }
      rows.push(row(ctx, { approach: 'direct', layout: 'in-place', run: 'classic loop', targets: n }, samples));
    }
    // the largest count came last and sent the source whole to each of its targets
    await assertAllEqual(source, plain.slice(0, Math.max(...ctx.options.classicCounts)).map((m) => m.dir));
    return rows;
  } finally {
    fs.rmSync(source, { recursive: true, force: true });
  }
}

/** Every target equal to its source by DESIGN.md's oracle (checksums, --delete, itemized); two at a time, the machine has two cores. */
export async function assertAllEqual(source: string, dirs: readonly string[]): Promise<void> {
  await pMap(
    dirs,
    async (dir) => {
      await assertEqual(source, dir);
    },
    { concurrency: 2 },
  );
}

function siteBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  return total;
}

/** Direct (and, once fanout has relays, tiered) in place; slots; the classic loop; every group wiped once done with. */
async function runAll(ctx: Context, relays: Relay[]): Promise<FarmScaleRow[]> {
  const rows: FarmScaleRow[] = [];
  for (const approach of ctx.options.approaches) {
    rows.push(...(await inPlace(ctx, approach, relays)));
    await wipe(ctx.lab.groups.h ?? []);
  }
  if (ctx.options.classicCounts.length > 0) rows.push(...(await classic(ctx)));
  await wipe(ctx.lab.groups.p ?? []);
  if (ctx.options.slotCounts.length > 0) rows.push(...(await slots(ctx)));
  await wipe(ctx.lab.groups.s ?? []);
  return rows;
}

export async function farmScaleScenario(options: FarmScaleOptions, say: (line: string) => void): Promise<FarmScaleResults> {
  if (options.requireNetns && !inPrivateNetns()) throw new Error('needs a private network namespace: run as root with unshare and ip installed (npm run bench re-executes itself in one), or `unshare -n sh -c "ip link set lo up && npm run bench"`');
  const most = Math.max(...options.counts);
  const lab = await startLab({ daemons: options.daemons, groups: { h: most, s: Math.max(0, ...options.slotCounts), p: Math.max(0, ...options.classicCounts) } });
  const counted = await countTraffic({ hosts: HOSTS_RANGE, relays: RELAYS_RANGE });
  const counters = 'why' in counted ? undefined : counted;
  let relays: Relay[] = [];
  try {
    say(`[farm-scale] ${lab.daemons.length} daemons, ${Object.values(lab.groups).reduce((n, g) => n + g.length, 0)} modules; the site of ${options.files} files`);
    const sitePaths = generateSite(lab.farm.clone, options.files);
    await lab.farm.commit('site');
    if (options.approaches.includes('relays')) relays = await startRelays(lab, Math.ceil(most / options.perZone));
    const ctx: Context = { lab, journal: [], options, counters, say, round: 0, sitePaths };
    const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const rows = await runAll(ctx, relays);
    return {
      files: options.files,
      siteBytes: siteBytes(lab.farm.source),
      daemons: lab.daemons.length,
      daemonLines: lab.daemonLines,
      bytesHow: 'why' in counted ? `not measured: ${counted.why}` : `nftables counters on the output hook of the loopback, by destination (${HOSTS_RANGE}: the hosts; ${RELAYS_RANGE}: the relays): IP packets, headers included`,
      perZone: options.perZone,
      load: `load average at the start ${load}, at the end ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      rows,
      journal: ctx.journal,
    };
  } finally {
    await counters?.stop();
    await stopRelays(relays);
    await lab.stop();
  }
}

const mib = (b: number | undefined): string => (b === undefined ? '-' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
const sec = (ms: number | undefined): string => (ms === undefined ? '-' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`);

function farmRowLine(r: FarmScaleRow): string {
  const o = r.occupancy;
  return [
    '',
    r.targets.toLocaleString('en-US'),
    r.run === 'classic loop' ? 'classic' : r.approach === 'relays' ? `${r.layout}, via relays` : r.layout,
    r.run,
    `${sec(r.time.median)} (${sec(r.time.min)}-${sec(r.time.max)}, ${r.time.n})`,
    sec(r.deployMs),
    mib(r.sentBytes),
    r.sentBytes === undefined ? '-' : mib(r.sentBytes / r.targets),
    `${sec(r.cpuMs)} / ${sec(r.targetsCpuMs)}`,
    `${r.peakRssMb === undefined ? '-' : `${r.peakRssMb.toFixed(0)} MB`} (${r.peakProcesses ?? '-'} proc.), node ${r.nodePeakMb === undefined ? '-' : `${r.nodePeakMb.toFixed(0)} MB`}`,
    `${r.nodePeakFds ?? '-'}`,
    o === undefined ? '-' : `${o.overheadMs.toFixed(1)} ms (rsync ${o.rsyncMedianMs.toFixed(0)} ms)`,
    o === undefined ? '-' : `${(o.occupancy * 100).toFixed(0)}%`,
    o === undefined ? '-' : sec(o.outsideMs),
    r.skewMs === undefined ? '-' : `${r.skewMs.toFixed(0)} ms`,
    '',
  ].join(' | ').trim();
}

/** The model's assumptions: a 1 Gbit/s uplink on the update server and on each relay, 50 hosts a relay, the cores of this machine. */
export const MODEL_ASSUMPTIONS = { uplinkBytesPerSecond: 125_000_000, perRelay: 50, cores: 2 };

/** What a peer-to-peer send costs beyond one payload's transfer: its clients on every host, the tracker, the first pieces (an assumption, not measured here). */
export const P2P_START_MS = 30_000;

/** The in-place 1-file pushes of one approach, fewest targets first. */
function pushesOf(results: FarmScaleResults, approach: Approach): FarmScaleRow[] {
  return results.rows.filter((r) => r.approach === approach && r.layout === 'in-place' && r.run === '1-file push').sort((a, b) => a.targets - b.targets);
}

/** The model's inputs from the in-place 1-file pushes (direct: smallest count, and the two largest; through relays, the two largest where measured), or undefined with fewer than three direct counts. */
export function modelInputs(results: FarmScaleResults): ModelInputs | undefined {
  const at = (r: FarmScaleRow) => ({ hosts: r.targets, ms: r.time.median, cpuMs: r.cpuMs, sentBytes: r.sentBytes });
  const direct = pushesOf(results, 'direct');
  const relayed = pushesOf(results, 'relays');
  const [smallest] = direct;
  const [small, large] = direct.slice(-2);
  const [tieredSmall, tieredLarge] = relayed.slice(-2);
  if (direct.length < 3 || smallest === undefined || small === undefined || large === undefined) return undefined;
  const tiered = tieredSmall === undefined || tieredLarge === undefined ? undefined : { small: at(tieredSmall), large: at(tieredLarge) };
  return fitInputs({ smallest: at(smallest), small: at(small), large: at(large) }, tiered, results.journal ?? [], MODEL_ASSUMPTIONS);
}

export function modelMarkdown(results: FarmScaleResults): string[] {
  const inputs = modelInputs(results);
  if (inputs === undefined) return [];
  const measured = (n: number, approach: Approach = 'direct'): string => {
    const r = results.rows.find((x) => x.approach === approach && x.layout === 'in-place' && x.run === '1-file push' && x.targets === n);
    return r === undefined ? '' : ` (measured ${sec(r.time.median)})`;
  };
  const lines = [
    '## The model, from these measurements: one push to N hosts, direct and tiered',
    '',
    `Fixed cost ${sec(inputs.fixedMs)}, and fanout's journal rewritten ${JOURNAL_WRITES} times a push (${inputs.journalRewrites.map((j) => `${j.rewriteMs.toFixed(1)} ms a rewrite at ${j.targets.toLocaleString('en-US')} targets`).join(', ')}); CPU on the update server ${inputs.perHostCpuMs.toFixed(1)} ms a host direct and ${inputs.perHostCpuTieredMs.toFixed(1)} ms through relays (the slopes of the push tree's CPU), over ${inputs.cores} cores; ${mib(inputs.perHostBytes)} a host for the 1-file change direct, ${mib(inputs.perHostTieredBytes)} a host to the relays, to which a larger payload adds itself (to each host direct, to each relay tiered); a ${((inputs.uplinkBytesPerSecond * 8) / 1e9).toFixed(0)} Gbit/s uplink on the update server and on each relay, ${inputs.perRelay} hosts a relay, a relay paying the direct CPU a host for its zone. Tiered: the release to the relays, then every host's pass, started from the update server through its relay while each relay sends to its zone.`,
    '',
    '| hosts | payload beyond the 1-file change | direct: time | direct: update server egress | relays | tiered: time | tiered: update server egress |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const payload of [0, results.siteBytes, 2 ** 30]) {
    for (const hosts of [10, 100, 1000, 10_000]) {
      const m = modelRow(inputs, hosts, payload);
      lines.push(`| ${hosts.toLocaleString('en-US')} | ${payload === 0 ? '-' : mib(payload)} | ${sec(m.directMs)}${payload === 0 ? measured(hosts) : ''} | ${mib(m.directEgress)} | ${m.relays} | ${sec(m.tieredMs)}${payload === 0 ? measured(hosts, 'relays') : ''} | ${mib(m.tieredEgress)} |`);
    }
  }
  const p2p = [1000, 10_000].map((n) => `${mib(peerToPeerFromBytes(inputs, n, P2P_START_MS))} at ${n.toLocaleString('en-US')} hosts`).join(', ');
  lines.push('', `A peer-to-peer engine (BitTorrent-style) is faster than the tiers past ${p2p}: there the tiers' uplink time exceeds a peer-to-peer start of ${P2P_START_MS / 1000} s.`, '');
  return lines;
}

/** What the rows via relays measured, and what the lab cannot show of them. */
function relaysNote(results: FarmScaleResults): string {
  const relayed = results.rows.filter((r) => r.approach === 'relays');
  if (relayed.length === 0) return '';
  const perZone = results.perZone ?? 0;
  return ` Via relays: zones of ${perZone} hosts, each with one relay, a real sshd on 127.0.2.x (started without the user's ~/.bashrc, which on the development machine loads pyenv in 0.5 s and would add that to every ssh session); the update server sends each relay the release, and each relay runs its zone's rsyncs (over one multiplexed ssh connection), its zone at \`concurrency\` at once; "update server sent" counts the bytes to the relays, and the occupancy counts every relay's lane. The relays share this machine's two cores with everything else, so their time here is no relay's time on a host of its own: what the lab shows of them is the bytes and the update server's CPU.`;
}

export function farmScaleMarkdown(results: FarmScaleResults): string[] {
  const concurrency = results.rows[0]?.concurrency ?? 0;
  return [
    `## A thousand hosts: a site of ${results.files.toLocaleString('en-US')} files (${mib(results.siteBytes)}) to ${[...new Set(results.rows.map((r) => r.targets))].sort((a, b) => a - b).map((n) => n.toLocaleString('en-US')).join(', ')} targets`,
    '',
    `${results.daemons} rsync daemons on 127.0.1.x in the benchmark's own network namespace, each serving its share of the targets as modules (\`${results.daemonLines.join('`, `')}\`); fanout's \`concurrency: ${concurrency}\`. Times: median (min-max, runs). Bytes: ${results.bytesHow}. CPU: the push's process tree (git, the hook, node, the rsync clients; the kernel's count of reaped children) / the daemons and their connections. Memory: the largest sum of the tree's resident sets at a 100 ms sample, and node's own peak (VmHWM). From fanout's log: each target's cost to a concurrency slot besides its rsync, rsync's share of the slots' time, and the deploy outside its transfer (lock, plan, checkout, switch). ${results.load}.${relaysNote(results)}`,
    '',
    '| targets | layout | run | whole push | deploy | update server sent | per target | CPU: tree / daemons | peak memory | node fds | per-target overhead | occupancy | outside transfer | switch skew |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.rows.map(farmRowLine),
    '',
    ...modelMarkdown(results),
  ];
}
