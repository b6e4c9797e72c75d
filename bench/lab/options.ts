/** The benchmark's command line: which scenarios, at which sizes, how many repetitions, where the report goes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAX_CHANGES } from '../../src/deploy/deploy-plan.js';

export interface Options {
  sizes: number[];
  reps: number;
  bigReps: number;
  coldReps: number;
  changes: number[];
  quick: boolean;
  out: string;
  scenarios: string[];
  scaleFiles: number;
  scaleTargets: number[];
  watchFiles: number;
  burst: number;
  /** target counts for the atomic-releases consistency runs */
  slotTargets: number[];
  /** the site's size in the atomic-releases scenario */
  slotFiles: number;
  /** files one push adds to an already deployed site, in the big-change scenario */
  changeFiles: number[];
  /** targets and site size of the overhead scenario */
  overheadTargets: number;
  overheadFiles: number;
  /** target counts for the switch at scale */
  switchTargets: number[];
  /** the fanout the switch scenario measures: another checkout's dist/cli.js, for a before and after */
  switchCli: string | undefined;
  /** the farm-scale scenario (bench/farm-scale.ts) */
  farm: {
    files: number;
    targets: number[];
    slotTargets: number[];
    classicTargets: number[];
    reps: number;
    daemons: number;
    concurrency: number;
    approaches: ('direct' | 'relays')[];
  };
}

export function parseOptions(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const quick = argv.includes('--quick');
  const list = (text: string | undefined, fallback: number[]): number[] => (text === undefined ? fallback : text.split(',').map(Number));
  const reps = Number(value('reps') ?? (quick ? 2 : 5));
  return {
    quick,
    sizes: list(value('files'), quick ? [1000] : [10_000, 100_000]).sort((a, b) => a - b),
    reps,
    bigReps: Number(value('big-reps') ?? 1),
    coldReps: Number(value('cold-reps') ?? (quick ? 1 : 3)),
    changes: list(value('changes'), quick ? [1, 10] : [1, 10, 1000]),
    // a smoke run must never overwrite the checked-in results
    out: value('out') ?? (quick ? fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-quick-')) : path.resolve('bench-results')),
    scenarios: (value('only') ?? 'push,scale,overhead,daemons,watch,bigchange,slots,switch,rollout,badwindow,build,farm').split(','),
    scaleFiles: Number(value('scale-files') ?? (quick ? 1000 : 10_000)),
    scaleTargets: list(value('targets'), quick ? [1, 2] : [1, 2, 4, 8]),
    watchFiles: Number(value('watch-files') ?? (quick ? 1000 : 10_000)),
    burst: Number(value('burst') ?? (quick ? 500 : 10_000)),
    // just past MAX_CHANGES in a smoke run, so CI takes the path a huge push takes
    slotTargets: list(value('slot-targets'), quick ? [3] : [3, 8, 32]),
    slotFiles: Number(value('slot-files') ?? (quick ? 500 : 5000)),
    changeFiles: list(value('change-files'), quick ? [MAX_CHANGES + 1000] : [MAX_CHANGES - 1000, MAX_CHANGES + 1000]),
    overheadTargets: Number(value('overhead-targets') ?? (quick ? 10 : 50)),
    overheadFiles: Number(value('overhead-files') ?? 1000),
    switchTargets: list(value('switch-targets'), quick ? [10] : [100]),
    switchCli: value('switch-cli') === undefined ? undefined : path.resolve(value('switch-cli') ?? ''),
    farm: {
      files: Number(value('farm-files') ?? (quick ? 100 : 2000)),
      targets: list(value('farm-targets'), quick ? [3, 10] : [10, 100, 1000]),
      slotTargets: list(value('farm-slot-targets'), quick ? [10] : [100, 1000]),
      classicTargets: list(value('farm-classic'), quick ? [3] : [10, 100]),
      reps: Number(value('farm-reps') ?? (quick ? 1 : 3)),
      daemons: Number(value('farm-daemons') ?? (quick ? 3 : 25)),
      concurrency: Number(value('farm-concurrency') ?? 8),
      approaches: (value('farm-approaches') ?? 'direct,relays').split(',').filter((a): a is 'direct' | 'relays' => a === 'direct' || a === 'relays'),
    },
  };
}

