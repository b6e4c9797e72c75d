/**
 * The atomic-releases scenario of `npm run bench`: layout: slots against in-place, in one run.
 * - consistency: readers on every host resolve `current` once per request (as a web server with
 *   $realpath_root does) and read a page and an asset from it, while a deploy changes both and
 *   thousands of files more; counted: mixed reads (page and asset of different versions), and the
 *   window during which hosts served different versions (first host seen on the new version to
 *   the last), beside fanout's own switch skew;
 * - time: a 1-file and a 1,000-file push, slots against in-place, paired repetitions;
 * - a rollback that is only a switch: command to last switch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { execa } from 'execa';
import { CLI, createFarm, type Farm } from '../harness/farm.js';
import { assertEqual, pushAll, timed } from './lab/common.js';
import { edit, generateSite, pick } from './lab/site.js';
import { pairedRatio, spread, type Spread } from './lab/stats.js';

export interface ConsistencyRow {
  layout: 'in-place' | 'slots';
  targets: number;
  changed: number;
  samples: number;
  mixed: number;
  /** first host seen serving the new version to the last, as the readers saw it */
  windowMs: number;
  /** fanout's own record: first switch to last (slots only) */
  skewMs: number | undefined;
}

export interface SlotsTimeRow {
  changed: number;
  inPlace: Spread;
  slots: Spread;
  /** median over repetitions of slots / in-place */
  ratio: number;
}

export interface SlotsResults {
  consistency: ConsistencyRow[];
  time: SlotsTimeRow[];
  rollback: { targets: number; command: Spread; lastSwitch: Spread } | undefined;
}

export interface SlotsOptions {
  files: number;
  changed: number;
  counts: number[];
  reps: number;
  firstHost: number;
  rollbackTargets: number;
}

