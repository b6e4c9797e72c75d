/**
 * The switch at scale (`--only switch`): a farm of N rsync daemons with `layout: slots` and a
 * small site, a deploy that stages and switches, then rollbacks that are only a switch, measured
 * by bench/lab/switch-measure.ts: the switch skew, the rollback's time to the last switch, and
 * the peaks of fanout's process tree and descriptors. Past 250 targets the daemons share
 * loopback addresses, each on a port of its own (the benchmark runs in a network namespace).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CLI, createFarm, type Farm } from '../harness/farm.js';
import { startDaemon } from '../harness/rsyncd.js';
import { assertEqual } from './lab/common.js';
import { generateSite } from './lab/site.js';
import { measureSwitchAtScale, type SwitchScaleResult } from './lab/switch-measure.js';

export interface SwitchOptions {
  counts: number[];
  files: number;
  reps: number;
  firstHost: number;
  /** the fanout to measure (default: this checkout's dist/cli.js) */
  cli?: string;
}

/** N daemons, the first from createFarm, the others started here on the addresses from firstHost on (cycling past 254). */
async function farmOf(n: number, firstHost: number): Promise<Farm> {
  const farm = await createFarm({ targets: 1, firstHost, daemonGlobalLines: ['socket options = TCP_NODELAY'] });
  try {
    for (let i = 1; i < n; i += 1) {
      const host = 2 + ((firstHost - 2 + i) % 253);
      farm.daemons.push(await startDaemon({ hostIndex: host, root: farm.root, name: `web${i + 1}`, globalLines: ['socket options = TCP_NODELAY'] }));
    }
  } catch (error) {
    await farm.cleanup();
    throw error;
  }
  return farm;
}

async function measureAt(options: SwitchOptions, n: number, say: (line: string) => void): Promise<SwitchScaleResult> {
  say(`[switch] starting ${n} daemons`);
  const farm = await farmOf(n, options.firstHost);
  try {
    farm.writeConfig({ layout: 'slots', slotGrace: 0, timeout: 600, concurrency: 8 });
    generateSite(farm.clone, options.files);
    const a = await farm.commit('a');
    fs.writeFileSync(path.join(farm.clone, 'index.html'), 'b\n');
    const b = await farm.commit('b');
    const push = await farm.pushWithoutDeploy();
    if (push.exitCode !== 0) throw new Error(`push failed: ${push.stderr}`);
    const result = await measureSwitchAtScale({ cli: options.cli ?? CLI, configFile: farm.configFile, stateDir: farm.stateDir, targets: n, commits: { a, b }, reps: options.reps, say });
    const first = farm.daemons[0];
    const last = farm.daemons.at(-1);
    for (const d of [first, last]) if (d !== undefined) await assertEqual(farm.source, fs.realpathSync(path.join(d.dir, 'current')));
    return result;
  } finally {
    await farm.cleanup();
  }
}

export async function switchScenario(options: SwitchOptions, say: (line: string) => void): Promise<SwitchScaleResult[]> {
  const rows: SwitchScaleResult[] = [];
  for (const n of options.counts) rows.push(await measureAt(options, n, say));
  return rows;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export function switchMarkdown(rows: readonly SwitchScaleResult[]): string[] {
  if (rows.length === 0) return [];
  const lines = ['## The switch at scale: layout: slots, daemon targets, a small site', ''];
  lines.push('| targets | deploy: switch skew | rollback by switch: to the last switch | its skew | whole command | peak processes (rsyncs) in fanout\'s tree | peak descriptors in node | peak memory of the tree, Rss (Pss) |');
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const [d, b] = [r.deploy.peak, r.rollback.peak];
    const peak = { processes: Math.max(d.processes, b.processes), rsyncs: Math.max(d.rsyncs, b.rsyncs), fds: Math.max(d.fds, b.fds), rssMb: Math.max(d.rssMb, b.rssMb), pssMb: Math.max(d.pssMb, b.pssMb) };
    lines.push(
      `| ${r.targets} | ${r.deploy.skewMs ?? '?'} ms | ${seconds(r.rollback.lastSwitch.median)} (${seconds(r.rollback.lastSwitch.min)}-${seconds(r.rollback.lastSwitch.max)}) | ${r.rollback.skew.median} ms (${r.rollback.skew.min}-${r.rollback.skew.max}) | ${seconds(r.rollback.command.median)} | ${peak.processes} (${peak.rsyncs}) | ${peak.fds} | ${peak.rssMb.toFixed(0)} MB (${peak.pssMb.toFixed(0)} MB) |`,
    );
  }
  lines.push('');
  return lines;
}
