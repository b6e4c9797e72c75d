import type { Change } from './git.js';

/** What one target needs, decided from data alone: no I/O happens here. */
export type SyncPlan =
  | { kind: 'none' }
  /** `checksum`: compare contents, not size and mtime; for a pass the operator asked for (repair) */
  | { kind: 'full'; why: string; checksum?: boolean }
  | {
      kind: 'paths';
      /** what rsync is given: the named paths and every directory above them */
      paths: string[];
      /** the part of `paths` to send first: what exists in the source (empty when nothing does) */
      sends: string[];
      /** the part of `paths` gone from the source, deleted once every send has landed */
      removals: string[];
      changed: number;
      deleted: number;
      /** the named paths git deleted, for a dry run's report */
      deletions: string[];
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
  why?: string;
  /**
   * Which of `candidatePaths(...)` are not directories in the source: missing, or a file or
   * symlink (the caller looks). A path below one of them is left out: the missing directory is
   * deleted whole, the file replaces the target's directory whole, and rsync, asked for the path
   * below, would fail on it (exit 24 for a vanished parent, 23 for "Not a directory").
   */
  notDirectories?: ReadonlySet<string>;
  /** Which of `candidatePaths(...)` are missing from the source (a subset of `notDirectories`). */
  missing?: ReadonlySet<string>;
}

export function planSync(input: PlanInput): SyncPlan {
  if (input.full === true) return { kind: 'full', why: input.why ?? 'full sync requested', checksum: input.checksum ?? true };
  if (input.changes === undefined) return { kind: 'full', why: input.why ?? 'state unknown' };
  const named = new Set<string>();
  const deletions: string[] = [];
  for (const change of input.changes) {
    named.add(change.path);
    if (change.status === 'D') deletions.push(change.path);
  }
  const deleted = deletions.length;
  for (const extra of input.extraPaths ?? []) named.add(extra);
  if (named.size === 0) return { kind: 'none' };
  const notDirectories = input.notDirectories ?? new Set<string>();
  const missing = input.missing ?? new Set<string>();
  const paths = withAncestors(named).filter((p) => !belowNonDirectory(p, notDirectories));
  const removals = paths.filter((p) => missing.has(p));
  // Directories above a removal exist but carry nothing new: alone they are no reason for a pass.
  const sendsSomething = paths.some((p) => named.has(p) && !missing.has(p));
  const sends = sendsSomething ? paths.filter((p) => !missing.has(p)) : [];
  return { kind: 'paths', paths, sends, removals, changed: named.size - deleted, deleted, deletions: deletions.sort() };
}

/**
 * The file lists rsync runs with, in order: first everything that arrives, then what goes away. A
 * target cut off between the two still has every page its new pages link to; --delete-missing-args
 * alone would delete as it goes, long before --delay-updates puts the new files in place.
 */
export function rsyncPasses(plan: Extract<SyncPlan, { kind: 'paths' }>): string[][] {
  return [plan.sends, plan.removals].filter((list) => list.length > 0);
}

/** Every path the plan may name, so the caller can say which of them are missing from the source. */
export function candidatePaths(changes: readonly Change[], extraPaths: readonly string[] = []): string[] {
  return withAncestors([...changes.map((c) => c.path), ...extraPaths]);
}

function belowNonDirectory(p: string, notDirectories: ReadonlySet<string>): boolean {
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

/** The --files-from list for rsync --from0: NUL-terminated, so any byte but NUL is safe in a name. */
export function filesFromList(paths: readonly string[]): string {
  return paths.map((p) => `${p}\0`).join('');
}
