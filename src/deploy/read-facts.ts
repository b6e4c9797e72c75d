import fs from 'node:fs';
import { kindsFromTree, MAX_CHANGES, needsTreeScan, pathsToLookUp, reservedPathsToLookUp, sourceStep, treePathsToLookUp, treeToWrite, type DeployAsk, type DeployFacts, type Since } from './deploy-plan.js';
import { changedPaths, firstUnsafeName, isEmptyTree, treeEntryKinds, type Change, type Commit, type Diff, type EntryKind } from '../base/git.js';
import type { Holding, State } from '../engine/journal.js';
import type { Logger } from '../base/log.js';
import { onDisk, type RelPath } from '../base/paths.js';
import { sourceHolds } from '../engine/state.js';
import type { Context } from '../engine/context.js';

// Read, the first of a deploy's three steps: the facts its plan (deploy-plan.ts) is made from,
// gathered under the lock. Nothing is touched here.

/** Past this many incomplete checkouts the source is rewritten whole. */
const MAX_ATTEMPTED = 20;

/**
 * The facts a plan takes, read under the lock; nothing is touched. Every diff is checked for names
 * fanout refuses as it is read, and the whole tree when the source will be rewritten whole.
 */
export async function readFacts(ctx: Context, state: State, commit: Commit, targets: readonly string[], ask: DeployAsk): Promise<DeployFacts> {
  const { config, log } = ctx;
  const diffs = diffCache(config.repo, log);
  const sourceReady = sourceHolds(state, commit);
  const sourceSince = sourceReady ? undefined : await changesSince(diffs.read, state.source, commit);
  const now = Date.now();
  const targetSince = new Map<string, Since | undefined>();
  for (const name of targets) targetSince.set(name, await changesSince(diffs.read, treeToWrite(ask, { state, commit, now }, config, name), commit));
  let unsafeName = diffs.unsafeName();
  if (unsafeName === undefined && !sourceReady && needsTreeScan(sourceSince)) unsafeName = await firstUnsafeName(config.repo, commit, log);
  // a name git cannot be asked about (4,096 bytes, say) refuses the deploy: read nothing more
  if (unsafeName !== undefined) return { commit, state, targets, sourceSince, targetSince, unsafeName, emptyTree: false, treeKinds: new Map(), kinds: new Map(), now };
  const where = kindsFromTree(sourceReady ? undefined : sourceStep(state.source, sourceSince), pathsToLookUp(ask, { state, targets, targetSince, commit, now }, config));
  // three questions of git that do not wait on each other: asked at once
  const [emptyTree, treeKinds, kindsInTree] = await Promise.all([
    !sourceReady && isEmptyTree(config.repo, commit, log),
    treeEntryKinds(config.repo, commit, [...treePathsToLookUp({ sourceSince, targetSince }), ...reservedPathsToLookUp(config)], log),
    treeEntryKinds(config.repo, commit, where.tree, log),
  ]);
  const kinds = new Map([...kindsInTree, ...sourceKinds(config.source, where.source)]);
  return { commit, state, targets, sourceSince, targetSince, unsafeName, emptyTree, treeKinds, kinds, now };
}

/** `git diff` between two commits, asked once per deploy however many targets need it; undefined changes past MAX_CHANGES paths. */
type ReadDiff = (from: Commit, to: Commit) => Promise<Pick<Diff, 'changes' | 'attributes'>>;

/** Every diff read, each checked for names fanout refuses (invariant 8) as it is read; the first such name is kept for the plan. */
export function diffCache(repo: string, log: Logger): { read: ReadDiff; unsafeName: () => DeployFacts['unsafeName'] } {
  const cache = new Map<string, Promise<Pick<Diff, 'changes' | 'attributes'>>>();
  let unsafe: DeployFacts['unsafeName'];
  const read: ReadDiff = (from, to) => {
    if (from === to) return Promise.resolve({ changes: [], attributes: false });
    const key = `${from}..${to}`;
    let changes = cache.get(key);
    if (changes === undefined) {
      changes = changedPaths(repo, from, to, log, MAX_CHANGES).then((diff) => {
        unsafe ??= diff.refused;
        return { changes: diff.changes, attributes: diff.attributes };
      });
      cache.set(key, changes);
    }
    return changes;
  };
  return { read, unsafeName: () => unsafe };
}

/**
 * What differs between a tree's holding and `commit`: the diff from the commit it last received
 * completely, plus every path an incomplete later attempt may have touched. Undefined when that
 * cannot be known (nothing recorded, too many attempts, or a commit gone from the repository after
 * a force push and gc): then only rewriting everything is safe.
 */
export async function changesSince(diffs: ReadDiff, held: Holding | undefined, commit: Commit): Promise<Since | undefined> {
  if (held?.commit == null || held.attempted.length > MAX_ATTEMPTED) return undefined;
  const base = held.commit;
  const extra: Change[] = [];
  try {
    const { changes, attributes } = await diffs(base, commit);
    if (changes === undefined) return { kind: 'too many', attributes };
    for (const attempted of held.attempted) {
      const touched = await diffs(base, attempted);
      if (touched.changes === undefined) return { kind: 'too many', attributes };
      extra.push(...touched.changes);
    }
    return { kind: 'named', changes, extra };
  } catch {
    // git cannot diff from a commit it no longer has: fall back to rewriting everything
    return undefined;
  }
}

export function sourceKinds(source: string, paths: readonly RelPath[]): Map<RelPath, EntryKind> {
  const kinds = new Map<RelPath, EntryKind>();
  for (const p of paths) {
    try {
      kinds.set(p, fs.lstatSync(onDisk(source, p)).isDirectory() ? 'directory' : 'other');
    } catch {
      kinds.set(p, 'missing');
    }
  }
  return kinds;
}
