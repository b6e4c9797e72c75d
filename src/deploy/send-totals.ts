import fs from 'node:fs';
import type { Amount } from '../engine/progress.js';
import type { TargetPlan } from '../engine/target-plan.js';
import { onDisk, type RelPath } from '../base/paths.js';

const NOTHING: Amount = { files: 0, bytes: 0 };

/**
 * What each target's transfer sends at most, for its progress line: read in the source once it
 * holds the commit. A paths pass sends exactly the paths it names: their files and symlinks (a
 * directory carries no content), with the files' sizes, as rsync counts them. A full pass finds
 * what differs only as it runs, so its total is undefined, not guessed: the tree's size would be
 * a bound it seldom comes near. A target that only switches, or has nothing to send, sends nothing.
 * Each path is looked at once, however many targets name it.
 */
export function sendTotals(source: string, targets: readonly TargetPlan[]): Map<string, Amount | undefined> {
  const sizes = new Map<RelPath, number | undefined>();
  const sizeOf = (rel: RelPath): number | undefined => {
    if (!sizes.has(rel)) sizes.set(rel, contentSize(source, rel));
    return sizes.get(rel);
  };
  return new Map(targets.map((target) => [target.name, totalOf(target, sizeOf)]));
}

function totalOf({ sync, slots }: TargetPlan, sizeOf: (rel: RelPath) => number | undefined): Amount | undefined {
  if ((slots !== undefined && slots.stage === undefined) || sync.kind === 'none') return NOTHING;
  if (sync.kind === 'full') return undefined;
  let files = 0;
  let bytes = 0;
  for (const rel of sync.sends) {
    const size = sizeOf(rel);
    if (size === undefined) continue;
    files += 1;
    bytes += size;
  }
  return { files, bytes };
}

/** The bytes rsync counts for what is at `rel`: a file's size, none for a symlink; undefined for a directory, or nothing there. */
function contentSize(source: string, rel: RelPath): number | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(onDisk(source, rel));
  } catch {
    return undefined;
  }
  if (stat.isDirectory()) return undefined;
  return stat.isFile() ? stat.size : 0;
}
