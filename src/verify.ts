import pMap from 'p-map';
import type { Target } from './config.js';
import { takeLock, type Context } from './deploy.js';
import { itemPath } from './itemize.js';
import { runRsync } from './rsync.js';

export interface Drift {
  name: string;
  status: 'same' | 'drift' | 'failed';
  /** paths that differ; a `*deleting` line means the target has a path the source lacks */
  items: string[];
  error?: string;
}

/**
 * Compare each target with the source the way invariant 1 is stated: a full
 * `rsync --dry-run --delete --itemize-changes --checksum --no-times` pass, with the deploy's own
 * filters, must report nothing. Nothing is changed. It waits for a deploy in progress, so it never reports
 * a transfer half-way as drift.
 */
export async function verify(ctx: Context, targets: readonly Target[]): Promise<Drift[]> {
  const { config, log } = ctx;
  const lock = await takeLock(ctx, 'verify');
  try {
    return await pMap(
      targets,
      async (target): Promise<Drift> => {
        const result = await runRsync({
          config,
          target,
          pass: { kind: 'full' },
          dryRun: true,
          // Contents, not times: a target that skipped a deploy and its rollback holds the right
          // bytes with an older mtime, and invariant 1 is about paths, types, contents and modes.
          extra: ['--checksum', '--no-times'],
          log,
          rsyncPath: config.rsync.path,
          keepItems: true,
        });
        if (!result.ok) return { name: target.name, status: 'failed', items: [], error: result.error ?? 'rsync failed' };
        const drift: Drift = { name: target.name, status: result.items.length === 0 ? 'same' : 'drift', items: result.items };
        log.info({ target: target.name, status: drift.status, paths: drift.items.length }, 'verify');
        return drift;
      },
      { concurrency: config.concurrency },
    );
  } finally {
    lock.release();
  }
}

export function driftPaths(drift: Drift): string[] {
  return drift.items.map(itemPath);
}