const READER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { hosts, slots, stop } = workerData;
const flag = new Int32Array(stop);
let samples = 0, mixed = 0;
const firstNew = hosts.map(() => 0);
while (Atomics.load(flag, 0) === 0) {
  for (let i = 0; i < hosts.length; i += 1) {
    let dir;
    try { dir = slots ? fs.realpathSync(hosts[i] + '/current') : hosts[i]; } catch { continue; }
    let page, asset;
    try { page = fs.readFileSync(dir + '/index.html', 'latin1'); asset = fs.readFileSync(dir + '/asset.css', 'latin1'); } catch { continue; }
    samples += 1;
    if (page.slice(0, 2) !== asset.slice(0, 2)) mixed += 1;
    if (page.startsWith('v2') && firstNew[i] === 0) firstNew[i] = performance.timeOrigin + performance.now();
  }
}
parentPort.postMessage({ samples, mixed, firstNew });
`;

/** Readers on every host until stopped: samples, mixed reads, and when each host was first seen on v2. */
function startReaders(hosts: string[], slots: boolean): { stop: () => Promise<{ samples: number; mixed: number; firstNew: number[] }> } {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(READER, { eval: true, workerData: { hosts, slots, stop } });
  const done = new Promise<{ samples: number; mixed: number; firstNew: number[] }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      Atomics.store(new Int32Array(stop), 0, 1);
      const result = await done;
      await worker.terminate();
      return result;
    },
  };
}

function hostDirs(farm: Farm, n: number): string[] {
  return farm.daemons.slice(0, n).map((d) => d.dir);
}

function configure(farm: Farm, n: number, layout: 'in-place' | 'slots'): void {
  farm.writeConfig({ timeout: 600, layout, slotGrace: 0, concurrency: 8 }, farm.daemons.slice(0, n).map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })));
}

async function consistency(options: SlotsOptions, layout: 'in-place' | 'slots', n: number, say: (line: string) => void): Promise<ConsistencyRow> {
  const farm = await createFarm({ targets: n, firstHost: options.firstHost });
  try {
    configure(farm, n, layout);
    say(`[slots] ${layout}, ${n} targets: the site of ${options.files} files`);
    const paths = generateSite(farm.clone, options.files);
    fs.writeFileSync(path.join(farm.clone, 'index.html'), 'v1 page\n');
    fs.writeFileSync(path.join(farm.clone, 'asset.css'), 'v1 asset\n');
    await farm.commit('v1');
    await pushAll(farm, n);
    fs.writeFileSync(path.join(farm.clone, 'index.html'), 'v2 page\n');
    fs.writeFileSync(path.join(farm.clone, 'asset.css'), 'v2 asset\n');
    for (const rel of pick(paths, options.changed, 1)) edit(farm.clone, rel, 1);
    await farm.commit('v2');
    say(`[slots] ${layout}, ${n} targets: pushing ${options.changed} changed files with readers on every host`);
    const readers = startReaders(hostDirs(farm, n), layout === 'slots');
    await pushAll(farm, n);
    const seen = await readers.stop();
    const served = seen.firstNew.filter((t) => t > 0);
    if (served.length < n) throw new Error(`${layout}: only ${served.length} of ${n} hosts were seen serving v2`);
    for (const dir of hostDirs(farm, n)) await assertEqual(farm.source, layout === 'slots' ? fs.realpathSync(path.join(dir, 'current')) : dir);
    return { layout, targets: n, changed: options.changed, samples: seen.samples, mixed: seen.mixed, windowMs: Math.max(...served) - Math.min(...served), skewMs: farm.history().at(-1)?.switch?.skewMs };
  } finally {
    await farm.cleanup();
  }
}

async function pushTimes(options: SlotsOptions, say: (line: string) => void): Promise<SlotsTimeRow[]> {
  const n = 3;
  const farms = { 'in-place': await createFarm({ targets: n, firstHost: options.firstHost }), slots: await createFarm({ targets: n, firstHost: options.firstHost + n }) };
  try {
    const paths: Record<string, string[]> = {};
    for (const [layout, farm] of Object.entries(farms)) {
      configure(farm, n, layout as 'in-place' | 'slots');
      paths[layout] = generateSite(farm.clone, options.files);
      await farm.commit('site');
      await pushAll(farm, n);
      // the second slot filled too: every later push is a diff on both layouts
      if (layout === 'slots') {
        edit(farm.clone, paths[layout]?.[0] ?? '', 0);
        await farm.commit('fill');
        await pushAll(farm, n);
      }
    }
    const rows: SlotsTimeRow[] = [];
    let round = 10;
    for (const changed of [1, 1000]) {
      const times: Record<string, number[]> = { 'in-place': [], slots: [] };
      say(`[slots] time: ${changed}-file pushes, in-place and slots in turn, ${options.reps} each`);
      for (let rep = 0; rep < options.reps; rep += 1) {
        round += 1;
        for (const [layout, farm] of Object.entries(farms)) {
          for (const rel of pick(paths[layout] ?? [], changed, round)) edit(farm.clone, rel, round);
          await farm.commit(`${changed} files, round ${round}`);
          times[layout]?.push(await timed(() => pushAll(farm, n)));
        }
      }
      rows.push({ changed, inPlace: spread(times['in-place'] ?? []), slots: spread(times.slots ?? []), ratio: pairedRatio(times.slots ?? [], times['in-place'] ?? []) });
    }
    await assertEqual(farms.slots.source, fs.realpathSync(path.join(farms.slots.daemons[0]?.dir ?? '', 'current')));
    await assertEqual(farms['in-place'].source, farms['in-place'].daemons[0]?.dir ?? '');
    return rows;
  } finally {
    await Promise.all(Object.values(farms).map((f) => f.cleanup()));
  }
}

async function rollbackTimes(options: SlotsOptions, say: (line: string) => void): Promise<SlotsResults['rollback']> {
  const n = options.rollbackTargets;
  const farm = await createFarm({ targets: n, firstHost: options.firstHost });
  try {
    configure(farm, n, 'slots');
    generateSite(farm.clone, Math.min(options.files, 1000));
    const a = await farm.commit('a');
    await pushAll(farm, n);
    fs.writeFileSync(path.join(farm.clone, 'index.html'), 'b');
    const b = await farm.commit('b');
    await pushAll(farm, n);
    say(`[slots] rollback by switch on ${n} targets, ${options.reps} times`);
    const command: number[] = [];
    const lastSwitch: number[] = [];
    for (let rep = 0; rep < options.reps; rep += 1) {
      const to = rep % 2 === 0 ? a : b;
      const started = Date.now();
      const ran = await execa(process.execPath, [CLI, '--config', farm.configFile, 'rollback', to], { reject: false });
      command.push(Date.now() - started);
      const entry = farm.history().at(-1);
      if (ran.exitCode !== 0 || entry?.commit !== to || entry.switch === undefined || entry.targets.some((t) => t.sent > 0)) throw new Error(`rollback to ${to.slice(0, 10)} was not a switch alone:\n${ran.stdout}${ran.stderr}`);
      lastSwitch.push(Date.parse(entry.switch.at) + entry.switch.skewMs - started);
    }
    return { targets: n, command: spread(command), lastSwitch: spread(lastSwitch) };
  } finally {
    await farm.cleanup();
  }
}

export async function slotsScenario(options: SlotsOptions, say: (line: string) => void): Promise<SlotsResults> {
  const consistencyRows: ConsistencyRow[] = [];
  for (const n of options.counts) for (const layout of ['in-place', 'slots'] as const) consistencyRows.push(await consistency(options, layout, n, say));
  return { consistency: consistencyRows, time: await pushTimes(options, say), rollback: await rollbackTimes(options, say) };
}

export function slotsMarkdown(results: SlotsResults): string[] {
  const lines: string[] = [];
  if (results.consistency.length > 0) {
    lines.push(`## Atomic releases: what readers saw during a ${results.consistency[0]?.changed ?? 0}-file deploy`, '');
    lines.push('| targets | layout | reads | mixed (page and asset of different versions) | hosts on different versions | fanout switch skew |', '| ---: | --- | ---: | ---: | ---: | ---: |');
    for (const r of results.consistency) lines.push(`| ${r.targets} | ${r.layout} | ${r.samples} | ${r.mixed} | ${r.windowMs.toFixed(0)} ms | ${r.skewMs === undefined ? '' : `${r.skewMs} ms`} |`);
    lines.push('');
  }
  if (results.time.length > 0) {
    lines.push('## Atomic releases: push time, slots against in-place (3 daemon targets, slotGrace 0)', '');
    lines.push('| files changed | in-place | slots | slots / in-place |', '| ---: | ---: | ---: | ---: |');
    for (const r of results.time) lines.push(`| ${r.changed} | ${(r.inPlace.median / 1000).toFixed(2)} s | ${(r.slots.median / 1000).toFixed(2)} s | ${r.ratio.toFixed(2)}x |`);
    lines.push('');
  }
  if (results.rollback !== undefined) {
    const r = results.rollback;
    lines.push(`## Atomic releases: a rollback that is only a switch, ${r.targets} targets`, '');
    lines.push(`From the command's start to the last target switched: median ${(r.lastSwitch.median / 1000).toFixed(2)} s (${(r.lastSwitch.min / 1000).toFixed(2)}-${(r.lastSwitch.max / 1000).toFixed(2)} s, ${r.lastSwitch.n} runs); the whole command ${(r.command.median / 1000).toFixed(2)} s.`, '');
  }
  return lines;
}
