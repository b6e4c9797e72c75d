import type { Change } from '../base/git.js';
import type { RelPath } from '../base/paths.js';
import type { RsyncPass } from '../transport/rsync-pass.js';

/** What one target needs, decided from data alone: no I/O happens here. */
export type SyncPlan =
  | { kind: 'none' }
  /**
   * `checksum`: compare contents, not size and mtime; for a pass the operator asked for (repair).
   * `sweep`: also remove what an rsync cut short may have left (see RsyncPass).
   */
  | { kind: 'full'; why: string; checksum?: boolean; sweep: boolean }
  | {
      kind: 'paths';
      /** what exists in the source among the named paths and the directories above them: sent first */
      sends: RelPath[];
      /** the named paths gone from the source, and the directories gone with them */
      removals: RelPath[];
      /** for `removals`: the nearest directories above them that the source still has (see rsyncPasses) */
      prunes: RelPath[];
      changed: number;
      /** files and directories the removals take away, those inside a removed directory included: what maxDelete is checked against */
      deleted: number;
      /**
       * Named paths that are a file or link in the source with named paths below them: a directory
       * on the target that must become a file, which rsync can only do by deleting its contents.
       */
      replacedDirectories: RelPath[];
    };

export interface PlanInput {
  /**
   * Paths that changed since what the target last received completely, or undefined when that is
   * unknown (never deployed, state lost, its commit gone from the repo): then only a full pass is safe.
   */
  changes: readonly Change[] | undefined;
  /** Paths a failed or interrupted earlier attempt may have touched, or that watch sent. */
  extraPaths?: readonly string[];
  /** Forced full pass (`fanout sync --full`). */
  full?: boolean;
  /** for a forced full pass: compare contents (default), or only size and time (watch's start) */
  checksum?: boolean;
  /**
   * for a full pass: whether it removes leftovers of an rsync cut short (see RsyncPass); by
   * default yes, but for a large change to a tree known to be whole, which keeps --delay-updates
   */
  sweep?: boolean;
  why?: string;
  /**
   * Which of `candidatePaths(...)` are not directories in the source: missing, or a file or
   * symlink (the caller looks). A path below one of them is left out: the missing directory is
   * deleted whole, the file replaces the target's directory whole, and rsync, asked for the path
   * below, would fail on it (exit 24 for a vanished parent, 23 for "Not a directory").
   */
  notDirectories?: ReadonlySet<RelPath>;
  /** Which of `candidatePaths(...)` are missing from the source (a subset of `notDirectories`). */
  missing?: ReadonlySet<RelPath>;
}

export function planSync(input: PlanInput): SyncPlan {
  const sweep = input.sweep ?? true;
  if (input.full === true) return { kind: 'full', why: input.why ?? 'full sync requested', checksum: input.checksum ?? true, sweep };
  if (input.changes === undefined) return { kind: 'full', why: input.why ?? 'state unknown', sweep };
  const named = new Set<RelPath>();
  for (const change of input.changes) named.add(change.path);
  for (const extra of input.extraPaths ?? []) named.add(extra);
  if (named.size === 0) return { kind: 'none' };
  const notDirectories = input.notDirectories ?? new Set<RelPath>();
  const missing = input.missing ?? new Set<RelPath>();
  const candidates = withAncestors(named);
  const paths = candidates.filter((p) => !belowNonDirectory(p, notDirectories));
  const removals = paths.filter((p) => missing.has(p));
  // Directories above a removal exist but carry nothing new: alone they are no reason for a pass.
  const sendsSomething = paths.some((p) => named.has(p) && !missing.has(p));
  const sends = sendsSomething ? paths.filter((p) => !missing.has(p)) : [];
  const prunes = [...new Set(removals.map(parentOf).filter((dir) => !missing.has(dir)))].sort();
  const above = new Set<RelPath>();
  for (const p of named) for (let dir = parentOf(p); dir !== '.' && !above.has(dir); dir = parentOf(dir)) above.add(dir);
  const replacedDirectories = [...named].filter((p) => notDirectories.has(p) && !missing.has(p) && above.has(p)).sort();
  const changed = sends.filter((p) => named.has(p)).length;
  // a removed directory goes with everything in it: each file and directory counts, as for --max-delete
  const deleted = candidates.filter((p) => missing.has(p)).length;
  return { kind: 'paths', sends, removals, prunes, changed, deleted, replacedDirectories };
}

