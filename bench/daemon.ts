/**
 * The daemon-tuning scenario of `npm run bench`: the same one-file push to two farms of three
 * rsync daemons, alike but for `socket options = TCP_NODELAY` in the second farm's rsyncd.conf.
 * fanout asks for TCP_NODELAY on its own end of each connection; the daemon's end is the
 * operator's to set, and with it off a daemon's small replies can wait for a delayed ACK.
 */
import { createFarm, type Farm } from '../harness/farm.js';
import { assertEqual, lastDeployMs, pushAll, timed } from './lab/common.js';
import { edit, generateSite, pick } from './lab/site.js';
import { pairedRatio, spread, type Spread } from './lab/stats.js';

export type DaemonSetup = 'stock' | 'TCP_NODELAY';

export interface DaemonRow {
  files: number;
  daemons: DaemonSetup;
  push: Spread;
  deploy: Spread;
  /** median over repetitions of (this setup's push / the stock daemons' push) */
  pushRatioToStock: number;
}

export interface DaemonOptions {
  files: number;
  reps: number;
  firstHost: number;
}

export async function daemonScenario(options: DaemonOptions, say: (line: string) => void): Promise<DaemonRow[]> {
  const farms: Partial<Record<DaemonSetup, Farm>> = {};
  try {
    farms.stock = await createFarm({ targets: 3, firstHost: options.firstHost, config: { timeout: 600 } });
    farms.TCP_NODELAY = await createFarm({ targets: 3, firstHost: options.firstHost + 3, config: { timeout: 600 }, daemonGlobalLines: ['socket options = TCP_NODELAY'] });
    const setups = [['stock', farms.stock], ['TCP_NODELAY', farms.TCP_NODELAY]] as const;
    say(`[daemon socket options, ${options.files} files] generating the site twice, first deploys`);
    let sitePaths: string[] = [];
    for (const [, farm] of setups) {
      sitePaths = generateSite(farm.clone, options.files);
      await farm.commit('site');
      await pushAll(farm, 3);
    }
    const samples = { stock: { push: [] as number[], deploy: [] as number[] }, TCP_NODELAY: { push: [] as number[], deploy: [] as number[] } };
    for (let rep = 0; rep < options.reps; rep += 1) {
      const [rel = ''] = pick(sitePaths, 1, rep);
      // alternate which farm goes first, so neither always runs on the other's warm caches
      const order = rep % 2 === 0 ? setups : [...setups].reverse();
      for (const [setup, farm] of order) {
        edit(farm.clone, rel, rep);
        await farm.commit(`edit ${rep}`);
        samples[setup].push.push(await timed(() => pushAll(farm, 3)));
        samples[setup].deploy.push(lastDeployMs(farm));
      }
    }
    for (const [, farm] of setups) for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    const rows = setups.map(([setup]) => ({
      files: options.files,
      daemons: setup,
      push: spread(samples[setup].push),
      deploy: spread(samples[setup].deploy),
      pushRatioToStock: pairedRatio(samples[setup].push, samples.stock.push),
    }));
    say(`[daemon socket options, ${options.files} files] ${rows.map((r) => `${r.daemons}: push ${r.push.median.toFixed(0)}ms, deploy ${r.deploy.median.toFixed(0)}ms`).join('; ')}`);
    return rows;
  } finally {
    await farms.stock?.cleanup();
    await farms.TCP_NODELAY?.cleanup();
  }
}
