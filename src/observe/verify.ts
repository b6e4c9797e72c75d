import fs from 'node:fs';
import path from 'node:path';
import pMap from 'p-map';
import type { Config, Target } from '../base/config.js';
import { takeLock } from '../deploy/deploy.js';
import type { Context } from '../engine/context.js';
import { slotNames } from '../deploy/deploy-plan.js';
import { destBelow } from '../base/dest.js';
import { checkout, foreignSymlink, throughSymlink } from '../base/checkout.js';
import type { Commit } from '../base/git.js';
import { itemPath } from '../transport/itemize.js';
import { Journal } from '../engine/journal.js';
import { runRsync } from '../transport/rsync.js';

export interface Drift {
  name: string;
  /** layout: slots: the slot compared (`current` for what the target serves) */
  slot?: string;
  status: 'same' | 'drift' | 'failed';
  /** paths that differ; a `*deleting` line means the target has a path the source lacks */
  items: string[];
  error?: string;
}

/** One comparison: a tree on a target against a local tree that holds what it should. */
interface Comparison {
  target: Target;
  slot: string | undefined;
  /** the local tree: the source, or a commit checked out for a slot that holds another one */
  against: string;
}

/**
 * Compare each target with the source the way invariant 1 is stated: a full
 * `rsync --dry-run --delete --itemize-changes --checksum --no-times` pass, with the deploy's own
 * filters, must report nothing. With slots, what `current` serves is compared (shared paths left
 * out); `allSlots` compares every slot with the commit the journal says it holds (checked out
 * into a scratch tree when that is not the source's). Nothing is changed. It waits for a deploy
 * in progress, so it never reports a transfer half-way as drift.
 */
export async function verify(ctx: Context, targets: readonly Target[], options: { allSlots?: boolean } = {}): Promise<Drift[]> {
  const { config } = ctx;
  const lock = await takeLock(ctx, 'verify');
  const scratch: string[] = [];
  try {
    const state = Journal.open(config.stateDir).state;
    // a symlink made by hand where git has a directory: every target would differ from the source, rightly
    const serving = state.current?.commit;
    const link = serving === undefined ? undefined : await foreignSymlink(config.repo, config.source, serving, 'all', ctx.log);
    if (link !== undefined) throw throughSymlink(link);
    const trees = new Map<Commit, string>();
    const treeOf = async (commit: Commit): Promise<string> => {
      if (commit === state.source.commit && state.source.attempted.length === 0) return config.source;
      let dir = trees.get(commit);
      if (dir === undefined) {
        dir = path.join(config.stateDir, `verify-${commit.slice(0, 12)}`);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { mode: 0o755 });
        scratch.push(dir);
        await checkout(config.repo, dir, commit, 'all', path.join(config.stateDir, 'verify.index'), ctx.log);
        trees.set(commit, dir);
      }
      return dir;
    };
    const comparisons: Comparison[] = [];
    for (const target of targets) {
      if (target.layout.kind === 'in-place') comparisons.push({ target, slot: undefined, against: config.source });
      else if (options.allSlots !== true) comparisons.push({ target, slot: 'current', against: config.source });
      else {
        for (const slot of slotNames(target.layout.count)) {
          const held = state.targets[target.name]?.slots?.[slot];
          if (held?.commit == null) continue;
          comparisons.push({ target, slot, against: await treeOf(held.commit) });
        }
      }
    }
    return await pMap(comparisons, (c) => compare(ctx, c), { concurrency: config.concurrency });
  } finally {
    for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
    lock.release();
  }
}

async function compare(ctx: Context, { target, slot, against }: Comparison): Promise<Drift> {
  const { config, log } = ctx;
  const where = slot === undefined ? target : { ...target, dest: destBelow(target.dest, slot === 'current' ? 'current' : `slots/${slot}`) };
  const result = await runRsync({
    config: { ...config, source: against } satisfies Config,
    target: where,
    // a sweep: --delay-updates would hide a `.~tmp~` directory a transfer cut short left there
    pass: { kind: 'full', sweep: true },
    dryRun: true,
    // Contents, not times: a target that skipped a deploy and its rollback holds the right
    // bytes with an older mtime, and invariant 1 is about paths, types, contents and modes.
    extra: ['--checksum', '--no-times'],
    staging: target.layout.kind === 'slots' ? { shared: target.layout.shared, seedFrom: undefined } : undefined,
    log,
    rsyncPath: config.rsync.path,
    keepItems: true,
  });
  const named = slot === undefined ? {} : { slot };
  if (!result.ok) return { name: target.name, ...named, status: 'failed', items: [], error: result.error ?? 'rsync failed' };
  const drift: Drift = { name: target.name, ...named, status: result.items.length === 0 ? 'same' : 'drift', items: result.items };
  log.info({ target: target.name, slot, status: drift.status, paths: drift.items.length }, 'verify');
  return drift;
}

export function driftPaths(drift: Drift): string[] {
  return drift.items.map(itemPath);
}
