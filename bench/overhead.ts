/**
 * The overhead scenario of `npm run bench` (`--only overhead`): what fanout spends around each
 * rsync when it deploys to many targets. A small site on N rsync daemon targets (50 by default,
 * `concurrency: 8`), one-file pushes; from fanout's own log (lab/overhead.ts), per deploy: the
 * median time a target held its slot beyond the lifetime of its rsync, as a share of that
 * lifetime, and how many rsyncs ran at once against `concurrency`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createFarm } from '../harness/farm.js';
import { assertEqual, lastDeployMs, pushAll, timed } from './lab/common.js';
import { deployOverheads, type DeployOverhead } from './lab/overhead.js';
import { edit, generateSite, pick } from './lab/site.js';
import { median, spread, type Spread } from './lab/stats.js';

export interface OverheadOptions {
  targets: number;
  files: number;
  reps: number;
  concurrency: number;
  firstHost: number;
}

export interface OverheadResults {
  targets: number;
  files: number;
  concurrency: number;
  push: Spread;
  deploy: Spread;
  /** each push, in order, beside `deploys` */
  pushSamples: number[];
  /** one per measured push */
  deploys: DeployOverhead[];
}

export async function overheadScenario(options: OverheadOptions, say: (line: string) => void): Promise<OverheadResults> {
  const { targets, files, reps, concurrency } = options;
  const farm = await createFarm({ targets, firstHost: options.firstHost, config: { timeout: 600, concurrency } });
  try {
    say(`[overhead, ${targets} targets] the site of ${files} files, first deploy`);
    const paths = generateSite(farm.clone, files);
    await farm.commit('site');
    await pushAll(farm, targets);
    const log = path.join(farm.stateDir, 'fanout.log');
    // only the measured pushes' lines are read
    const before = fs.statSync(log).size;
    const push: number[] = [];
    const deploy: number[] = [];
    for (let rep = 0; rep < reps; rep += 1) {
      const [rel = ''] = pick(paths, 1, rep + 1);
      edit(farm.clone, rel, rep + 1);
      await farm.commit(`overhead ${rep}`);
      push.push(await timed(() => pushAll(farm, targets)));
      deploy.push(lastDeployMs(farm));
    }
    const deploys = deployOverheads(fs.readFileSync(log, 'utf8').slice(before));
    if (deploys.length !== reps) throw new Error(`read ${deploys.length} deploys from fanout's log, not ${reps}`);
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    const shares = deploys.map((d) => d.overheadShare);
    say(`[overhead, ${targets} targets] push ${median(push).toFixed(0)} ms; around each rsync ${(median(shares) * 100).toFixed(1)}% of its lifetime; ${median(deploys.map((d) => d.meanRunningWhileQueued)).toFixed(2)} of ${concurrency} running`);
    return { targets, files, concurrency, push: spread(push), deploy: spread(deploy), pushSamples: push, deploys };
  } finally {
    await farm.cleanup();
  }
}

const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;

export function overheadMarkdown(results: OverheadResults | undefined): string[] {
  if (results === undefined) return [];
  const { targets, files, concurrency, deploys } = results;
  const lines = [
    `## Around each rsync: one-file pushes on ${files.toLocaleString('en-US')} files to ${targets} targets, concurrency ${concurrency}`,
    '',
    "Read from fanout's log: a target's time in its slot beyond the lifetime of its rsync (spawn to exit seen), as a share of that lifetime (median over targets), the rsyncs running at once while targets still waited for a slot, and over the whole transfer, and how busy fanout's event loop was meanwhile (an exit is seen, and a lifetime ends, only once it is free).",
    '',
    '| deploy | push | transfer | rsync lifetime | around it | share | running while queued | running overall | event loop busy |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  deploys.forEach((d, i) => {
    lines.push(`| ${d.deployId} | ${((results.pushSamples[i] ?? Number.NaN) / 1000).toFixed(2)} s | ${(d.transferMs / 1000).toFixed(2)} s | ${d.rsyncMs.toFixed(0)} ms | ${d.overheadMs.toFixed(1)} ms | ${pct(d.overheadShare)} | ${d.meanRunningWhileQueued.toFixed(2)} of ${d.slots} | ${d.meanRunning.toFixed(2)} | ${d.eventLoopBusy === undefined ? '-' : pct(d.eventLoopBusy)} |`);
  });
  lines.push('', `Median over ${deploys.length} deploys: ${pct(median(deploys.map((d) => d.overheadShare)))} around each rsync, ${median(deploys.map((d) => d.meanRunningWhileQueued)).toFixed(2)} of ${concurrency} rsyncs running while targets waited; the push ${(results.push.median / 1000).toFixed(2)} s, the deploy ${(results.deploy.median / 1000).toFixed(2)} s.`, '');
  return lines;
}
