/**
 * The scale-out scenario of `npm run bench`: a one-file deploy to 1, 2, 4 and 8 rsync daemon
 * targets, fanout's push against the classic script (one full rsync --delete per target, one
 * after another) and a full rsync to all targets in parallel, at the same target counts. One farm
 * with the largest count of daemons serves every count: the config names the first N.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createFarm } from '../harness/farm.js';
import { startDaemon, type Daemon } from '../harness/rsyncd.js';
import { assertEqual, lastDeployMs, pushAll, rsyncTo, timed } from './lab/common.js';
import { edit, generateSite, pick } from './lab/site.js';
import { pairedRatio, spread, type Spread } from './lab/stats.js';

export interface ScaleRow {
  files: number;
  targets: number;
  approach: 'fanout' | 'hook' | 'classic' | 'parallel';
  time: Spread;
  /** median over repetitions of (this approach / fanout's push) */
  ratioToFanout: number;
}

export interface ScaleOptions {
  files: number;
  counts: number[];
  reps: number;
  firstHost: number;
}

export async function scaleScenario(options: ScaleOptions, say: (line: string) => void): Promise<ScaleRow[]> {
  const most = Math.max(...options.counts);
  const farm = await createFarm({ targets: most, firstHost: options.firstHost, config: { timeout: 600 } });
  const plainRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-scale-'));
  const plainSource = path.join(plainRoot, 'src');
  const plain: Daemon[] = [];
  const configure = (n: number): void => {
    farm.writeConfig(
      { timeout: 600 },
      farm.daemons.slice(0, n).map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile })),
    );
  };
  try {
    for (let i = 0; i < most; i += 1) plain.push(await startDaemon({ hostIndex: options.firstHost + most + i, root: plainRoot, name: `plain${i + 1}` }));
    say(`[scale-out, ${options.files} files] generating the site and the first full syncs to ${most} targets`);
    const sitePaths = generateSite(farm.clone, options.files);
    await farm.commit('site');
    await execa('rsync', ['-a', '--exclude=/.git', `${farm.clone}/`, `${plainSource}/`]);
    configure(most);
    await pushAll(farm, most);
    await Promise.all(plain.map((d) => rsyncTo(d, plainSource, ['--delete'])));

    const rows: ScaleRow[] = [];
    // ascending, so the last count is every daemon, and every plain target ends synced
    const counts = [...options.counts].sort((a, b) => a - b);
    for (const n of counts) {
      configure(n);
      const daemons = plain.slice(0, n);
      // an untimed push first: targets left out of the last count catch up here, not in a trial
      const [warm = ''] = pick(sitePaths, 1, n * 100_003);
      edit(farm.clone, warm, n);
      await farm.commit(`catch up ${n}`);
      await pushAll(farm, n);
      const samples = { fanout: [] as number[], hook: [] as number[], classic: [] as number[], parallel: [] as number[] };
      for (let rep = 0; rep < options.reps; rep += 1) {
        const round = n * 1000 + rep;
        const [rel = ''] = pick(sitePaths, 1, round);
        edit(farm.clone, rel, round);
        await farm.commit(`scale ${round}`);
        samples.fanout.push(await timed(() => pushAll(farm, n)));
        samples.hook.push(lastDeployMs(farm));
        edit(plainSource, rel, round);
        samples.classic.push(
          await timed(async () => {
            for (const d of daemons) await rsyncTo(d, plainSource, ['--delete']);
          }),
        );
        edit(plainSource, rel, round + 0.5);
        samples.parallel.push(await timed(() => Promise.all(daemons.map((d) => rsyncTo(d, plainSource, ['--delete'])))));
      }
      for (const [approach, values] of Object.entries(samples) as [ScaleRow['approach'], number[]][]) {
        rows.push({ files: options.files, targets: n, approach, time: spread(values), ratioToFanout: pairedRatio(values, samples.fanout) });
      }
      say(`[scale-out, ${options.files} files, ${n} targets] ${rows.slice(-4).map((r) => `${r.approach} ${r.time.median.toFixed(0)}ms`).join(', ')}`);
    }
    // every target, including those the last count left out, must equal the source
    configure(most);
    edit(farm.clone, pick(sitePaths, 1, 424_242)[0] ?? '', 424_242);
    await farm.commit('scale-out: final catch-up');
    await pushAll(farm, most);
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    for (const d of plain) await assertEqual(plainSource, d.dir);
    return rows;
  } finally {
    await Promise.all(plain.map((d) => d.stop()));
    fs.rmSync(plainRoot, { recursive: true, force: true });
    await farm.cleanup();
  }
}
