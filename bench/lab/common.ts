/** What every benchmark scenario does the same way: time, run rsync, check the targets, drop caches. */
import fs from 'node:fs';
import { execa } from 'execa';
import type { Farm } from '../../harness/farm.js';
import type { Daemon } from '../../harness/rsyncd.js';
import { watchMatching } from './memory.js';

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** The classic script's transfer: rsync to one daemon, with the flags a sysadmin's script uses. */
export function rsyncTo(daemon: Daemon, source: string, extra: string[] = [], input?: string | Buffer) {
  return execa('rsync', ['-rlptgo', `--password-file=${daemon.passwordFile}`, ...extra, `${source}/`, daemon.dest], { input });
}

/** A push, failing loudly unless every target reported done: a failed deploy is not a fast one. */
export async function pushAll(farm: Farm, targets: number): Promise<void> {
  const push = await farm.push();
  if (!push.stderr.includes(`${targets}/${targets} targets`)) throw new Error(`push did not reach all ${targets} targets:\n${push.stderr}`);
}

/** The deploy itself, as the history records it: from the lock to the last target. */
export function lastDeployMs(farm: Farm): number {
  const last = farm.history().at(-1);
  if (last === undefined) throw new Error('no deploy in the history');
  return Date.parse(last.finishedAt) - Date.parse(last.startedAt);
}

/** DESIGN.md's oracle: a full itemized dry run from the source finds nothing to do. */
export async function assertEqual(source: string, dir: string): Promise<void> {
  const result = await execa('rsync', ['-rlpc', '--dry-run', '--delete', '--itemize-changes', '--exclude=.~tmp~', `${source}/`, `${dir}/`]);
  if (result.stdout.trim() !== '') throw new Error(`${dir} differs from ${source}:\n${result.stdout.slice(0, 2000)}`);
}

const DROP = '/proc/sys/vm/drop_caches';

/** Only root can drop the page cache, and not in every container: try once and remember. */
export async function canDropCaches(): Promise<boolean> {
  try {
    await dropCaches();
    return true;
  } catch {
    return false;
  }
}

/** Write dirty pages out first, or the drop leaves them cached and the trial is not cold. */
export async function dropCaches(): Promise<void> {
  await execa('sync');
  fs.writeFileSync(DROP, '3\n');
}

/** A push, with the peak memory of the hook's fanout process (started by git, found by its config path). */
export async function measuredPush(farm: Farm): Promise<{ ms: number; peakMb: number | undefined }> {
  const memory = watchMatching([farm.configFile, 'hook']);
  try {
    const ms = await timed(() => pushAll(farm, farm.daemons.length));
    return { ms, peakMb: memory.stop() };
  } catch (error) {
    memory.stop();
    throw error;
  }
}