/**
 * The rsync runs of a paths plan, in order: first everything that arrives, then what goes away.
 * A target cut off between the two still has every page its new pages link to.
 *
 * Removals are not named to rsync one by one (--delete-missing-args): rsync sends its filter rules
 * to a remote receiver only in a --delete mode, and a missing name has no file type, so a
 * directory-only rule (`uploads/`) never matches it; both let a removal delete protected files.
 * Instead each directory that held a removal is compared whole (--dirs --delete, sending nothing):
 * rsync's ordinary --delete then removes what the source lacks there, with every protect and
 * exclude rule applied on the receiver, to names of known type.
 */
export function rsyncPasses(plan: Extract<SyncPlan, { kind: 'paths' }>): RsyncPass[] {
  const passes: RsyncPass[] = [];
  if (plan.sends.length > 0) passes.push({ kind: 'send', paths: plan.sends });
  if (plan.prunes.length > 0) passes.push({ kind: 'prune', directories: plan.prunes });
  return passes;
}

/**
 * How a pass is finished when an attempt at it failed after it may have written on the receiver
 * (rsync killed there, a connection cut mid-file): the receiver's temp files (`.name.XXXXXX`) and
 * `.~tmp~` directories stay under names no diff lists, and the retry that then succeeds would
 * leave them served. A full pass is retried as a sweep; a send is followed by a prune of every
 * directory it wrote into, which deletes what the source lacks there. A prune writes nothing, and
 * a links pass writes into a tree other passes own (see slots.ts): neither needs one.
 */
export function afterLeftovers(pass: RsyncPass): { retry: RsyncPass; then: RsyncPass | undefined } {
  if (pass.kind === 'full') return { retry: { ...pass, sweep: true }, then: undefined };
  if (pass.kind !== 'send') return { retry: pass, then: undefined };
  return { retry: pass, then: { kind: 'prune', directories: [...new Set(pass.paths.map(parentOf))].sort() } };
}

/** The directory above a path; '.' for the top. */
export function parentOf(p: RelPath): RelPath {
  const slash = p.lastIndexOf('/');
  return slash === -1 ? '.' : p.slice(0, slash);
}

/** Every path the plan may name, so the caller can say which of them are missing from the source. */
export function candidatePaths(changes: readonly Change[], extraPaths: readonly string[] = []): string[] {
  return withAncestors([...changes.map((c) => c.path), ...extraPaths]);
}

function belowNonDirectory(p: string, notDirectories: ReadonlySet<RelPath>): boolean {
  for (let slash = p.indexOf('/'); slash > 0; slash = p.indexOf('/', slash + 1)) {
    if (notDirectories.has(p.slice(0, slash))) return true;
  }
  return false;
}

/**
 * Every named path plus each directory above it. rsync is run with --delete-missing-args, so a
 * listed directory that is gone from the source is deleted on the target: git drops a directory
 * once its last file goes, and the target must too. A listed directory that still exists is sent
 * as a directory entry only (no recursion with --files-from), which also fixes its permissions.
 */
export function withAncestors(paths: Iterable<string>): string[] {
  const all = new Set<string>();
  for (const p of paths) {
    all.add(p);
    for (let slash = p.lastIndexOf('/'); slash > 0; slash = p.lastIndexOf('/', slash - 1)) {
      const dir = p.slice(0, slash);
      if (all.has(dir)) break;
      all.add(dir);
    }
  }
  return [...all].sort();
}
